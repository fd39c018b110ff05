// Case folding of SQL words as PostgreSQL does it for keywords and unquoted identifiers: ASCII
// letters only, whatever the process locale (std::tolower would follow it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace staleguard::parser {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline std::string ascii_lowered(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

// Whether `text` is `lower_word` (written in lower case) in any ASCII case.
constexpr bool equals_ignoring_ascii_case(std::string_view text, std::string_view lower_word) {
    return text.size() == lower_word.size() &&
           std::equal(text.begin(), text.end(), lower_word.begin(), [](char a, char b) { return ascii_lower(a) == b; });
}

constexpr bool starts_with_ignoring_ascii_case(std::string_view text, std::string_view lower_word) {
    return text.size() >= lower_word.size() && equals_ignoring_ascii_case(text.substr(0, lower_word.size()), lower_word);
}

// Where `lower_needle` (written in lower case) first occurs in `haystack` at or after `from`, in
// any ASCII case; npos when it does not.
inline std::size_t find_ignoring_ascii_case(std::string_view haystack, std::string_view lower_needle,
                                            std::size_t from = 0) {
    if (lower_needle.empty() || from > haystack.size()) return std::string_view::npos;
    const auto found = std::search(haystack.begin() + static_cast<std::ptrdiff_t>(from), haystack.end(),
                                   lower_needle.begin(), lower_needle.end(),
                                   [](char a, char b) { return ascii_lower(a) == b; });
    return found == haystack.end() ? std::string_view::npos : static_cast<std::size_t>(found - haystack.begin());
}

}  // namespace staleguard::parser
