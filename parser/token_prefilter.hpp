// Decides from the scanner's tokens alone whether a query string needs a full parse at all.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "parser/protobuf_walk.hpp"

namespace staleguard::parser {

// Longer strings are always parsed. Analysis calls a statement nested deeper than max_tree_depth
// unsupported, which the rewriter may reject; a grammar rule nests at most a few nodes per token,
// so a string this short cannot come near that depth and skipping its parse hides nothing.
inline constexpr std::size_t max_prefiltered_tokens = max_tree_depth / 8;

struct TokenPrefilter {
    // False when the tokens prove that analysis would find nothing in the string: no write
    // (UPDATE, DELETE, INSERT, MERGE), no PREPARE, no opaque body (DO, CREATE), no setting it
    // follows (SET, RESET, DISCARD, set_config). True when it may, or when the scan failed.
    bool needs_parse = true;
    // The scan, when it succeeded and a parse is needed: the rewriter trims statements with it
    // instead of scanning again.
    std::optional<std::vector<Token>> tokens;
};

TokenPrefilter prefilter_tokens(std::string_view sql);

// Whether an identifier token spells `set_config`: bare in any case or double-quoted. Quoted
// spellings that analysis would not take for set_config count too, which costs a parse but hides
// nothing.
bool spells_set_config(std::string_view identifier);

}  // namespace staleguard::parser
