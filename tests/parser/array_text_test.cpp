// Tests for text_array_elements: arrays in PostgreSQL's text input form, as array_in reads them or refuses them.
#include "parser/array_text.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "parser/track_planner.hpp"

namespace staleguard::parser {
namespace {

using Elements = std::vector<std::string>;

struct TextArrayCase {
    const char* name;
    const char* input;
    std::optional<Elements> expected;  // nullopt: cannot be read
};

std::ostream& operator<<(std::ostream& out, const TextArrayCase& test_case) { return out << test_case.name; }

const std::vector<TextArrayCase> text_array_cases = {
    {"integers", "{1,2,3}", Elements{"1", "2", "3"}},
    {"one", "{42}", Elements{"42"}},
    {"empty", "{}", Elements{}},
    {"blanks_around_elements", "{ 1 , 2 }", Elements{"1", "2"}},
    {"negative_and_uuid", "{-7,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
     Elements{"-7", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
    {"quoted", R"({"1","2"})", Elements{"1", "2"}},
    {"quoted_with_comma_and_space", R"({"a b","c,d","{e}"})", Elements{"a b", "c,d", "{e}"}},
    {"quoted_with_escapes", R"({"a\"b","c\\d","\e"})", Elements{"a\"b", "c\\d", "e"}},
    {"quoted_empty", R"({""})", Elements{""}},
    {"quoted_null_is_a_string", R"({"NULL","1"})", Elements{"NULL", "1"}},
    {"quoted_blanks_kept", R"({" x "})", Elements{" x "}},
    {"unicode", R"({ünï,"日本 語"})", Elements{"ünï", "日本 語"}},
    // As PostgreSQL's array_in reads them (checked against PostgreSQL 15).
    {"unquoted_inner_blank_kept", "{a b,c}", Elements{"a b", "c"}},
    {"unquoted_backslash_escape", R"({a\,b})", Elements{"a,b"}},
    // NULL elements: keys that match no row; the list counts as unreadable.
    {"null_element", "{1,NULL}", std::nullopt},
    {"only_null", "{NULL}", std::nullopt},
    {"null_lower_case", "{1,null}", std::nullopt},
    {"null_mixed_case", "{NuLl,1}", std::nullopt},
    // More than one dimension is not a key list.
    {"nested", "{{1,2},{3,4}}", std::nullopt},
    {"nested_element", "{1,{2}}", std::nullopt},
    // PostgreSQL refuses these ("malformed array literal").
    {"empty_string", "", std::nullopt},
    {"no_braces", "1,2", std::nullopt},
    {"only_open", "{", std::nullopt},
    {"unclosed", "{1,2", std::nullopt},
    {"unterminated_quote", R"({"1})", std::nullopt},
    {"close_brace_only", "}", std::nullopt},
    {"empty_element", "{1,,2}", std::nullopt},
    {"only_comma", "{,}", std::nullopt},
    {"text_after_quote", R"({"a"b})", std::nullopt},
};

class TextArrayElements : public ::testing::TestWithParam<TextArrayCase> {};

TEST_P(TextArrayElements, Elements) {
    const TextArrayCase& test_case = GetParam();
    const std::string_view text = test_case.input;
    const std::vector<char> input(text.begin(), text.end());  // exact size, no terminator: ASan sees an over-read
    const auto elements = text_array_elements(std::string_view(input.data(), input.size()));
    ASSERT_EQ(elements.has_value(), test_case.expected.has_value())
        << (elements ? "read " + std::to_string(elements->size()) + " elements" : std::string("nullopt"));
    if (elements) {
        EXPECT_EQ(*elements, *test_case.expected);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, TextArrayElements, ::testing::ValuesIn(text_array_cases),
                         [](const ::testing::TestParamInfo<TextArrayCase>& info) {
                             return std::string(info.param.name);
                         });

// What the planner writes for a text-format parameter reads back as the same elements.
TEST(TextArrayElements, RoundTripsThePlannersValues) {
    const std::vector<Elements> lists = {
        {},
        {"1"},
        {"1", "-2", "30000000000"},
        {""},
        {"a\"b", "c\\d", "'", "a,b", "{x}", " spaced ", "NULL", "null", "ünïcödé"},
    };
    for (const Elements& list : lists) {
        const std::string value = text_array_value(list);
        const auto elements = text_array_elements(value);
        ASSERT_TRUE(elements.has_value()) << value;
        EXPECT_EQ(*elements, list) << value;
    }
}

}  // namespace
}  // namespace staleguard::parser
