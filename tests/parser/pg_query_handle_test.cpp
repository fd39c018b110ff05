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

}  // namespace
}  // namespace staleguard::parser
