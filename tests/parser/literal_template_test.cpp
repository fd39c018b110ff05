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
    // Both halves agree: the scanner's always, the quick scanner's where it answers.
    EXPECT_EQ(scanned_literal_template(test_case.sql), made);
    if (const auto quick = quick_literal_template(test_case.sql)) {
        EXPECT_EQ(quick, made);
    }
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

// Which strings the quick scanner shapes itself (the everyday ones: pgbench, ORMs spelling values
// inline) and which it leaves to PostgreSQL's scanner. Either way the result must be the scanner's.
struct QuickCase {
    const char* name;
    std::string sql;
    bool quick;  // answered without the scanner
};

std::ostream& operator<<(std::ostream& out, const QuickCase& test_case) { return out << test_case.name; }

const std::vector<QuickCase> quick_cases = {
    {"pgbench_select", "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", true},
    {"pgbench_update", "UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 12345;", true},
    {"orm_update", "UPDATE \"shop_item\" SET \"name\" = 'it''s', \"qty\" = 3 WHERE \"shop_item\".\"id\" = 42", true},
    {"orm_select", "SELECT \"t\".\"id\", \"t\".\"v\" FROM \"public\".\"t\" WHERE \"t\".\"id\" IN (1, 2) LIMIT 21", true},
    {"insert_lower_case", "insert into t (id, name) values (007, '')", true},
    {"cast_and_array", "SELECT a::text, b[1] FROM t WHERE id >= 5 AND x <> 'y'", true},
    {"int4_max", "SELECT * FROM t WHERE id = 2147483647", true},
    {"int4_overflow_stays_as_written", "SELECT * FROM t WHERE id = 2147483648 AND k = 1", true},
    {"trailing_space_after_semicolon", "DELETE FROM t WHERE id = 1 ;  \n", true},
    {"multi_line_string", "UPDATE t SET note = 'a\nb' WHERE id = 1", true},
    // ---- left to the scanner ----
    {"decimal", "SELECT * FROM t WHERE x = 1.5 AND id = 2", false},
    {"dot_digits", "SELECT * FROM t WHERE x = .5 AND id = 2", false},
    {"exponent", "SELECT * FROM t WHERE x = 1e5 AND id = 2", false},
    {"integer_before_dots", "SELECT * FROM t WHERE x = 2.. AND id = 4", false},
    {"escape_string", "SELECT * FROM t WHERE name = E'a' AND id = 3", false},
    {"backslash_in_string", "SELECT * FROM t WHERE name = 'a\\b' AND id = 3", false},
    {"adjacent_strings", "SELECT * FROM t WHERE name = 'a'\n'b' AND id = 3", false},
    {"non_ascii_string", "UPDATE t SET name = 'Zo\xc3\xab' WHERE id = 1", false},
    {"line_comment", "SELECT * FROM t WHERE id = 2 -- note\n", false},
    {"block_comment", "/* c */ SELECT * FROM t WHERE id = 2", false},
    {"comment_after_operator", "SELECT * FROM t WHERE id =--\n2", false},
    {"parameter", "UPDATE t SET a = $1 WHERE id = 4", false},
    {"dollar_quote", "SELECT * FROM t WHERE note = $q$x$q$", false},
    {"concatenation", "SELECT a || 'x' FROM t WHERE id = 1", false},
    {"unicode_identifier", "SELECT U&\"d\" FROM t WHERE id = 1", false},
    {"empty_quoted_identifier", "SELECT \"\" FROM t WHERE id = 1", false},
    {"nul_in_string", std::string("SELECT * FROM t WHERE n = 'a\0b' AND id = 1", 43), false},
    {"second_statement", "SELECT 1; SELECT 2", false},
    {"not_a_shapeable_statement", "SET search_path TO 'x'", false},
    {"trailing_junk", "SELECT * FROM t WHERE id = 12abc", false},
    {"operator_too_long", "UPDATE " + std::string(70, '%') + "accounts SET balance = 1", false},
};

class QuickLiteralTemplateTest : public ::testing::TestWithParam<QuickCase> {};

TEST_P(QuickLiteralTemplateTest, AnswersLikeTheScannerOrNotAtAll) {
    const QuickCase& test_case = GetParam();
    const auto quick = quick_literal_template(test_case.sql);
    EXPECT_EQ(quick.has_value(), test_case.quick);
    if (quick) {
        EXPECT_EQ(quick, scanned_literal_template(test_case.sql));
    }
    EXPECT_EQ(make_literal_template(test_case.sql), scanned_literal_template(test_case.sql));
}

INSTANTIATE_TEST_SUITE_P(Cases, QuickLiteralTemplateTest, ::testing::ValuesIn(quick_cases),
                         [](const auto& info) { return std::string(info.param.name); });

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
    {"string_sentinel_with_leading_zero", "SELECT '" + std::string(string_sentinel(0)) + "1'", std::nullopt},
    {"string_sentinel_spelt_minus_zero", "SELECT 'staleguard_literal_-0'", std::nullopt},
    {"string_sentinel_spelt_plus_one", "SELECT 'staleguard_literal_+1'", std::nullopt},
    {"sentinels_between_long_plain_runs",
     "UPDATE accounts_with_a_long_name SET note = " + quoted(1) + " WHERE aid = " + integer(0) + " AND 2 = 2",
     "UPDATE accounts_with_a_long_name SET note = 'it''s' WHERE aid = 007 AND 2 = 2"},
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
