// Aligning the tokens of an original and a rewritten statement to carry error positions across.
#include "parser/position_map.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "parser/ascii_case.hpp"
#include "parser/pg_query_handle.hpp"

namespace staleguard::parser {

namespace {

// Beyond this the quadratic alignment is not worth its cost: the position is dropped instead.
constexpr std::size_t max_aligned_tokens = 1000;

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::optional<std::vector<Token>> tokens_of(std::string_view sql) {
    auto scanned = scan(sql);
    if (!scanned) return std::nullopt;
    std::vector<Token> tokens;
    for (const auto& token : scanned.value())
        if (token.kind != TokenKind::Comment) tokens.push_back(token);
    return tokens;
}

}  // namespace

std::size_t character_count(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation_byte(c); }));
}

std::optional<std::size_t> byte_offset_of_character(std::string_view text, std::size_t character_index) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (is_continuation_byte(text[i])) continue;
        if (seen++ == character_index) return i;
    }
    return std::nullopt;
}

std::optional<std::size_t> map_error_position(std::string_view original, std::string_view rewritten,
                                              std::size_t position) {
    if (position == 0) return std::nullopt;
    const auto error_byte = byte_offset_of_character(rewritten, position - 1);
    if (!error_byte) return std::nullopt;
    const auto from = tokens_of(original);
    const auto to = tokens_of(rewritten);
    if (!from || !to || from->size() > max_aligned_tokens || to->size() > max_aligned_tokens) return std::nullopt;

    // The token of `rewritten` that holds the error position.
    std::size_t target = to->size();
    for (std::size_t i = 0; i < to->size(); ++i) {
        if ((*to)[i].start <= *error_byte && *error_byte < std::max((*to)[i].end, (*to)[i].start + 1)) {
            target = i;
            break;
        }
    }
    if (target == to->size()) return std::nullopt;

    // Longest common subsequence of the token texts (case-folded: the deparser writes keywords
    // in capitals), then walk it back to find what `target` pairs with.
    auto text = [](std::string_view sql, const Token& token) { return ascii_lowered(sql.substr(token.start, token.end - token.start)); };
    std::vector<std::string> a, b;
    for (const auto& token : *from) a.push_back(text(original, token));
    for (const auto& token : *to) b.push_back(text(rewritten, token));
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    std::vector<std::vector<std::uint16_t>> common(n + 1, std::vector<std::uint16_t>(m + 1, 0));
    for (std::size_t i = n; i-- > 0;)
        for (std::size_t j = m; j-- > 0;)
            common[i][j] = a[i] == b[j] ? static_cast<std::uint16_t>(common[i + 1][j + 1] + 1)
                                        : std::max(common[i + 1][j], common[i][j + 1]);
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < n && j < m) {
        if (a[i] == b[j]) {
            if (j == target) {
                const std::size_t within = *error_byte - (*to)[j].start;
                const std::size_t byte = (*from)[i].start + std::min(within, (*from)[i].end - (*from)[i].start);
                return character_count(original.substr(0, byte)) + 1;
            }
            ++i;
            ++j;
        } else if (common[i + 1][j] >= common[i][j + 1]) {
            ++i;
        } else {
            if (j == target) return std::nullopt;  // a token staleguard added
            ++j;
        }
    }
    return std::nullopt;
}

}  // namespace staleguard::parser
