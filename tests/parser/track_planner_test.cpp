// Golden tests for track mode's planner: statement splitting, text[] literals, the version predicate, and each statement's plan and its cache.
#include "parser/track_planner.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::rule_set;
using Kind = TrackedStatement::Kind;

// Rule sets the cases refer to.
constexpr const char* track = "public.accounts mode=track";
constexpr const char* composite = "public.order_lines mode=track key=order_id,line_no";
constexpr const char* xmin = "public.accounts mode=track kind=xmin";
constexpr const char* timestamp = "public.accounts mode=track kind=timestamp version=updated_at";
constexpr const char* delete_allow = "public.accounts mode=track delete=allow";
constexpr const char* client = "public.accounts mode=client";
constexpr const char* increment = "public.accounts mode=increment";
constexpr const char* track_and_client = "public.accounts mode=track; public.orders mode=client";

SchemaResolver resolver_to(const char* schema) {
    return [schema](std::string_view) -> std::optional<std::string> {
        if (schema == nullptr) return std::nullopt;
        return std::string(schema);
    };
}

// Whatever parses as exactly one statement.
::testing::AssertionResult parses_as_one_statement(const std::string& sql) {
    auto parsed = parse(sql);
    if (!parsed.ok()) return ::testing::AssertionFailure() << sql << "\n  does not parse: " << parsed.error().message;
    if (parsed.value().statement_count() != 1) {
        return ::testing::AssertionFailure() << sql << "\n  is " << parsed.value().statement_count() << " statements";
    }
    return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// split_statements

struct SplitCase {
    const char* name;
    std::string input;
    std::optional<std::vector<std::string>> expected;  // nullopt: the scanner refuses the string
};

std::ostream& operator<<(std::ostream& out, const SplitCase& test_case) { return out << test_case.name; }

using Statements = std::vector<std::string>;

const std::vector<SplitCase> split_cases = {
    {"one", "SELECT 1", Statements{"SELECT 1"}},
    {"two", "SELECT 1; SELECT 2", Statements{"SELECT 1", "SELECT 2"}},
    {"blanks_around", "  \n\tSELECT 1 ;\n  ", Statements{"SELECT 1"}},
    {"trailing_semicolon", "SELECT 1;", Statements{"SELECT 1"}},
    {"empty_statements", "SELECT 1;;SELECT 2;;", Statements{"SELECT 1", "SELECT 2"}},
    {"only_semicolons", ";; ;", Statements{}},
    {"empty_string", "", Statements{}},
    {"only_blanks", " \n\t ", Statements{}},
    {"only_comment", "-- nothing here", Statements{}},
    {"leading_and_trailing_comments", "-- lead\nSELECT 1; /* mid */ SELECT 2 -- trail",
     Statements{"SELECT 1", "SELECT 2"}},
    {"comment_before_semicolon", "SELECT 1 /* why */; SELECT 2", Statements{"SELECT 1", "SELECT 2"}},
    {"comment_inside_kept", "SELECT /* a ; b */ 1; SELECT 2 -- c ; d\n", Statements{"SELECT /* a ; b */ 1", "SELECT 2"}},
    {"line_comment_hides_semicolon", "SELECT 1 -- ; SELECT 2\n, 3", Statements{"SELECT 1 -- ; SELECT 2\n, 3"}},
    {"nested_block_comment", "/* a /* b */ ; */ SELECT 1", Statements{"SELECT 1"}},
    {"string_with_semicolon", "SELECT 'a;b'; SELECT 2", Statements{"SELECT 'a;b'", "SELECT 2"}},
    {"escape_string_with_quote", "SELECT E'it\\'s;'; SELECT 2", Statements{"SELECT E'it\\'s;'", "SELECT 2"}},
    {"doubled_quote", "SELECT 'it''s;'; SELECT 2", Statements{"SELECT 'it''s;'", "SELECT 2"}},
    {"dollar_quote", "SELECT $$a;b$$; SELECT 2", Statements{"SELECT $$a;b$$", "SELECT 2"}},
    {"tagged_dollar_quote", "SELECT $tag$ ; $$ ; $tag$; SELECT 2", Statements{"SELECT $tag$ ; $$ ; $tag$", "SELECT 2"}},
    {"function_body", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2 $$ LANGUAGE sql; SELECT f()",
     Statements{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2 $$ LANGUAGE sql", "SELECT f()"}},
    {"quoted_identifier", "SELECT \"semi;colon\" FROM t; SELECT 2", Statements{"SELECT \"semi;colon\" FROM t", "SELECT 2"}},
    {"unicode", "SELECT 'ünï;cödé' AS \"日本;語\"; SELECT 2", Statements{"SELECT 'ünï;cödé' AS \"日本;語\"", "SELECT 2"}},
    // PostgreSQL's grammar, not its scanner, ends a statement: the semicolons of a SQL-standard
    // function body are inside the CREATE FUNCTION (PostgreSQL 15 runs this string as 2 statements).
    {"begin_atomic_body", "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT f()",
     Statements{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT f()"}},
    {"unterminated_string", "SELECT 'abc; SELECT 2", std::nullopt},
    {"unterminated_dollar_quote", "SELECT $$abc; SELECT 2", std::nullopt},
    {"unterminated_quoted_identifier", "SELECT \"abc; SELECT 2", std::nullopt},
    {"unterminated_block_comment", "SELECT 1; /* abc", std::nullopt},
    {"nul_byte", std::string("SELECT 1;\0 SELECT 2", 19), std::nullopt},
};

class SplitStatementsGolden : public ::testing::TestWithParam<SplitCase> {};

TEST_P(SplitStatementsGolden, Splits) {
    const SplitCase& test_case = GetParam();
    const auto split = split_statements(test_case.input);
    ASSERT_EQ(split.has_value(), test_case.expected.has_value());
    if (!split) return;
    const std::vector<std::string> got(split->begin(), split->end());
    EXPECT_EQ(got, *test_case.expected);
    // Views into the caller's string, not copies.
    const std::string_view input = test_case.input;
    for (std::string_view statement : *split) {
        EXPECT_GE(statement.data(), input.data());
        EXPECT_LE(statement.data() + statement.size(), input.data() + input.size());
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, SplitStatementsGolden, ::testing::ValuesIn(split_cases),
                         [](const ::testing::TestParamInfo<SplitCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// copies_from_client

struct CopyCase {
    const char* name;
    const char* statement;
    bool copies_from_client;
};

const std::vector<CopyCase> copy_cases = {
    {"copy_from_stdin", "COPY accounts FROM STDIN", true},
    {"lower_case_with_columns_and_options", "copy public.accounts (id, owner) from stdin with (format csv)", true},
    {"leading_comment", "/* load */ -- the lot\nCOPY accounts FROM stdin", true},
    {"copy_to_stdout", "COPY accounts TO STDOUT", false},
    {"copy_query_to_stdout", "COPY (SELECT 'stdin' FROM accounts) TO STDOUT", false},
    {"copy_from_file", "COPY accounts FROM '/tmp/stdin'", false},
    {"quoted_table_named_stdin", "COPY \"stdin\" TO STDOUT", false},
    {"not_a_copy", "SELECT 1 AS stdin", false},
    {"does_not_scan", "COPY accounts FROM STDIN 'unterminated", false},
};

class CopiesFromClientGolden : public ::testing::TestWithParam<CopyCase> {};

TEST_P(CopiesFromClientGolden, Tells) {
    EXPECT_EQ(copies_from_client(GetParam().statement), GetParam().copies_from_client);
}

INSTANTIATE_TEST_SUITE_P(Golden, CopiesFromClientGolden, ::testing::ValuesIn(copy_cases),
                         [](const ::testing::TestParamInfo<CopyCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// text_array_value, and as SQL text through escaped_string_literal

// A text[] spelt in SQL: version_predicate() takes its arrays as parameters or as such literals.
std::string array_literal(const std::vector<std::string>& elements) {
    return escaped_string_literal(text_array_value(elements)) + "::pg_catalog.text[]";
}

struct ArrayCase {
    const char* name;
    std::vector<std::string> elements;
    const char* value;    // text input form
    const char* literal;  // SQL text
};

std::ostream& operator<<(std::ostream& out, const ArrayCase& test_case) { return out << test_case.name; }

const std::vector<ArrayCase> array_cases = {
    {"empty", {}, "{}", "E'{}'::pg_catalog.text[]"},
    {"integers", {"1", "2", "-3"}, R"({"1","2","-3"})", R"(E'{"1","2","-3"}'::pg_catalog.text[])"},
    {"empty_element", {""}, R"({""})", R"(E'{""}'::pg_catalog.text[])"},
    {"double_quote", {"a\"b"}, R"({"a\"b"})", R"(E'{"a\\"b"}'::pg_catalog.text[])"},
    {"backslash", {"c:\\dir\\"}, R"({"c:\\dir\\"})", R"(E'{"c:\\\\dir\\\\"}'::pg_catalog.text[])"},
    {"single_quote", {"it's"}, R"({"it's"})", R"(E'{"it''s"}'::pg_catalog.text[])"},
    {"all_three", {"'\"\\"}, R"({"'\"\\"})", R"(E'{"''\\"\\\\"}'::pg_catalog.text[])"},
    {"array_syntax_inside", {"a,b", "{x}", " spaced ", "NULL"}, R"({"a,b","{x}"," spaced ","NULL"})",
     R"(E'{"a,b","{x}"," spaced ","NULL"}'::pg_catalog.text[])"},
    {"unicode", {"ünïcödé", "日本語", "🙂"}, R"({"ünïcödé","日本語","🙂"})",
     R"(E'{"ünïcödé","日本語","🙂"}'::pg_catalog.text[])"},
    {"uuid", {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, R"({"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})",
     R"(E'{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}'::pg_catalog.text[])"},
};

class TextArrayGolden : public ::testing::TestWithParam<ArrayCase> {};

TEST_P(TextArrayGolden, ValueAndLiteral) {
    const ArrayCase& test_case = GetParam();
    EXPECT_EQ(text_array_value(test_case.elements), test_case.value);
    const std::string literal = array_literal(test_case.elements);
    EXPECT_EQ(literal, test_case.literal);
    EXPECT_TRUE(parses_as_one_statement("SELECT " + literal));
    // The literal must stay one token however the server treats backslashes in plain strings.
    EXPECT_TRUE(parses_as_one_statement("SELECT " + literal + " AS a, 1 AS b"));
}

INSTANTIATE_TEST_SUITE_P(Golden, TextArrayGolden, ::testing::ValuesIn(array_cases),
                         [](const ::testing::TestParamInfo<ArrayCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// encoded_key / version_predicate

struct EncodedKeyCase {
    const char* name;
    std::vector<std::string> values;
    const char* expected;
};

std::ostream& operator<<(std::ostream& out, const EncodedKeyCase& test_case) { return out << test_case.name; }

const std::vector<EncodedKeyCase> encoded_key_cases = {
    {"single_value_as_is", {"42"}, "42"},
    {"single_value_with_comma", {"1,2"}, "1,2"},
    {"composite", {"7", "12"}, "7,12"},
    {"composite_comma_in_value", {"a,b", "c"}, "a\\,b,c"},
    {"composite_backslash_in_value", {"a\\", "b"}, "a\\\\,b"},
    {"composite_empty_value", {"", "x"}, ",x"},
    {"composite_colon_in_value", {"a:b", "c"}, "a:b,c"},
    // Non-ASCII bytes pass as they are, in whatever encoding the client speaks.
    {"composite_unicode", {"ünï", "日本"}, "ünï,日本"},
    {"three_columns", {"1", "22", "333"}, "1,22,333"},
};

class EncodedKeyGolden : public ::testing::TestWithParam<EncodedKeyCase> {};

TEST_P(EncodedKeyGolden, Encodes) { EXPECT_EQ(encoded_key(GetParam().values), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Golden, EncodedKeyGolden, ::testing::ValuesIn(encoded_key_cases),
                         [](const ::testing::TestParamInfo<EncodedKeyCase>& info) {
                             return std::string(info.param.name);
                         });

TEST(EncodedKey, DistinctTuplesNeverCollide) {
    const std::vector<std::vector<std::string>> tuples = {
        {"1", "12"}, {"11", "2"}, {"1:1", "2"}, {"1", "1:2"}, {"", "112"}, {"112", ""}, {"2:", "1"}, {"ü", "ü"},
    };
    for (std::size_t i = 0; i < tuples.size(); ++i) {
        for (std::size_t j = i + 1; j < tuples.size(); ++j) {
            EXPECT_NE(encoded_key(tuples[i]), encoded_key(tuples[j])) << i << " vs " << j;
        }
    }
}

// A keyed write's slot is `AND (<predicate>)`: the predicate must parse as one expression there.
void expect_fits_the_slot(const std::string& predicate) {
    EXPECT_TRUE(parses_as_one_statement("SELECT 1 FROM t WHERE (" + predicate + ") AND 1 = 1")) << predicate;
    EXPECT_TRUE(parses_as_one_statement("UPDATE t SET x = 1 WHERE id = 1 AND (" + predicate + ") RETURNING 1"))
        << predicate;
}

struct PredicateCase {
    const char* name;
    const char* rules;
    const char* qualifier;
    std::string keys_array;
    std::string versions_array;
    const char* expected;
};

std::ostream& operator<<(std::ostream& out, const PredicateCase& test_case) { return out << test_case.name; }

const std::vector<PredicateCase> predicate_cases = {
    {"single_key_parameters", track, "accounts", "$3", "$4",
     "CASE WHEN (accounts.id::pg_catalog.text) = ANY ($3) THEN accounts.version::pg_catalog.text || ':' || "
     "(accounts.id::pg_catalog.text) = ANY ($4) ELSE true END"},
    {"single_key_literals", track, "a", array_literal({"1", "2"}), array_literal({"3:1", "7:2"}),
     "CASE WHEN (a.id::pg_catalog.text) = ANY (E'{\"1\",\"2\"}'::pg_catalog.text[]) THEN a.version::pg_catalog.text "
     "|| ':' || (a.id::pg_catalog.text) = ANY (E'{\"3:1\",\"7:2\"}'::pg_catalog.text[]) ELSE true END"},
    {"schema_qualified", track, "public.accounts", "$1", "$2",
     "CASE WHEN (public.accounts.id::pg_catalog.text) = ANY ($1) THEN public.accounts.version::pg_catalog.text || ':' "
     "|| (public.accounts.id::pg_catalog.text) = ANY ($2) ELSE true END"},
    // Commas join the values, backslashes escape commas and backslashes in them: ASCII only, the
    // same bytes in every encoding a client may use.
    {"composite_key", composite, "l", "$5", "$6",
     "CASE WHEN (pg_catalog.replace(pg_catalog.replace(l.order_id::pg_catalog.text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,') || ',' || "
     "pg_catalog.replace(pg_catalog.replace(l.line_no::pg_catalog.text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,')) = ANY ($5) THEN l.version::pg_catalog.text || ':' || "
     "(pg_catalog.replace(pg_catalog.replace(l.order_id::pg_catalog.text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,') || ',' || "
     "pg_catalog.replace(pg_catalog.replace(l.line_no::pg_catalog.text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,')) = ANY ($6) ELSE true END"},
    {"quoted_columns", "public.\"Accounts\" mode=track key=UserId version=\"RowVersion\"", "\"Accounts\"", "$1",
     "$2",
     "CASE WHEN (\"Accounts\".\"UserId\"::pg_catalog.text) = ANY ($1) THEN \"Accounts\".\"RowVersion\"::pg_catalog.text "
     "|| ':' || (\"Accounts\".\"UserId\"::pg_catalog.text) = ANY ($2) ELSE true END"},
    {"reserved_word_key", "public.accounts mode=track key=order", "accounts", "$1", "$2",
     "CASE WHEN (accounts.\"order\"::pg_catalog.text) = ANY ($1) THEN accounts.version::pg_catalog.text || ':' || "
     "(accounts.\"order\"::pg_catalog.text) = ANY ($2) ELSE true END"},
    {"xmin", xmin, "accounts", "$1", "$2",
     "CASE WHEN (accounts.id::pg_catalog.text) = ANY ($1) THEN accounts.xmin::pg_catalog.text || ':' || "
     "(accounts.id::pg_catalog.text) = ANY ($2) ELSE true END"},
};

class VersionPredicateGolden : public ::testing::TestWithParam<PredicateCase> {};

TEST_P(VersionPredicateGolden, Builds) {
    const PredicateCase& test_case = GetParam();
    const auto rules = rule_set(test_case.rules);
    ASSERT_EQ(rules->tables.size(), 1u);
    const std::string predicate =
        version_predicate(rules->tables.front(), test_case.qualifier, test_case.keys_array, test_case.versions_array);
    EXPECT_EQ(predicate, test_case.expected);
    expect_fits_the_slot(predicate);
}

INSTANTIATE_TEST_SUITE_P(Golden, VersionPredicateGolden, ::testing::ValuesIn(predicate_cases),
                         [](const ::testing::TestParamInfo<PredicateCase>& info) {
                             return std::string(info.param.name);
                         });

struct LiteralPredicateCase {
    const char* name;
    const char* rules;
    const char* qualifier;
    std::vector<SeenVersion> seen;
    const char* expected;
    bool one_key_tuple = false;  // the write names one key tuple (else several, as `id IN (1, 9)`)
};

std::ostream& operator<<(std::ostream& out, const LiteralPredicateCase& test_case) { return out << test_case.name; }

const std::vector<LiteralPredicateCase> literal_predicate_cases = {
    {"no_row_seen", track, "accounts", {}, "true"},
    {"one_row", track, "accounts", {{"1", "3"}},
     "CASE accounts.id::pg_catalog.text WHEN E'1' THEN accounts.version::pg_catalog.text = E'3' ELSE true END"},
    {"two_rows_in_order", track, "a", {{"1", "3"}, {"2", "7"}},
     "CASE a.id::pg_catalog.text WHEN E'1' THEN a.version::pg_catalog.text = E'3' WHEN E'2' THEN "
     "a.version::pg_catalog.text = E'7' ELSE true END"},
    // Quotes and backslashes doubled: one token whatever standard_conforming_strings says.
    {"quote_and_backslash_in_key", track, "accounts", {{"it's", "1"}, {"C:\\dir", "2"}},
     "CASE accounts.id::pg_catalog.text WHEN E'it''s' THEN accounts.version::pg_catalog.text = E'1' WHEN "
     "E'C:\\\\dir' THEN accounts.version::pg_catalog.text = E'2' ELSE true END"},
    {"timestamp_version", track, "accounts", {{"5", "2026-11-27 03:41:41.197314+00"}},
     "CASE accounts.id::pg_catalog.text WHEN E'5' THEN accounts.version::pg_catalog.text = "
     "E'2026-11-27 03:41:41.197314+00' ELSE true END"},
    {"schema_qualified", track, "public.accounts", {{"9", "1"}},
     "CASE public.accounts.id::pg_catalog.text WHEN E'9' THEN public.accounts.version::pg_catalog.text = E'1' "
     "ELSE true END"},
    {"composite_key", composite, "l", {{encoded_key({"7", "12"}), "4"}},
     "CASE pg_catalog.replace(pg_catalog.replace(l.order_id::pg_catalog.text, E'\\\\', E'\\\\\\\\'), ',', "
     "E'\\\\,') || ',' || pg_catalog.replace(pg_catalog.replace(l.line_no::pg_catalog.text, E'\\\\', "
     "E'\\\\\\\\'), ',', E'\\\\,') WHEN E'7,12' THEN l.version::pg_catalog.text = E'4' ELSE true END"},
    {"quoted_columns", "public.\"Accounts\" mode=track key=UserId version=\"RowVersion\"", "\"Accounts\"", {{"u1", "2"}},
     "CASE \"Accounts\".\"UserId\"::pg_catalog.text WHEN E'u1' THEN \"Accounts\".\"RowVersion\"::pg_catalog.text = "
     "E'2' ELSE true END"},
    // Beyond 8 rows: hashed `= ANY` over the keys, then over length-prefixed (key, version) pairs.
    {"nine_rows", track, "a",
     {{"1", "3"}, {"2", "3"}, {"3", "3"}, {"4", "3"}, {"5", "3"}, {"6", "3"}, {"7", "3"}, {"8", "3"}, {"10", "it's"}},
     "CASE WHEN (a.id::pg_catalog.text) = ANY (E'{\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"10\"}'"
     "::pg_catalog.text[]) THEN a.version::pg_catalog.text || ':' || (a.id::pg_catalog.text) = ANY (E'{\"3:1\","
     "\"3:2\",\"3:3\",\"3:4\",\"3:5\",\"3:6\",\"3:7\",\"3:8\",\"it''s:10\"}'::pg_catalog.text[]) ELSE true END"},
    {"xmin", xmin, "accounts", {{"1", "744"}},
     "CASE accounts.id::pg_catalog.text WHEN E'1' THEN accounts.xmin::pg_catalog.text = E'744' ELSE true END"},
    // A timestamp as seconds since 1970, which the session's TimeZone and DateStyle do not change.
    {"timestamp_kind", timestamp, "a", {{"1", "1764231925.337295"}, {"2", "1764231925.400000"}},
     "CASE a.id::pg_catalog.text WHEN E'1' THEN pg_catalog.extract('epoch', a.updated_at)::pg_catalog.text = "
     "E'1764231925.337295' WHEN E'2' THEN pg_catalog.extract('epoch', a.updated_at)::pg_catalog.text = "
     "E'1764231925.400000' ELSE true END"},
    // One key tuple (`WHERE id = 1`): no other row can match, so the version alone is compared.
    {"one_key_tuple", track, "accounts", {{"1", "3"}}, "accounts.version::pg_catalog.text = E'3'", true},
    {"one_key_tuple_unseen", track, "accounts", {}, "true", true},
    {"one_key_tuple_quoted", "public.\"Accounts\" mode=track key=UserId version=\"RowVersion\"", "a",
     {{"u1", "it's"}}, "a.\"RowVersion\"::pg_catalog.text = E'it''s'", true},
    {"one_key_tuple_composite", composite, "l", {{encoded_key({"7", "12"}), "4"}},
     "l.version::pg_catalog.text = E'4'", true},
    {"one_key_tuple_timestamp", track, "public.accounts", {{"5", "2026-11-27 03:41:41.197314+00"}},
     "public.accounts.version::pg_catalog.text = E'2026-11-27 03:41:41.197314+00'", true},
    {"one_key_tuple_xmin", xmin, "accounts", {{"1", "744"}}, "accounts.xmin::pg_catalog.text = E'744'", true},
};

class LiteralVersionPredicateGolden : public ::testing::TestWithParam<LiteralPredicateCase> {};

TEST_P(LiteralVersionPredicateGolden, Builds) {
    const LiteralPredicateCase& test_case = GetParam();
    const auto rules = rule_set(test_case.rules);
    ASSERT_EQ(rules->tables.size(), 1u);
    const std::string predicate =
        literal_version_predicate(rules->tables.front(), test_case.qualifier, test_case.seen, test_case.one_key_tuple);
    EXPECT_EQ(predicate, test_case.expected);
    expect_fits_the_slot(predicate);
}

INSTANTIATE_TEST_SUITE_P(Golden, LiteralVersionPredicateGolden, ::testing::ValuesIn(literal_predicate_cases),
                         [](const ::testing::TestParamInfo<LiteralPredicateCase>& info) {
                             return std::string(info.param.name);
                         });

TEST(DisplayedVersion, ShowsTimestampSecondsAsAUtcTimestamp) {
    const auto rules = rule_set(timestamp);
    const rules::TableRule& rule = rules->tables.front();
    EXPECT_EQ(displayed_version(rule, "1764231925.337295"), "2025-11-27 08:25:25.337295+00");
    EXPECT_EQ(displayed_version(rule, "0.000000"), "1970-01-01 00:00:00.000000+00");
    EXPECT_EQ(displayed_version(rule, "-1.500000"), "1969-12-31 23:59:58.500000+00");
    EXPECT_EQ(displayed_version(rule, "-86400.000001"), "1969-12-30 23:59:59.999999+00");
    EXPECT_EQ(displayed_version(rule, "12.5"), "12.5") << "not six decimals: shown as it is";
    EXPECT_EQ(displayed_version(rule, "951782400.000000"), "2000-02-29 00:00:00.000000+00");
    EXPECT_EQ(displayed_version(rule, "Infinity"), "Infinity");
    EXPECT_EQ(displayed_version(*rule_set(track)->tables.data(), "1764231925.337295"), "1764231925.337295");
}

TEST(EscapedStringLiteral, DoublesQuotesAndBackslashes) {
    EXPECT_EQ(escaped_string_literal(""), "E''");
    EXPECT_EQ(escaped_string_literal("plain"), "E'plain'");
    EXPECT_EQ(escaped_string_literal("it's"), "E'it''s'");
    EXPECT_EQ(escaped_string_literal("a\\'b"), "E'a\\\\''b'");
    EXPECT_EQ(escaped_string_literal("日本"), "E'日本'");
}

// ---------------------------------------------------------------------------------------------
// TrackPlanner::plan

struct PlanCase {
    const char* name;
    const char* rules;
    const char* input;
    Kind kind;
    // Read, UnkeyedWrite: tracking.sql; KeyedWrite: sql_before_slot + "<slot>" + sql_after_slot;
    // Untracked: the reason.
    const char* expected;
    int highest_parameter = 0;
    bool client_sees_rows = true;  // all but Untracked
    const char* qualifier = "accounts";  // KeyedWrite
};

std::ostream& operator<<(std::ostream& out, const PlanCase& test_case) { return out << test_case.name; }

constexpr const char* not_keyed_by_id = "write not keyed: key column id is not constrained by = or IN or = ANY";

const std::vector<PlanCase> plan_cases = {
    // ---- reads ----
    {"select_star", track, "SELECT * FROM accounts WHERE id = 1", Kind::Read,
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = 1"},
    {"select_parameter", track, "select balance from accounts where id = $1", Kind::Read,
     "SELECT balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = $1",
     1},
    {"select_twelfth_parameter", composite, "SELECT qty FROM order_lines l WHERE l.order_id = $12 AND l.line_no = $3",
     Kind::Read,
     "SELECT qty, l.order_id::text AS staleguard_hidden_1, l.line_no::text AS staleguard_hidden_2, l.version::text "
     "AS staleguard_hidden_3 FROM order_lines l WHERE l.order_id = $12 AND l.line_no = $3",
     12},
    {"select_dollar_in_string", track, "SELECT * FROM accounts WHERE note = '$5'", Kind::Read,
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE note = '$5'"},
    {"select_beside_client_table", track_and_client, "SELECT * FROM accounts a JOIN orders o ON o.account_id = a.id",
     Kind::Read,
     "SELECT *, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a JOIN "
     "orders o ON o.account_id = a.id"},
    {"select_aggregate", track, "SELECT count(*) FROM accounts WHERE id = $2", Kind::Untracked, "aggregate", 2},
    {"select_distinct", track, "SELECT DISTINCT balance FROM accounts", Kind::Untracked, "DISTINCT"},
    {"select_union", track, "SELECT id FROM accounts UNION SELECT id FROM accounts", Kind::Untracked,
     "set operation (UNION/INTERSECT/EXCEPT)"},
    {"select_group_by", track, "SELECT owner FROM accounts GROUP BY owner", Kind::Untracked, "GROUP BY"},
    {"select_unprotected", track, "SELECT * FROM users", Kind::Untracked, "no protected table"},
    {"select_constant", track, "SELECT $1::int", Kind::Untracked, "no protected table", 1},

    // ---- keyed writes: a hidden RETURNING and a slot ----
    {"update_keyed", track, "UPDATE accounts SET balance = 1 WHERE id = 1", Kind::KeyedWrite,
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>) RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"update_keyed_parameters", track, "UPDATE accounts SET balance = $1 WHERE id = $2", Kind::KeyedWrite,
     "UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = $2 AND (<slot>) RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2, false},
    // As the rewriter leaves it: its bump is already there and is not made twice.
    {"update_keyed_already_bumped", track, "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1",
     Kind::KeyedWrite,
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>) RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"update_keyed_client_returning", track, "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING balance",
     Kind::KeyedWrite,
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>) RETURNING balance, "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     0, true},
    {"update_keyed_any_array", track, "UPDATE accounts SET balance = 0 WHERE id = ANY($1)", Kind::KeyedWrite,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = ANY($1) AND (<slot>) RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     1, false},
    {"update_keyed_alias", track, "UPDATE accounts a SET balance = 1 WHERE a.id = 7", Kind::KeyedWrite,
     "UPDATE accounts a SET balance = 1, version = a.version + 1 WHERE a.id = 7 AND (<slot>) RETURNING a.id::text AS "
     "staleguard_hidden_1, a.version::text AS staleguard_hidden_2",
     0, false, "a"},
    {"update_keyed_composite", composite, "UPDATE order_lines SET qty = 2 WHERE order_id = 1 AND line_no = $1",
     Kind::KeyedWrite,
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE order_id = 1 AND line_no = $1 AND "
     "(<slot>) RETURNING order_lines.order_id::text AS staleguard_hidden_1, order_lines.line_no::text AS "
     "staleguard_hidden_2, order_lines.version::text AS staleguard_hidden_3",
     1, false, "order_lines"},
    {"update_keyed_under_reading_with", track, "WITH t AS (SELECT 1) UPDATE accounts SET balance = 0 WHERE id = 1",
     Kind::KeyedWrite,
     "WITH t AS (SELECT 1) UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND (<slot>) "
     "RETURNING accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"update_keyed_xmin", xmin, "UPDATE accounts SET balance = 1 WHERE id = 1", Kind::KeyedWrite,
     "UPDATE accounts SET balance = 1 WHERE id = 1 AND (<slot>) RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.xmin::text AS staleguard_hidden_2",
     0, false},
    {"delete_keyed", track, "DELETE FROM accounts WHERE id = 1", Kind::KeyedWrite,
     "DELETE FROM accounts WHERE id = 1 AND (<slot>) RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"delete_keyed_client_returning", track, "DELETE FROM accounts WHERE id IN ($1, $2) RETURNING *", Kind::KeyedWrite,
     "DELETE FROM accounts WHERE id IN ($1, $2) AND (<slot>) RETURNING *, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     2, true},

    // ---- writes not checked: their hidden RETURNING shows the session what it wrote ----
    {"update_not_keyed", track, "UPDATE accounts SET balance = 0 WHERE balance > 0", Kind::UnkeyedWrite,
     "UPDATE accounts SET balance = 0 WHERE balance > 0 RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"update_no_where", track, "UPDATE accounts SET balance = $1", Kind::UnkeyedWrite,
     "UPDATE accounts SET balance = $1 RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     1, false},
    {"update_not_keyed_returning", track, "UPDATE accounts SET balance = 0 WHERE balance > $1 RETURNING id",
     Kind::UnkeyedWrite,
     "UPDATE accounts SET balance = 0 WHERE balance > $1 RETURNING id, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     1},
    {"update_from_join", track, "UPDATE accounts a SET balance = s.balance FROM staging s WHERE a.id = s.id",
     Kind::UnkeyedWrite,
     "UPDATE accounts a SET balance = s.balance FROM staging s WHERE a.id = s.id RETURNING a.id::text AS "
     "staleguard_hidden_1, a.version::text AS staleguard_hidden_2",
     0, false},
    {"update_with_writing_clause", track,
     "WITH t AS (DELETE FROM ledger RETURNING 1) UPDATE accounts SET balance = 0 WHERE id = 1", Kind::UnkeyedWrite,
     "WITH t AS (DELETE FROM ledger RETURNING 1) UPDATE accounts SET balance = 0 WHERE id = 1 RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"delete_not_keyed", track, "DELETE FROM accounts WHERE balance = 0", Kind::UnkeyedWrite,
     "DELETE FROM accounts WHERE balance = 0 RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"delete_not_keyed_returning", track, "DELETE FROM accounts WHERE balance = 0 RETURNING id", Kind::UnkeyedWrite,
     "DELETE FROM accounts WHERE balance = 0 RETURNING id, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2"},
    {"delete_allowed", delete_allow, "DELETE FROM accounts WHERE id = 1", Kind::UnkeyedWrite,
     "DELETE FROM accounts WHERE id = 1 RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     0, false},
    {"update_unprotected", track, "UPDATE users SET name = 'x' WHERE id = 1", Kind::Untracked, "no protected table"},

    // ---- inserts ----
    {"insert_returning", track, "INSERT INTO accounts (id, balance) VALUES ($1, $2) RETURNING *", Kind::UnkeyedWrite,
     "INSERT INTO accounts (id, balance) VALUES ($1, $2) RETURNING *, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     2},
    // A RETURNING would need the SELECT privilege, which an INSERT alone does not.
    {"insert_values", track, "INSERT INTO accounts (id) VALUES (1), (2)", Kind::Untracked, "no RETURNING"},
    {"upsert_alias", track,
     "INSERT INTO accounts AS a (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET balance = a.balance + 1",
     Kind::UnkeyedWrite,
     "INSERT INTO accounts AS a (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET balance = a.balance + 1 RETURNING "
     "a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2",
     1, false},
    {"upsert_from_select", track,
     "INSERT INTO accounts (id, balance) SELECT id, balance FROM staging ON CONFLICT (id) DO UPDATE SET balance = "
     "excluded.balance",
     Kind::UnkeyedWrite,
     "INSERT INTO accounts (id, balance) SELECT id, balance FROM staging ON CONFLICT (id) DO UPDATE SET balance = "
     "excluded.balance RETURNING accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
     "staleguard_hidden_2",
     0, false},
    {"insert_select_returning", track, "INSERT INTO accounts SELECT * FROM staging RETURNING id", Kind::UnkeyedWrite,
     "INSERT INTO accounts SELECT * FROM staging RETURNING id, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2"},
    {"insert_select", track, "INSERT INTO accounts SELECT * FROM staging", Kind::Untracked, "no RETURNING"},
    {"upsert_do_nothing_select", track, "INSERT INTO accounts SELECT * FROM staging ON CONFLICT DO NOTHING",
     Kind::Untracked, "no RETURNING"},

    // ---- other modes ----
    {"client_mode_select", client, "SELECT * FROM accounts WHERE id = 1", Kind::Untracked, "no protected table"},
    {"client_mode_keyed_update", client, "UPDATE accounts SET balance = 1 WHERE id = 1", Kind::Untracked,
     "no protected table"},
    {"client_mode_update_returning", client, "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING *",
     Kind::Untracked, "no protected table"},
    {"increment_mode_select", increment, "SELECT * FROM accounts", Kind::Untracked, "no protected table"},
    {"increment_mode_keyed_delete", increment, "DELETE FROM accounts WHERE id = $1", Kind::Untracked,
     "DELETE: its rows are gone", 1},

    // ---- not one plannable statement ----
    {"two_statements", track, "SELECT * FROM accounts; SELECT 1", Kind::Untracked, "more than one statement"},
    {"empty", track, " ", Kind::Untracked, "empty statement"},
};

class TrackPlannerGolden : public ::testing::TestWithParam<PlanCase> {};

TEST_P(TrackPlannerGolden, Plans) {
    const PlanCase& test_case = GetParam();
    const TrackPlanner planner(rule_set(test_case.rules));
    const auto planned = planner.plan(test_case.input, resolver_to("public"));
    ASSERT_NE(planned, nullptr);
    const TrackedStatement& plan = *planned;
    ASSERT_EQ(plan.kind, test_case.kind) << "reason: " << plan.reason;
    EXPECT_EQ(plan.highest_parameter, test_case.highest_parameter);
    // A RETURNING that is all staleguard's is named exactly, so that the session can leave it off
    // (a checked counter write): what is left must still be the statement.
    const std::string& added = plan.tracking.added_returning;
    if (plan.kind == Kind::Read || plan.kind == Kind::Untracked || test_case.client_sees_rows) {
        EXPECT_EQ(added, "");
    } else {
        EXPECT_TRUE(added.starts_with(" RETURNING ")) << added;
        EXPECT_TRUE(plan.tracking.sql.ends_with(added));
        EXPECT_TRUE(parses_as_one_statement(plan.tracking.sql.substr(0, plan.tracking.sql.size() - added.size())));
        if (plan.kind == Kind::KeyedWrite) {
            EXPECT_TRUE(plan.keyed.sql_after_slot.ends_with(added));
        }
    }
    switch (plan.kind) {
        case Kind::Untracked:
            EXPECT_EQ(plan.reason, test_case.expected);
            EXPECT_EQ(plan.tracking.outcome, ReadTracking::Outcome::NotTracked);
            EXPECT_EQ(plan.keyed.outcome, KeyedWrite::Outcome::NotKeyed);
            break;
        case Kind::UnkeyedWrite:
            EXPECT_TRUE(plan.reason.starts_with("write not checked: ")) << plan.reason;
            EXPECT_EQ(plan.tracking.rows_deleted, std::string_view(test_case.input).starts_with("DELETE"));
            ASSERT_EQ(plan.tracking.tables.size(), 1u);
            [[fallthrough]];
        case Kind::Read:
            EXPECT_EQ(plan.tracking.outcome, ReadTracking::Outcome::Tracked);
            EXPECT_EQ(plan.tracking.sql, test_case.expected);
            EXPECT_EQ(plan.tracking.client_sees_rows, test_case.client_sees_rows);
            EXPECT_EQ(plan.keyed.outcome, KeyedWrite::Outcome::NotKeyed);
            EXPECT_TRUE(parses_as_one_statement(plan.tracking.sql));
            break;
        case Kind::KeyedWrite: {
            EXPECT_EQ(plan.tracking.outcome, ReadTracking::Outcome::Tracked);
            EXPECT_EQ(plan.keyed.outcome, KeyedWrite::Outcome::Keyed);
            EXPECT_EQ(plan.keyed.sql_before_slot + "<slot>" + plan.keyed.sql_after_slot, test_case.expected);
            EXPECT_EQ(plan.tracking.client_sees_rows, test_case.client_sees_rows);
            EXPECT_EQ(plan.keyed.qualifier, test_case.qualifier);
            EXPECT_EQ(plan.keyed.is_delete, std::string_view(test_case.input).starts_with("DELETE"));
            ASSERT_NE(plan.keyed.target.rule, nullptr);
            const rules::TableRule& rule = *plan.keyed.target.rule;
            // The hidden RETURNING is the written table's key and version, once.
            ASSERT_EQ(plan.tracking.tables.size(), 1u);
            EXPECT_EQ(plan.tracking.tables.front().rule, &rule);
            EXPECT_EQ(plan.tracking.hidden_count, rule.key.size() + 1);

            // The session fills the slot with the seen versions as literals (simple protocol) or
            // as array parameters after the client's own (extended protocol).
            const std::vector<SeenVersion> seen{{encoded_key(std::vector<std::string>(rule.key.size(), "1")), "3"},
                                                {encoded_key(std::vector<std::string>(rule.key.size(), "it's")), "4"}};
            const std::string keys_parameter = "$" + std::to_string(plan.highest_parameter + 1);
            const std::string versions_parameter = "$" + std::to_string(plan.highest_parameter + 2);
            for (const std::string& predicate :
                 {literal_version_predicate(rule, plan.keyed.qualifier, seen, false),
                  literal_version_predicate(rule, plan.keyed.qualifier, {seen.front()}, true),
                  version_predicate(rule, plan.keyed.qualifier, keys_parameter, versions_parameter)}) {
                EXPECT_TRUE(
                    parses_as_one_statement(plan.keyed.sql_before_slot + predicate + plan.keyed.sql_after_slot));
            }
            break;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, TrackPlannerGolden, ::testing::ValuesIn(plan_cases),
                         [](const ::testing::TestParamInfo<PlanCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// TrackPlanner: activity and the plan cache

TEST(TrackPlanner, ActiveOnlyWithATrackModeRule) {
    EXPECT_FALSE(TrackPlanner(nullptr).active());
    EXPECT_FALSE(TrackPlanner(rule_set("")).active());
    EXPECT_FALSE(TrackPlanner(rule_set(client)).active());
    EXPECT_FALSE(TrackPlanner(rule_set(increment)).active());
    EXPECT_TRUE(TrackPlanner(rule_set(track)).active());
    EXPECT_TRUE(TrackPlanner(rule_set("public.orders mode=client; public.accounts mode=track")).active());
}

TEST(TrackPlanner, WithoutRulesNothingIsTracked) {
    const TrackPlanner planner(nullptr);
    const auto plan = planner.plan("SELECT * FROM accounts", resolver_to("public"));
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->kind, Kind::Untracked);
    EXPECT_EQ(plan->reason, "no protected table");
}

TEST(TrackPlanner, WithoutResolverBareNamesArePublic) {
    const TrackPlanner planner(rule_set(track));
    EXPECT_EQ(planner.plan("SELECT * FROM accounts", SchemaResolver{})->kind, Kind::Read);
    EXPECT_EQ(planner.plan("DELETE FROM accounts WHERE id = 1", SchemaResolver{})->kind, Kind::KeyedWrite);
}

TEST(TrackPlanner, SameStatementSameAnswersIsOneCachedPlan) {
    const TrackPlanner planner(rule_set(track));
    int asked = 0;
    const SchemaResolver counting = [&asked](std::string_view) -> std::optional<std::string> {
        ++asked;
        return std::string("public");
    };
    const auto first = planner.plan("UPDATE accounts SET balance = 1 WHERE id = 1", counting);
    const int asked_first = asked;
    EXPECT_GE(asked_first, 1);
    const auto second = planner.plan("UPDATE accounts SET balance = 1 WHERE id = 1", counting);
    EXPECT_EQ(first.get(), second.get());
    // A cache hit asks again, once per bare name the plan depended on.
    EXPECT_EQ(asked - asked_first, 1);
}

// search_path changed between two executions of the same text: bare `accounts` now means
// billing.accounts, which no rule protects, and then public.accounts again.
TEST(TrackPlanner, SearchPathChangeReplans) {
    const TrackPlanner planner(rule_set(track));
    const SchemaResolver public_path = resolver_to("public");
    const SchemaResolver billing_path = resolver_to("billing");
    for (const char* sql : {"SELECT * FROM accounts WHERE id = $1", "UPDATE accounts SET balance = 1 WHERE id = 1"}) {
        SCOPED_TRACE(sql);
        const auto before = planner.plan(sql, public_path);
        EXPECT_NE(before->kind, Kind::Untracked) << before->reason;
        const auto moved = planner.plan(sql, billing_path);
        EXPECT_EQ(moved->kind, Kind::Untracked);
        EXPECT_EQ(moved->reason, "no protected table");
        const auto back = planner.plan(sql, public_path);
        EXPECT_EQ(back->kind, before->kind) << back->reason;
        EXPECT_EQ(back->tracking.sql, before->tracking.sql);
        EXPECT_EQ(back->keyed.sql_before_slot, before->keyed.sql_before_slot);
        EXPECT_EQ(back->keyed.sql_after_slot, before->keyed.sql_after_slot);
        // And a table that is gone from the path altogether.
        EXPECT_EQ(planner.plan(sql, resolver_to(nullptr))->kind, Kind::Untracked);
    }
}

// A schema-qualified name asks nothing of the resolver: its plan holds whatever search_path says.
TEST(TrackPlanner, QualifiedNameIgnoresSearchPath) {
    const TrackPlanner planner(rule_set(track));
    int asked = 0;
    const SchemaResolver billing_path = [&asked](std::string_view) -> std::optional<std::string> {
        ++asked;
        return std::string("billing");
    };
    EXPECT_EQ(planner.plan("SELECT * FROM public.accounts", resolver_to("public"))->kind, Kind::Read);
    EXPECT_EQ(planner.plan("SELECT * FROM public.accounts", billing_path)->kind, Kind::Read);
    EXPECT_EQ(asked, 0);
}

TEST(TrackPlanner, TinyCacheStillPlansEachStatementRight) {
    for (std::size_t capacity : {std::size_t{0}, std::size_t{1}}) {
        SCOPED_TRACE(capacity);
        const TrackPlanner planner(rule_set(track), capacity);
        for (int round = 0; round < 3; ++round) {
            EXPECT_EQ(planner.plan("SELECT * FROM accounts", resolver_to("public"))->kind, Kind::Read);
            EXPECT_EQ(planner.plan("DELETE FROM accounts WHERE id = 1", resolver_to("public"))->kind, Kind::KeyedWrite);
            EXPECT_EQ(planner.plan("SELECT count(*) FROM accounts", resolver_to("public"))->kind, Kind::Untracked);
        }
    }
}

TEST(TrackPlanner, HugeStatementIsPlannedWithoutCaching) {
    const TrackPlanner planner(rule_set(track));
    std::string sql = "SELECT * FROM accounts WHERE note <> '";
    sql.append(70 * 1024, 'x');
    sql += "'";
    const auto first = planner.plan(sql, resolver_to("public"));
    ASSERT_EQ(first->kind, Kind::Read) << first->reason;
    const auto second = planner.plan(sql, resolver_to("billing"));
    EXPECT_EQ(second->kind, Kind::Untracked);
}

}  // namespace
}  // namespace staleguard::parser
