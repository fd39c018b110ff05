// Golden tests for literal templates: which literals become sentinels, and putting them back.
#include "parser/literal_template.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace staleguard::parser {
namespace {

using Kind = TemplateLiteral::Kind;

std::string quoted(std::size_t index) { return "'" + string_sentinel(index) + "'"; }
std::string integer(std::size_t index) { return integer_sentinel(index); }

struct TemplateCase {
    const char* name;
    std::string sql;
    std::optional<std::string> shape;  // nullopt: no template
    std::vector<TemplateLiteral> literals;
};

std::ostream& operator<<(std::ostream& out, const TemplateCase& test_case) { return out << test_case.name; }

const std::vector<TemplateCase> template_cases = {
    {"pgbench_select", "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
     "SELECT abalance FROM pgbench_accounts WHERE aid = " + integer(0) + ";", {{Kind::Integer, "12345", "12345"}}},
    {"pgbench_update_negative_delta",
     "UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 12345",
     "UPDATE pgbench_accounts SET abalance = abalance + -" + integer(0) + " WHERE aid = " + integer(1),
     {{Kind::Integer, "2345", "2345"}, {Kind::Integer, "12345", "12345"}}},
    {"binary_minus", "SELECT a - 5 FROM t WHERE id = 1",
     "SELECT a - " + integer(0) + " FROM t WHERE id = " + integer(1), {{Kind::Integer, "5", "5"}, {Kind::Integer, "1", "1"}}},
    {"leading_zeros_normalised", "DELETE FROM t WHERE id = 007", "DELETE FROM t WHERE id = " + integer(0),
     {{Kind::Integer, "007", "7"}}},
    {"strings_and_doubled_quotes", "UPDATE t SET name = 'it''s' WHERE code = 'a-1'",
     "UPDATE t SET name = " + quoted(0) + " WHERE code = " + quoted(1),
     {{Kind::String, "'it''s'", "it's"}, {Kind::String, "'a-1'", "a-1"}}},
    {"empty_string", "SELECT * FROM t WHERE name = ''", "SELECT * FROM t WHERE name = " + quoted(0),
     {{Kind::String, "''", ""}}},
    {"dollar_quoted", "SELECT * FROM t WHERE note = $q$a'b$q$", "SELECT * FROM t WHERE note = " + quoted(0),
     {{Kind::String, "$q$a'b$q$", "a'b"}}},
    {"escape_string_stays", "SELECT * FROM t WHERE name = E'a\\nb' AND id = 3",
     "SELECT * FROM t WHERE name = E'a\\nb' AND id = " + integer(0), {{Kind::Integer, "3", "3"}}},
    {"unicode_string_stays", "SELECT * FROM t WHERE name = U&'d\\0061t' AND id = 3",
     "SELECT * FROM t WHERE name = U&'d\\0061t' AND id = " + integer(0), {{Kind::Integer, "3", "3"}}},
    {"adjacent_strings_stay", "SELECT * FROM t WHERE name = 'a'\n'b' AND id = 3",
     "SELECT * FROM t WHERE name = 'a'\n'b' AND id = " + integer(0), {{Kind::Integer, "3", "3"}}},
    {"floats_and_big_integers_stay", "SELECT * FROM t WHERE x = 1.5 AND y = 9999999999 AND id = 2",
     "SELECT * FROM t WHERE x = 1.5 AND y = 9999999999 AND id = " + integer(0), {{Kind::Integer, "2", "2"}}},
    {"integer_before_dots_stays", "SELECT * FROM t WHERE x = 2.. AND id = 4",
     "SELECT * FROM t WHERE x = 2.. AND id = " + integer(0), {{Kind::Integer, "4", "4"}}},
    {"parameters_stay", "UPDATE t SET a = $1 WHERE id = 4", "UPDATE t SET a = $1 WHERE id = " + integer(0),
     {{Kind::Integer, "4", "4"}}},
    {"typed_literal", "SELECT * FROM t WHERE at > timestamptz '2024-01-01'",
     "SELECT * FROM t WHERE at > timestamptz " + quoted(0), {{Kind::String, "'2024-01-01'", "2024-01-01"}}},
    {"comments_kept_literals_in_them_ignored", "/* id = 1 */ SELECT * FROM t WHERE id = 2 -- and 'x'\n",
     "/* id = 1 */ SELECT * FROM t WHERE id = " + integer(0) + " -- and 'x'\n", {{Kind::Integer, "2", "2"}}},
    {"quoted_identifiers_untouched", "SELECT \"1\" FROM \"t'x\" WHERE id = 5",
     "SELECT \"1\" FROM \"t'x\" WHERE id = " + integer(0), {{Kind::Integer, "5", "5"}}},
    {"in_list", "DELETE FROM t WHERE id IN (1, 2, 1)",
     "DELETE FROM t WHERE id IN (" + integer(0) + ", " + integer(1) + ", " + integer(2) + ")",
     {{Kind::Integer, "1", "1"}, {Kind::Integer, "2", "2"}, {Kind::Integer, "1", "1"}}},
    {"insert_values", "INSERT INTO t (id, name) VALUES (1, 'x')",
     "INSERT INTO t (id, name) VALUES (" + integer(0) + ", " + quoted(1) + ")",
     {{Kind::Integer, "1", "1"}, {Kind::String, "'x'", "x"}}},
    {"with_statement", "WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT " + integer(0) + ") SELECT * FROM x",
     {{Kind::Integer, "1", "1"}}},
    {"lower_case_keywords", "select * from t where id = 9", "select * from t where id = " + integer(0),
     {{Kind::Integer, "9", "9"}}},
    // ---- no template ----
    {"no_literal", "SELECT * FROM t WHERE id = $1", std::nullopt, {}},
    {"two_statements", "SELECT 1; SELECT 2", std::nullopt, {}},
    {"set_statement", "SET search_path TO 'x'", std::nullopt, {}},
    {"prepare_statement", "PREPARE p AS UPDATE t SET a = 1 WHERE id = $1", std::nullopt, {}},
    {"do_block", "DO $$BEGIN UPDATE t SET a = 1; END$$", std::nullopt, {}},
    {"explain", "EXPLAIN SELECT * FROM t WHERE id = 1", std::nullopt, {}},
    {"set_config_call", "SELECT set_config('staleguard.enabled', 'off', false)", std::nullopt, {}},
    {"set_config_quoted", "SELECT \"set_config\"('x', 'y', false)", std::nullopt, {}},
    {"unicode_identifier", "SELECT U&\"d\\0061t\" FROM t WHERE id = 1", std::nullopt, {}},
    {"string_like_parameter", "UPDATE t SET a = 1 WHERE id = '$1'", std::nullopt, {}},
    {"holds_a_string_sentinel", "SELECT 'staleguard_literal_0' FROM t WHERE id = 1", std::nullopt, {}},
    {"holds_an_integer_sentinel", "SELECT * FROM t WHERE id = 2146000000", std::nullopt, {}},
    {"unterminated_string", "SELECT * FROM t WHERE name = 'x", std::nullopt, {}},
    {"empty", "", std::nullopt, {}},
    {"only_comment", "-- SELECT 1\n", std::nullopt, {}},
};

class LiteralTemplateTest : public ::testing::TestWithParam<TemplateCase> {};

TEST_P(LiteralTemplateTest, Shapes) {
    const TemplateCase& test_case = GetParam();
    const auto made = make_literal_template(test_case.sql);
    if (!test_case.shape) {
        EXPECT_FALSE(made.has_value()) << made->shape;
        return;
    }
    ASSERT_TRUE(made.has_value());
    EXPECT_EQ(made->shape, *test_case.shape);
    EXPECT_EQ(made->literals, test_case.literals);
    // The shape filled with its own literals is the string again.
    const auto filled = fill_sql(made->shape, made->literals);
    ASSERT_TRUE(filled.has_value());
    EXPECT_EQ(*filled, test_case.sql);
}

INSTANTIATE_TEST_SUITE_P(Cases, LiteralTemplateTest, ::testing::ValuesIn(template_cases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// Putting literals back into SQL that was made from a shape.

struct FillCase {
    const char* name;
    std::string planned;
    std::optional<std::string> filled;
};

std::ostream& operator<<(std::ostream& out, const FillCase& test_case) { return out << test_case.name; }

const std::vector<TemplateLiteral> fill_literals = {
    {Kind::Integer, "007", "7"}, {Kind::String, "'it''s'", "it's"}, {Kind::String, "$$x$$", "x"}};

const std::vector<FillCase> fill_cases = {
    {"deparsed_with_cast", "SELECT " + integer(0) + "::text, " + quoted(1) + "::date",
     "SELECT 007::text, 'it''s'::date"},
    {"repeated_sentinel", "UPDATE t SET a = " + integer(0) + " WHERE id = " + integer(0) + " RETURNING " + quoted(2),
     "UPDATE t SET a = 007 WHERE id = 007 RETURNING $$x$$"},
    {"array_elements", "ARRAY[" + integer(0) + "," + quoted(1) + "]", "ARRAY[007,'it''s']"},
    {"no_sentinel", "SELECT 1", "SELECT 1"},
    {"integer_sentinel_inside_a_word", "SELECT x" + integer(0), std::nullopt},
    {"integer_sentinel_in_a_longer_number", "SELECT 1" + integer(0), std::nullopt},
    {"integer_sentinel_as_decimal", "SELECT " + integer(0) + ".5", std::nullopt},
    {"string_sentinel_inside_a_longer_string", "SELECT 'a" + string_sentinel(1) + "'", std::nullopt},
    {"string_sentinel_unquoted", "SELECT " + string_sentinel(1), std::nullopt},
    {"sentinel_of_the_wrong_kind", "SELECT " + integer(1), std::nullopt},
    {"sentinel_past_the_literals", "SELECT " + integer(3), std::nullopt},
};

class FillSqlTest : public ::testing::TestWithParam<FillCase> {};

TEST_P(FillSqlTest, PutsLiteralsBack) {
    const FillCase& test_case = GetParam();
    EXPECT_EQ(fill_sql(test_case.planned, fill_literals), test_case.filled);
}

INSTANTIATE_TEST_SUITE_P(Cases, FillSqlTest, ::testing::ValuesIn(fill_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FillValueTest, SentinelValuesBecomeLiteralValues) {
    EXPECT_EQ(fill_value(integer(0), fill_literals), "7");
    EXPECT_EQ(fill_value(string_sentinel(1), fill_literals), "it's");
    EXPECT_EQ(fill_value("$2", fill_literals), "$2");
    EXPECT_EQ(fill_value("42", fill_literals), "42");
    EXPECT_EQ(fill_value(string_sentinel(0), fill_literals), std::nullopt);  // index 0 is an integer
    EXPECT_EQ(fill_value("x" + string_sentinel(1), fill_literals), std::nullopt);
    EXPECT_EQ(fill_value(integer(0) + "0", fill_literals), std::nullopt);
    EXPECT_EQ(fill_value("-" + integer(0), fill_literals), "-7");
    EXPECT_EQ(fill_value("-" + integer(0), {{Kind::Integer, "00", "0"}}), "0");
    EXPECT_EQ(fill_value("-" + string_sentinel(1), fill_literals), std::nullopt);
}

}  // namespace
}  // namespace staleguard::parser
