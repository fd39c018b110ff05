// Tests for the libpg_query owners: parse, deparse, split, scan and statement shapes.
#include "parser/pg_query_handle.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace staleguard::parser {
namespace {

struct RoundTripCase {
    const char* name;
    const char* sql;
    const char* deparsed;
};

std::ostream& operator<<(std::ostream& out, const RoundTripCase& test_case) { return out << test_case.name; }

class DeparseRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(DeparseRoundTrip, DeparsesCanonically) {
    auto tree = parse(GetParam().sql);
    ASSERT_TRUE(tree.ok()) << tree.error().message;
    auto sql = deparse(tree.value());
    ASSERT_TRUE(sql.ok()) << sql.error().message;
    EXPECT_EQ(sql.value(), GetParam().deparsed);
    // The canonical text is a fixed point, and means the same as what was parsed.
    auto again = parse(sql.value());
    ASSERT_TRUE(again.ok());
    for (std::size_t i = 0; i < tree.value().statement_count(); ++i) {
        EXPECT_EQ(statement_shape(again.value(), i), statement_shape(tree.value(), i));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DeparseRoundTrip,
    ::testing::Values(RoundTripCase{"update", "update accounts set a=1", "UPDATE accounts SET a = 1"},
                      RoundTripCase{"update_alias_returning", "update accounts as x set a=1 returning *",
                                    "UPDATE accounts x SET a = 1 RETURNING *"},
                      RoundTripCase{"multi_assign", "update t set (a,b)=(1,2)", "UPDATE t SET (a, b) = (1, 2)"},
                      RoundTripCase{"quoted", "UPDATE \"T\" SET \"A\" = 'x''y'", "UPDATE \"T\" SET \"A\" = 'x''y'"},
                      RoundTripCase{"two_statements", "select 1; select 2", "SELECT 1; SELECT 2"},
                      RoundTripCase{"merge", "merge into t using s on t.id = s.id when matched then delete",
                                    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"}),
    [](const ::testing::TestParamInfo<RoundTripCase>& info) { return std::string(info.param.name); });

TEST(Parse, ReportsErrorWithPosition) {
    auto tree = parse("UPDATE accounts SET WHERE id = 1");
    ASSERT_FALSE(tree.ok());
    EXPECT_EQ(tree.error().message, "syntax error at or near \"WHERE\"");
    EXPECT_EQ(tree.error().position, 21);
}

TEST(Parse, RefusesNulByte) {
    const std::string sql("SELECT 1;\0UPDATE accounts SET a = 1", 35);
    auto tree = parse(sql);
    ASSERT_FALSE(tree.ok());
    EXPECT_EQ(tree.error().position, 10);
    EXPECT_FALSE(split(sql).ok());
    EXPECT_FALSE(scan(sql).ok());
}

TEST(Parse, EmptyStringHasNoStatements) {
    auto tree = parse("");
    ASSERT_TRUE(tree.ok());
    EXPECT_EQ(tree.value().statement_count(), 0u);
}

TEST(Parse, TreesMoveWithoutDoubleFree) {
    auto tree = parse("SELECT 1");
    ASSERT_TRUE(tree.ok());
    ParseTree first = std::move(tree).value();
    ParseTree second = std::move(first);
    EXPECT_EQ(first.get(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(second.statement_count(), 1u);
    ParseTree third;
    third = std::move(second);
    EXPECT_EQ(third.statement_count(), 1u);
}

TEST(Deparse, SingleStatementOfMany) {
    auto tree = parse("select 1; update t set a = 2; select 3");
    ASSERT_TRUE(tree.ok());
    auto second = deparse_statement(tree.value(), 1);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second.value(), "UPDATE t SET a = 2");
    EXPECT_FALSE(deparse_statement(tree.value(), 3).ok());
}

TEST(Split, SlicesStatementsLikeTheServer) {
    auto slices = split("select 1; select ';' ; -- x\n select $$;$$");
    ASSERT_TRUE(slices.ok());
    ASSERT_EQ(slices.value().size(), 3u);
    EXPECT_EQ(slices.value()[0], (StatementSlice{0, 8}));
    EXPECT_EQ(slices.value()[1].location, 9u);
}

TEST(StatementSlices, LastStatementRunsToTheEnd) {
    const std::string sql = "select 1;  select 2  ";
    auto tree = parse(sql);
    ASSERT_TRUE(tree.ok());
    const auto slices = statement_slices(tree.value(), sql.size());
    ASSERT_EQ(slices.size(), 2u);
    EXPECT_EQ(slices[0], (StatementSlice{0, 8}));
    EXPECT_EQ(slices[1], (StatementSlice{9, sql.size() - 9}));
}

TEST(Scan, KnowsCommentsAndSemicolons) {
    auto tokens = scan("/* a */ select 1; -- b");
    ASSERT_TRUE(tokens.ok());
    const std::vector<Token> expected = {{0, 7, TokenKind::Comment},
                                         {8, 14, TokenKind::Other},
                                         {15, 16, TokenKind::Other},
                                         {16, 17, TokenKind::Semicolon},
                                         {18, 22, TokenKind::Comment}};
    EXPECT_EQ(tokens.value(), expected);
}

TEST(Scan, ReportsUnterminatedString) {
    auto tokens = scan("select 'abc");
    ASSERT_FALSE(tokens.ok());
    EXPECT_FALSE(tokens.error().message.empty());
}

TEST(StatementShape, IgnoresSpellingButNotMeaning) {
    auto a = parse("update t set a = 1 where id = 2");
    auto b = parse("UPDATE   t\nSET a=1 /* c */ WHERE id=2");
    auto c = parse("UPDATE t SET a = 1 WHERE id = 3");
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(statement_shape(a.value(), 0), statement_shape(b.value(), 0));
    EXPECT_NE(statement_shape(a.value(), 0), statement_shape(c.value(), 0));
    EXPECT_TRUE(statement_shape(a.value(), 5).empty());
}

struct SameStatementCase {
    const char* name;
    const char* left;
    const char* right;
    bool same;
};

std::ostream& operator<<(std::ostream& out, const SameStatementCase& test_case) { return out << test_case.name; }

class SameStatement : public ::testing::TestWithParam<SameStatementCase> {};

TEST_P(SameStatement, ComparesTreesIgnoringLocations) {
    const SameStatementCase& test_case = GetParam();
    auto left = parse(test_case.left);
    auto right = parse(test_case.right);
    ASSERT_TRUE(left.ok() && right.ok());
    ASSERT_EQ(left.value().statement_count(), 1u);
    ASSERT_EQ(right.value().statement_count(), 1u);
    EXPECT_EQ(same_statement(left.value(), 0, right.value(), 0), test_case.same);
    EXPECT_EQ(same_statement(right.value(), 0, left.value(), 0), test_case.same);
    EXPECT_TRUE(same_statement(left.value(), 0, left.value(), 0));
    // The comparison agrees with the packed shapes it replaces (which zero the locations, so last).
    EXPECT_EQ(statement_shape(left.value(), 0) == statement_shape(right.value(), 0), test_case.same);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SameStatement,
    ::testing::Values(
        SameStatementCase{"spacing_case_and_comments", "update t set a = 1 where id = 2",
                          "  UPDATE   t\nSET a=1 /* c */ WHERE id=2", true},
        SameStatementCase{"leading_statements_shift_locations", "update accounts set balance = balance + 1",
                          "/* a long comment first */ update accounts set balance = balance + 1", true},
        SameStatementCase{"deparsed_form", "update t as x set (a,b)=(1,'y') where x.id in (1,2) returning *",
                          "UPDATE t x SET (a, b) = (1, 'y') WHERE x.id IN (1, 2) RETURNING *", true},
        SameStatementCase{"nested_select", "select * from (select a from t where b = $1) s",
                          "SELECT * FROM (SELECT a FROM t WHERE b = $1) s", true},
        SameStatementCase{"changed_integer", "UPDATE t SET a = 1 WHERE id = 2", "UPDATE t SET a = 1 WHERE id = 3",
                          false},
        SameStatementCase{"changed_string", "UPDATE t SET a = 'x'", "UPDATE t SET a = 'y'", false},
        SameStatementCase{"integer_versus_string", "UPDATE t SET a = 1", "UPDATE t SET a = '1'", false},
        SameStatementCase{"changed_parameter", "UPDATE t SET a = $1", "UPDATE t SET a = $2", false},
        SameStatementCase{"changed_operator", "UPDATE t SET a = a + 1", "UPDATE t SET a = a - 1", false},
        SameStatementCase{"changed_comparison", "DELETE FROM t WHERE id = 1", "DELETE FROM t WHERE id < 1", false},
        SameStatementCase{"and_versus_or", "DELETE FROM t WHERE a = 1 AND b = 2", "DELETE FROM t WHERE a = 1 OR b = 2",
                          false},
        SameStatementCase{"missing_where", "UPDATE t SET a = 1 WHERE id = 2", "UPDATE t SET a = 1", false},
        SameStatementCase{"missing_assignment", "UPDATE t SET a = 1, b = 2", "UPDATE t SET a = 1", false},
        SameStatementCase{"missing_alias", "UPDATE t x SET a = 1", "UPDATE t SET a = 1", false},
        SameStatementCase{"changed_column", "UPDATE t SET a = 1", "UPDATE t SET b = 1", false},
        SameStatementCase{"changed_qualifier", "UPDATE t SET a = t.b", "UPDATE t SET a = s.b", false},
        SameStatementCase{"schema_added", "UPDATE t SET a = 1", "UPDATE public.t SET a = 1", false},
        SameStatementCase{"only_flag", "UPDATE t SET a = 1", "UPDATE ONLY t SET a = 1", false},
        SameStatementCase{"different_statement_kind", "DELETE FROM t", "TRUNCATE t", false},
        SameStatementCase{"boolean_constant", "SELECT true", "SELECT false", false},
        SameStatementCase{"null_versus_value", "UPDATE t SET a = NULL", "UPDATE t SET a = 0", false}),
    [](const ::testing::TestParamInfo<SameStatementCase>& info) { return std::string(info.param.name); });

TEST(SameStatementIndex, ComparesTheNamedStatementsAndRefusesMissingOnes) {
    auto tree = parse("select 1; update t set a = 2; select 1");
    ASSERT_TRUE(tree.ok());
    EXPECT_TRUE(same_statement(tree.value(), 0, tree.value(), 2));  // only their locations differ
    EXPECT_FALSE(same_statement(tree.value(), 0, tree.value(), 1));
    EXPECT_FALSE(same_statement(tree.value(), 0, tree.value(), 3));
    EXPECT_FALSE(same_statement(tree.value(), 5, tree.value(), 0));
    const ParseTree empty;
    EXPECT_FALSE(same_statement(empty, 0, empty, 0));
}

TEST(ScanNumbered, AgreesWithScan) {
    const std::string sql = "/* a */ UPDATE \"t\" SET x = 'y'; -- b";
    auto tokens = scan(sql);
    auto numbered = scan_numbered(sql);
    ASSERT_TRUE(tokens.ok() && numbered.ok());
    ASSERT_EQ(tokens.value().size(), numbered.value().size());
    for (std::size_t i = 0; i < tokens.value().size(); ++i) {
        EXPECT_EQ(numbered.value()[i].token, tokens.value()[i]);
        EXPECT_NE(numbered.value()[i].number, 0);
    }
    EXPECT_FALSE(scan_numbered("select 'abc").ok());
}

}  // namespace
}  // namespace staleguard::parser
