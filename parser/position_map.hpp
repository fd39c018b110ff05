// Error positions through a rewrite: where a position the server reports in the text staleguard
// sent falls in the text the client sent.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace staleguard::parser {

// PostgreSQL counts error positions in characters from 1. `position` is such a position in
// `rewritten`; the answer is the matching position in `original`, found by aligning the two
// token streams (a rewrite inserts and reformats tokens but keeps the client's ones in order).
// nullopt when the token at `position` is one staleguard added, or either text cannot be scanned.
std::optional<std::size_t> map_error_position(std::string_view original, std::string_view rewritten,
                                              std::size_t position);

// UTF-8 helpers for positions counted in characters.
std::size_t character_count(std::string_view text);
std::optional<std::size_t> byte_offset_of_character(std::string_view text, std::size_t character_index);

}  // namespace staleguard::parser
