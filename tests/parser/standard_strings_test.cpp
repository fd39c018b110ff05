// Tests for reads_differently_without_standard_strings: which strings PostgreSQL could read otherwise with standard_conforming_strings off.
#include "parser/standard_strings.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <vector>

namespace staleguard::parser {
namespace {

struct StandardStringsCase {
    const char* name;
    const char* sql;
    bool reads_differently;
};

std::ostream& operator<<(std::ostream& out, const StandardStringsCase& test_case) { return out << test_case.name; }

const std::vector<StandardStringsCase> cases = {
    {"no_backslash", "UPDATE acc SET owner = 'it''s' WHERE id = 1", false},
    // To the server one string, `q' or true --`; to the parser `'q\'`, OR, TRUE and a comment.
    {"escaped_quote_in_plain_literal", "UPDATE acc SET owner = 'x' WHERE owner <> 'q\\' or true --'", true},
    {"doubled_backslash_in_plain_literal", "UPDATE acc SET owner = 'C:\\\\temp' WHERE id = 2", true},
    {"national_literal", "SELECT N'a\\b'", true},
    {"after_an_escape_string", "SELECT e'x' || 'y\\'", true},
    {"does_not_scan", "SELECT 'unterminated\\", true},
    {"escape_string", "SELECT E'a\\'b', e'\\\\'", false},
    {"dollar_quoted", "SELECT $$a\\b$$, $tag$\\'$tag$", false},
    {"quoted_identifier", "SELECT \"we\\ird\" FROM acc", false},
    {"line_comment", "SELECT 1 -- a\\b", false},
    {"block_comment", "SELECT /* \\' */ 1", false},
    {"unicode_escape_string", "SELECT U&'d\\0061t'", false},
};

class StandardStrings : public ::testing::TestWithParam<StandardStringsCase> {};

TEST_P(StandardStrings, FindsPlainLiteralsHoldingABackslash) {
    EXPECT_EQ(reads_differently_without_standard_strings(GetParam().sql), GetParam().reads_differently);
}

INSTANTIATE_TEST_SUITE_P(Cases, StandardStrings, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<StandardStringsCase>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace staleguard::parser
