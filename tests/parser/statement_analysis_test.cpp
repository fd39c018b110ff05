// Tests for statement analysis: what each statement writes, how, and which settings it changes.
#include "parser/statement_analysis.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::describe;
using testing::join;

const char* kind_name(WriteKind kind) {
    switch (kind) {
        case WriteKind::Update: return "update";
        case WriteKind::Delete: return "delete";
        case WriteKind::Insert: return "insert";
        case WriteKind::InsertConflictUpdate: return "conflict-update";
        case WriteKind::MergeUpdate: return "merge-update";
        case WriteKind::MergeDelete: return "merge-delete";
    }
    return "?";
}

// "update public.accounts AS a ONLY set=[x,y] where current-of returning from cte counts eq=[id=1]"
std::string describe(const WriteInfo& write) {
    std::string text = kind_name(write.kind);
    text += " ";
    if (!write.target.schema.empty()) text += write.target.schema + ".";
    text += write.target.name;
    if (!write.target.alias.empty()) text += " AS " + write.target.alias;
    if (write.target.only) text += " ONLY";
    if (!write.assignments.empty()) {
        std::vector<std::string> columns;
        for (const Assignment& assignment : write.assignments) {
            std::string column = assignment.column;
            if (assignment.source == Assignment::Source::Default) column += ":default";
            if (assignment.source == Assignment::Source::MultiRow) column += ":row";
            if (assignment.source == Assignment::Source::MultiSubSelect) column += ":select";
            columns.push_back(column);
        }
        text += " set=[" + join(columns, ",") + "]";
    }
    if (write.has_where) text += " where";
    if (write.where_current_of) text += " current-of";
    if (write.has_returning) text += " returning";
    if (write.has_from) text += " from";
    if (write.in_cte) text += " cte";
    if (write.counts_rows) text += " counts";
    if (!write.equalities.empty()) {
        std::vector<std::string> equalities;
        for (const EqualityConstraint& equality : write.equalities) {
            std::vector<std::string> values;
            for (const LiteralValue& value : equality.values) values.push_back(value.text);
            equalities.push_back(join(equality.column_path, ".") + "=" + join(values, "|"));
        }
        text += " eq=[" + join(equalities, ",") + "]";
    }
    return text;
}

struct AnalysisCase {
    const char* name;
    const char* sql;
    std::vector<std::string> writes;  // over all statements, in order
    std::vector<std::string> effects = {};
    std::string extra = {};  // "prepared=NAME", "opaque", "unsupported", "setting-error", statement count "statements=N"
};

std::ostream& operator<<(std::ostream& out, const AnalysisCase& test_case) { return out << test_case.name; }

const std::vector<AnalysisCase> analysis_cases = {
    {"select_writes_nothing", "SELECT * FROM accounts", {}},
    {"update_plain", "UPDATE accounts SET a = 1", {"update accounts set=[a] counts"}},
    {"update_qualified_alias_only", "UPDATE ONLY app.Accounts AS x SET a = 1 WHERE x.id = 2",
     {"update app.accounts AS x ONLY set=[a] where counts eq=[x.id=2]"}},
    {"update_quoted_name_keeps_case", "UPDATE \"App\".\"Accounts\" SET \"A\" = 1",
     {"update App.Accounts set=[A] counts"}},
    {"update_multi_and_default", "UPDATE t SET (a, b) = (1, 2), c = DEFAULT, (d, e) = (SELECT 1, 2)",
     {"update t set=[a:row,b:row,c:default,d:select,e:select] counts"}},
    {"update_from_returning", "UPDATE t SET a = s.a FROM s WHERE t.id = s.id RETURNING t.*",
     {"update t set=[a] where returning from counts"}},
    {"update_current_of", "UPDATE t SET a = 1 WHERE CURRENT OF cur", {"update t set=[a] where current-of counts"}},
    {"update_equalities", "UPDATE t SET a = 1 WHERE id IN (1, $2) AND v = '3'::int AND x > 1 AND 5 = y",
     {"update t set=[a] where counts eq=[id=1|$2,v=3,y=5]"}},
    {"update_in_with_expression_is_not_equality", "UPDATE t SET a = 1 WHERE id IN (1, 1 + 1)",
     {"update t set=[a] where counts"}},
    {"update_not_in_is_not_equality", "UPDATE t SET a = 1 WHERE id NOT IN (1, 2)", {"update t set=[a] where counts"}},
    {"delete_using", "DELETE FROM t USING s WHERE t.id = 1 RETURNING 1",
     {"delete t where returning from counts eq=[t.id=1]"}},
    {"delete_only", "DELETE FROM ONLY t", {"delete t ONLY counts"}},
    {"insert_on_conflict", "INSERT INTO t AS x VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2 WHERE x.a < 2",
     {"insert t AS x counts", "conflict-update t AS x set=[a] where"}},
    {"merge_clauses",
     "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.x THEN UPDATE SET a = s.a WHEN MATCHED THEN DELETE "
     "WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
     {"merge-update t set=[a] where from", "merge-delete t from", "insert t from"}},
    {"cte_writes", "WITH u AS (UPDATE t SET a = 1 RETURNING *), d AS (DELETE FROM s RETURNING *) SELECT 1",
     {"update t set=[a] returning cte", "delete s returning cte"}},
    {"cte_then_top_level", "WITH u AS (DELETE FROM s RETURNING id) UPDATE t SET a = 1 WHERE id IN (SELECT id FROM u)",
     {"update t set=[a] where counts", "delete s returning cte"}},
    {"prepare_inner", "PREPARE p AS DELETE FROM t WHERE id = $1", {"delete t where counts eq=[id=$1]"}, {},
     "prepared=p"},
    {"explain_inner_does_not_count", "EXPLAIN ANALYZE UPDATE t SET a = 1", {"update t set=[a]"}},
    {"copy_query_does_not_count", "COPY (DELETE FROM t RETURNING *) TO STDOUT", {"delete t returning"}},
    {"multi_statement", "UPDATE a SET x = 1; SELECT 1; DELETE FROM b",
     {"update a set=[x] counts", "delete b counts"}, {}, "statements=3"},
    {"do_is_opaque", "DO $$ BEGIN UPDATE t SET a = 1; END $$", {}, {}, "opaque"},
    {"function_is_opaque", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'UPDATE t SET a = 1'", {}, {}, "opaque"},
    {"rule_is_opaque", "CREATE RULE r AS ON UPDATE TO v DO INSTEAD UPDATE t SET a = new.a", {}, {}, "opaque"},
    {"set_search_path", "SET search_path TO a, \"B c\"", {}, {"SetSearchPath a, \"B c\""}},
    {"set_search_path_number", "SET search_path TO a, 1", {}, {"SetSearchPath a, 1"}},
    {"alter_role_set_is_not_session", "ALTER ROLE app SET search_path TO x", {}, {}},
    {"alter_function_set_is_not_session", "ALTER FUNCTION f() SET search_path TO x", {}, {}},
    {"function_option_is_not_session",
     "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = x AS 'SELECT 1'", {}, {}, "opaque"},
    {"set_checks_bad_value", "SET staleguard.enabled = 'perhaps'", {}, {}, "setting-error"},
    {"set_checks_list", "SET staleguard.enabled = on, off", {}, {}, "setting-error"},
    {"set_config_checks_non_literal", "SELECT set_config('staleguard.enabled', $1, false)", {}, {}, "setting-error"},
    {"set_config_local_not_literal", "SELECT set_config('search_path', 'x', $1)", {}, {"SearchPathUnknown"}},
    {"set_config_nested", "SELECT 1 FROM (SELECT set_config('search_path', 'x', false)) s", {},
     {"SetSearchPath x"}},
    {"set_config_in_prepare_not_now", "PREPARE p AS SELECT set_config('search_path', 'x', false)", {}, {},
     "prepared=p"},
    {"other_schema_set_config_ignored", "SELECT myschema.set_config('search_path', 'x', false)", {}, {}},
};

class AnalysisGolden : public ::testing::TestWithParam<AnalysisCase> {};

TEST_P(AnalysisGolden, Describes) {
    const AnalysisCase& test_case = GetParam();
    auto tree = parse(test_case.sql);
    ASSERT_TRUE(tree.ok()) << tree.error().message;
    const std::vector<StatementInfo> statements = analyse(tree.value(), test_case.sql);
    std::vector<std::string> writes;
    std::vector<std::string> effects;
    std::string extra;
    for (const StatementInfo& statement : statements) {
        for (const WriteInfo& write : statement.writes) writes.push_back(describe(write));
        for (const SessionEffect& effect : statement.effects) effects.push_back(describe(effect));
        if (!statement.prepared_name.empty()) extra = "prepared=" + statement.prepared_name;
        if (!statement.opaque_texts.empty()) extra = "opaque";
        if (statement.unsupported) extra = "unsupported";
        if (statement.setting_error) extra = "setting-error";
    }
    if (statements.size() > 1) extra = "statements=" + std::to_string(statements.size());
    EXPECT_EQ(writes, test_case.writes);
    EXPECT_EQ(effects, test_case.effects);
    EXPECT_EQ(extra, test_case.extra);
}

INSTANTIATE_TEST_SUITE_P(Golden, AnalysisGolden, ::testing::ValuesIn(analysis_cases),
                         [](const ::testing::TestParamInfo<AnalysisCase>& info) { return std::string(info.param.name); });

TEST(StatementAnalysis, SlicesFollowTheString) {
    const std::string sql = "SELECT 1; UPDATE t SET a = 1 ;SELECT 2";
    auto tree = parse(sql);
    ASSERT_TRUE(tree.ok());
    const auto statements = analyse(tree.value(), sql);
    ASSERT_EQ(statements.size(), 3u);
    EXPECT_EQ(sql.substr(statements[1].slice.location, statements[1].slice.length), " UPDATE t SET a = 1 ");
    EXPECT_EQ(sql.substr(statements[2].slice.location, statements[2].slice.length), "SELECT 2");
}

TEST(StatementAnalysis, DeepNestingIsUnsupportedNotACrash) {
    // PostgreSQL's parser itself refuses absurd depth; just below that, we must stay well-behaved.
    std::string sql = "UPDATE t SET a = ";
    for (int i = 0; i < 900; ++i) sql += "(";
    sql += "1";
    for (int i = 0; i < 900; ++i) sql += ")";
    auto tree = parse(sql);
    if (!tree.ok()) GTEST_SKIP() << "parser refused: " << tree.error().message;
    const auto statements = analyse(tree.value(), sql);
    ASSERT_EQ(statements.size(), 1u);
}

struct BooleanCase {
    const char* text;
    std::optional<bool> expected;
};

class BooleanSetting : public ::testing::TestWithParam<BooleanCase> {};

TEST_P(BooleanSetting, ParsesLikePostgres) { EXPECT_EQ(parse_boolean_setting(GetParam().text), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Values, BooleanSetting,
                         ::testing::Values(BooleanCase{"on", true}, BooleanCase{"ON", true}, BooleanCase{"off", false},
                                           BooleanCase{"of", false}, BooleanCase{"o", std::nullopt},
                                           BooleanCase{"t", true}, BooleanCase{"true", true},
                                           BooleanCase{"tru", true}, BooleanCase{"truee", std::nullopt},
                                           BooleanCase{"f", false}, BooleanCase{"yes", true},
                                           BooleanCase{"n", false}, BooleanCase{"1", true},
                                           BooleanCase{"0", false}, BooleanCase{"", std::nullopt},
                                           BooleanCase{"2", std::nullopt}));

}  // namespace
}  // namespace staleguard::parser
