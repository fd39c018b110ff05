// Tests for the shape planner: when a shape's plan is trusted, and that a filled plan is the plan of the string itself.
#include "parser/shape_planner.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::rule_set;

// What a session plans for a string (StatementGuard::plan_text does the same): the rewrite and
// the tracker's plan of its one statement.
struct Planner {
    explicit Planner(std::shared_ptr<rules::RuleSet> rules) : rewriter(std::move(rules)) {}
    explicit Planner(const char* spec) : Planner(rule_set(spec)) {}

    TextPlan as_written(std::string_view sql, const SchemaResolver& resolve) {
        ++planned;
        TextPlan plan;
        RewriteContext context;
        context.resolve_schema = resolve;
        plan.rewrite = rewriter.rewrite(sql, context);
        if (!rewriter.tracker().active()) return plan;
        if (plan.rewrite.statements.size() == 1) {
            plan.tracked_text = plan.rewrite.statements.front().sql;
        } else if (plan.rewrite.statements.empty()) {
            if (auto split = split_statements(sql); split && split->size() == 1) plan.tracked_text = split->front();
        }
        if (!plan.tracked_text.empty()) plan.tracked = rewriter.tracker().plan(plan.tracked_text, resolve);
        return plan;
    }

    TextPlan through_shapes(const std::string& sql) {
        shape = make_literal_template(sql);
        return rewriter.shapes().plan(sql, shape ? &*shape : nullptr, "1", resolve,
                                      [this](std::string_view text, const SchemaResolver& r) { return as_written(text, r); });
    }

    Rewriter rewriter;
    std::optional<LiteralTemplate> shape;
    SchemaResolver resolve = [](std::string_view) { return std::optional<std::string>("public"); };
    int planned = 0;
};

struct ShapeCase {
    const char* name;
    const char* rules;
    std::vector<std::string> strings;  // one shape, different literals; at least three
    bool trusted;                      // whether the third and later strings are filled in
};

std::ostream& operator<<(std::ostream& out, const ShapeCase& test_case) { return out << test_case.name; }

constexpr const char* track = "public.accounts mode=track";
constexpr const char* composite = "public.order_lines mode=track key=order_id,line_no";
constexpr const char* increment = "public.accounts mode=increment";
constexpr const char* client = "public.accounts mode=client";

const std::vector<ShapeCase> shape_cases = {
    {"tracked_read", track,
     {"SELECT balance FROM accounts WHERE id = 1", "SELECT balance FROM accounts WHERE id = 2",
      "SELECT balance FROM accounts WHERE id = 300", "SELECT balance FROM accounts WHERE id = 42"},
     true},
    {"tracked_read_strings", track,
     {"SELECT * FROM accounts a WHERE a.owner = 'x' LIMIT 5", "SELECT * FROM accounts a WHERE a.owner = 'it''s' LIMIT 9",
      "SELECT * FROM accounts a WHERE a.owner = 'y' LIMIT 1", "SELECT * FROM accounts a WHERE a.owner = '' LIMIT 2"},
     true},
    {"keyed_update", track,
     {"UPDATE accounts SET balance = 10 WHERE id = 1", "UPDATE accounts SET balance = 20 WHERE id = 2",
      "UPDATE accounts SET balance = 30 WHERE id = 3", "UPDATE accounts SET balance = 7 WHERE id = 7"},
     true},
    {"keyed_update_string_key", track,
     {"UPDATE accounts SET note = 'a' WHERE id = '1'", "UPDATE accounts SET note = 'b' WHERE id = '2'",
      "UPDATE accounts SET note = 'c' WHERE id = '33'", "UPDATE accounts SET note = 'd''e' WHERE id = '4'"},
     true},
    {"keyed_delete_in_list_with_duplicates", track,
     {"DELETE FROM accounts WHERE id IN (1, 2)", "DELETE FROM accounts WHERE id IN (3, 4)",
      "DELETE FROM accounts WHERE id IN (5, 5)", "DELETE FROM accounts WHERE id IN (6, 7)"},
     true},
    {"composite_key", composite,
     {"UPDATE order_lines SET qty = 1 WHERE order_id = 1 AND line_no = 1",
      "UPDATE order_lines SET qty = 2 WHERE order_id = 1 AND line_no = 2",
      "UPDATE order_lines SET qty = 3 WHERE order_id = 9 AND line_no = 9",
      "UPDATE order_lines SET qty = 4 WHERE order_id = 2 AND line_no = 1"},
     true},
    {"insert_returning", track,
     {"INSERT INTO accounts (id, balance) VALUES (1, 5) RETURNING balance",
      "INSERT INTO accounts (id, balance) VALUES (2, 6) RETURNING balance",
      "INSERT INTO accounts (id, balance) VALUES (3, 7) RETURNING balance"},
     true},
    {"negative_literals", track,
     {"UPDATE accounts SET balance = balance + -5 WHERE id = -1", "UPDATE accounts SET balance = balance + -6 WHERE id = -2",
      "UPDATE accounts SET balance = balance + -7 WHERE id = -3", "UPDATE accounts SET balance = balance + -8 WHERE id = -4"},
     true},
    {"increment_update", increment,
     {"UPDATE accounts SET balance = 1 WHERE id = 1", "UPDATE accounts SET balance = 2 WHERE id = 2",
      "UPDATE accounts SET balance = 3 WHERE id = 3"},
     true},
    {"unprotected_table", track,
     {"UPDATE other SET a = 1 WHERE id = 1", "UPDATE other SET a = 2 WHERE id = 2", "UPDATE other SET a = 3 WHERE id = 3"},
     true},
    // Client mode checks the version literal's row count: its plan reads the literals.
    {"client_mode_never_trusted", client,
     {"UPDATE accounts SET balance = 1, version = 2 WHERE id = 1 AND version = 1",
      "UPDATE accounts SET balance = 1, version = 3 WHERE id = 1 AND version = 2",
      "UPDATE accounts SET balance = 1, version = 4 WHERE id = 1 AND version = 3"},
     false},
    // float(p) picks float4 or float8 in the grammar: the sentinel is out of range, the shape
    // does not parse, and strings of it are planned as written.
    {"shape_that_does_not_parse", track,
     {"SELECT 1::float(10) FROM accounts WHERE id = 1", "SELECT 1::float(10) FROM accounts WHERE id = 2",
      "SELECT 1::float(10) FROM accounts WHERE id = 3"},
     false},
};

class ShapePlannerTest : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(ShapePlannerTest, FilledPlansAreThePlansOfTheStringsThemselves) {
    const ShapeCase& test_case = GetParam();
    ASSERT_GE(test_case.strings.size(), 3u);
    const auto rules = rule_set(test_case.rules);
    Planner planner(rules);
    // A separate planner with its own caches gives each string's plan as written (plans point
    // into the rules, so both share them).
    Planner reference(rules);
    for (std::size_t i = 0; i < test_case.strings.size(); ++i) {
        const std::string& sql = test_case.strings[i];
        const int planned_before = planner.planned;
        const TextPlan plan = planner.through_shapes(sql);
        const TextPlan expected = reference.as_written(sql, reference.resolve);
        // same_text_plan() holds only for plans that may stand for a shape; the others were
        // planned as written anyway.
        if (shape_independent(expected)) {
            EXPECT_TRUE(same_text_plan(plan, expected)) << sql << "\n  sent: " << plan.rewrite.sql
                                                        << "\n  expected: " << expected.rewrite.sql;
        }
        EXPECT_EQ(plan.rewrite.sql, expected.rewrite.sql);
        if (plan.tracked && expected.tracked) {
            EXPECT_EQ(plan.tracked->keyed.target.key_tuples, expected.tracked->keyed.target.key_tuples) << sql;
            EXPECT_EQ(plan.tracked->tracking.sql, expected.tracked->tracking.sql) << sql;
        }
        // First string of a shape: planned as written; second: as written and the shape; then
        // filled in when the shape is trusted.
        const int expected_plans = i == 0 ? 1 : i == 1 ? 2 : test_case.trusted ? 0 : 1;
        EXPECT_EQ(planner.planned - planned_before, expected_plans) << sql;
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, ShapePlannerTest, ::testing::ValuesIn(shape_cases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ShapePlannerStateTest, ChangedResolutionsReplanTheShape) {
    Planner planner(track);
    for (const char* sql : {"UPDATE accounts SET a = 1 WHERE id = 1", "UPDATE accounts SET a = 1 WHERE id = 2"})
        (void)planner.through_shapes(sql);
    ASSERT_TRUE(planner.rewriter.shapes().trusts(*planner.shape, "1"));
    // The bare name now resolves to another schema (a changed search_path): no longer protected.
    planner.resolve = [](std::string_view) { return std::optional<std::string>("elsewhere"); };
    const int before = planner.planned;
    const TextPlan plan = planner.through_shapes("UPDATE accounts SET a = 1 WHERE id = 3");
    EXPECT_EQ(planner.planned - before, 2);
    ASSERT_TRUE(plan.tracked);
    EXPECT_EQ(plan.tracked->kind, TrackedStatement::Kind::Untracked);
}

TEST(ShapePlannerStateTest, LiteralsGoBackAsWrittenAndKeysAsParsed) {
    Planner planner(track);
    for (const char* sql : {"UPDATE accounts SET a = 'x' WHERE id = 1", "UPDATE accounts SET a = 'y' WHERE id = 2"})
        (void)planner.through_shapes(sql);
    const int before = planner.planned;
    const TextPlan plan = planner.through_shapes("UPDATE accounts SET a = $$it's$$ WHERE id = 007");
    EXPECT_EQ(planner.planned, before);
    ASSERT_TRUE(plan.tracked);
    ASSERT_EQ(plan.tracked->kind, TrackedStatement::Kind::KeyedWrite);
    EXPECT_EQ(plan.tracked->keyed.target.key_tuples, (std::vector<std::vector<std::string>>{{"7"}}));
    EXPECT_NE(plan.tracked->keyed.sql_before_slot.find("$$it's$$"), std::string::npos) << plan.tracked->keyed.sql_before_slot;
    EXPECT_NE(plan.tracked->keyed.sql_before_slot.find("= 007"), std::string::npos) << plan.tracked->keyed.sql_before_slot;
}

TEST(ShapePlannerStateTest, ContextKeysAreSeparateShapes) {
    Planner planner(track);
    const auto plan_with = [&](const char* sql, const char* context) {
        planner.shape = make_literal_template(sql);
        return planner.rewriter.shapes().plan(
            sql, &*planner.shape, context, planner.resolve,
            [&](std::string_view text, const SchemaResolver& r) { return planner.as_written(text, r); });
    };
    (void)plan_with("SELECT * FROM accounts WHERE id = 1", "1");
    (void)plan_with("SELECT * FROM accounts WHERE id = 2", "1");
    EXPECT_TRUE(planner.rewriter.shapes().trusts(*planner.shape, "1"));
    EXPECT_FALSE(planner.rewriter.shapes().trusts(*planner.shape, "0"));
}

}  // namespace
}  // namespace staleguard::parser
