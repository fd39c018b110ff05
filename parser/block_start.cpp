// Recognising the statement that opens a transaction block, from its text alone.
#include "parser/block_start.hpp"

#include <cctype>

#include "parser/ascii_case.hpp"

namespace staleguard::parser {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Characters that continue an identifier or keyword in PostgreSQL (bytes ≥ 0x80 included).
bool continues_word(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return std::isalnum(byte) || c == '_' || c == '$' || byte >= 0x80;
}

std::string_view skip_spaces(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && is_space(text[i])) ++i;
    return text.substr(i);
}

// Consumes `word` (given in lower case, matched in any case, as a whole word) from the front of
// `text`; false, with `text` untouched, when it is not there.
bool take_word(std::string_view& text, std::string_view word) {
    if (!starts_with_ignoring_ascii_case(text, word)) return false;
    if (text.size() > word.size() && continues_word(text[word.size()])) return false;
    text.remove_prefix(word.size());
    return true;
}

}  // namespace

bool opens_transaction_block(std::string_view sql) {
    std::string_view rest = skip_spaces(sql);
    if (take_word(rest, "begin")) return true;
    if (!take_word(rest, "start")) return false;
    rest = skip_spaces(rest);
    return take_word(rest, "transaction");
}

}  // namespace staleguard::parser
