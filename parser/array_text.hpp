// PostgreSQL's text form of a one-dimensional array ('{1,"a b",NULL}'), read as array_in reads it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace staleguard::parser {

// The elements of a one-dimensional array in its text input form: elements separated by commas,
// double quotes around any element, backslash escaping the next character anywhere, blanks
// around an unquoted element dropped. nullopt for what array_in refuses, for more than one
// dimension, and for an unquoted NULL (any case): a null key matches no row, so a list holding
// one is no list of keys.
[[nodiscard]] std::optional<std::vector<std::string>> text_array_elements(std::string_view text);

}  // namespace staleguard::parser
