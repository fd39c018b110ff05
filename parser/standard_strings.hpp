// Whether a query string reads the same with standard_conforming_strings off as staleguard's parser reads it (always on).
#pragma once

#include <string_view>

namespace staleguard::parser {

// libpg_query reads every '...' literal as standard_conforming_strings = on has it: a backslash
// is an ordinary character. A session that turns the setting off makes PostgreSQL read backslash
// escapes there instead (`'q\' or true --'` is one string to it, a string and two more tokens
// to the parser), so a statement analysed and rewritten from the parser's reading could mean
// something else to the server. True when that can happen: some plain '...' literal, as the
// parser scans the string, holds a backslash (up to that literal both read the same tokens), or
// the string does not scan at all while holding one. E'...', dollar quotes, identifiers and
// comments read the same either way.
bool reads_differently_without_standard_strings(std::string_view sql);

}  // namespace staleguard::parser
