// Decides from the scanner's tokens alone whether a query string needs a full parse at all.
#include "parser/token_prefilter.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <string_view>

#include "parser/ascii_case.hpp"

namespace staleguard::parser {
namespace {

// The keywords that open every statement or clause statement analysis reacts to (see Analyser::visit):
// writes, PREPARE (the prepared name is reported), DO and CREATE FUNCTION/PROCEDURE/RULE (opaque
// bodies), SET/RESET (followed settings) and DISCARD (DISCARD ALL). EXECUTE, COPY, TRUNCATE,
// CALL and the like are absent on purpose: analysis finds nothing in them.
bool is_reacting_keyword(int number) {
    switch (number) {
        case PG_QUERY__TOKEN__UPDATE:
        case PG_QUERY__TOKEN__DELETE_P:
        case PG_QUERY__TOKEN__INSERT:
        case PG_QUERY__TOKEN__MERGE:
        case PG_QUERY__TOKEN__PREPARE:
        case PG_QUERY__TOKEN__DO:
        case PG_QUERY__TOKEN__CREATE:
        case PG_QUERY__TOKEN__SET:
        case PG_QUERY__TOKEN__RESET:
        case PG_QUERY__TOKEN__DISCARD:
            return true;
        default:
            return false;
    }
}

bool may_matter(const NumberedToken& token, std::string_view sql) {
    if (is_reacting_keyword(token.number)) return true;
    switch (token.number) {
        case PG_QUERY__TOKEN__UIDENT:
            return true;  // U&"..." may spell any name: not worth decoding
        case PG_QUERY__TOKEN__IDENT:
            return token.token.end <= sql.size() && token.token.start <= token.token.end &&
                   spells_set_config(sql.substr(token.token.start, token.token.end - token.token.start));
        default:
            return false;
    }
}

}  // namespace

bool spells_set_config(std::string_view text) {
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
    return equals_ignoring_ascii_case(text, "set_config");
}

TokenPrefilter prefilter_tokens(std::string_view sql) {
    TokenPrefilter result;
    auto scanned = scan_numbered(sql);
    // A string the scanner refuses goes to the parser, which decides as it always has.
    if (!scanned.ok()) return result;
    const std::vector<NumberedToken>& numbered = scanned.value();
    bool needs_parse = numbered.size() > max_prefiltered_tokens;
    for (std::size_t i = 0; i < numbered.size() && !needs_parse; ++i) needs_parse = may_matter(numbered[i], sql);
    result.needs_parse = needs_parse;
    if (!needs_parse) return result;
    std::vector<Token> tokens;
    tokens.reserve(numbered.size());
    for (const NumberedToken& token : numbered) tokens.push_back(token.token);
    result.tokens = std::move(tokens);
    return result;
}

}  // namespace staleguard::parser
