// Golden tests for analyse_keyed_write: input SQL and rule set → key tuples and the text around the version-predicate slot, or why it is not keyed.
#include "parser/keyed_write.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "parser/read_tracking.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::join;
using testing::rule_set;
using Outcome = KeyedWrite::Outcome;

constexpr const char* track = "public.accounts mode=track";
constexpr const char* composite = "public.order_lines mode=track key=order_id,line_no";
constexpr const char* xmin = "public.accounts mode=track kind=xmin";
constexpr const char* timestamp = "public.accounts mode=track kind=timestamp version=updated_at";
constexpr const char* trigger = "public.accounts mode=track bumped_by=trigger";
constexpr const char* string_key = "public.accounts mode=track key=code";
constexpr const char* quoted_table = "public.\"Accounts\" mode=track";
constexpr const char* app_schema = "app.accounts mode=track";
constexpr const char* client = "public.accounts mode=client";
constexpr const char* increment = "public.accounts mode=increment";
constexpr const char* delete_allow = "public.accounts mode=track delete=allow";
constexpr const char* watch_balance = "public.accounts mode=track watch=balance";

struct Case {
    const char* name;
    const char* rules;
    const char* input;
    // Keyed: the statement with the slot shown as `<slot>`; NotKeyed: the reason.
    const char* expected;
    Outcome outcome = Outcome::Keyed;
    const char* tuples = "";         // "(1)(2)", "(1,3)"
    int array_parameter = 0;         // 0: none
    const char* qualifier = "accounts";
    const char* resolve_to = "public";
    bool assigns_key = false;
};

std::ostream& operator<<(std::ostream& out, const Case& test_case) { return out << test_case.name; }

constexpr Outcome not_keyed = Outcome::NotKeyed;

const std::vector<Case> cases = {
    // ---- keyed UPDATEs ----
    {"update_literal", track, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed,
     "(1)"},
    {"update_lower_case", track, "update ACCOUNTS set balance=balance-10 where ID=42",
     "UPDATE accounts SET balance = balance - 10, version = accounts.version + 1 WHERE id = 42 AND (<slot>)",
     Outcome::Keyed, "(42)"},
    {"update_parameters", track, "UPDATE accounts SET balance = $1 WHERE id = $2",
     "UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = $2 AND (<slot>)", Outcome::Keyed,
     "($2)"},
    {"update_reversed_equality", track, "UPDATE accounts SET balance = 1 WHERE 7 = id",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE 7 = id AND (<slot>)", Outcome::Keyed,
     "(7)"},
    {"update_other_conjuncts", track,
     "UPDATE accounts SET balance = 0 WHERE balance > 0 AND id = 1 AND (note IS NULL OR note = 'x')",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE balance > 0 AND id = 1 AND (note IS "
     "NULL OR note = 'x') AND (<slot>)",
     Outcome::Keyed, "(1)"},
    {"update_with_own_version_check", track, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND version = 3 AND (<slot>)",
     Outcome::Keyed, "(1)"},
    {"update_compare_and_set", track, "UPDATE accounts SET state = 'running' WHERE id = $1 AND state = $2",
     "UPDATE accounts SET state = 'running', version = accounts.version + 1 WHERE id = $1 AND state = $2 AND "
     "(<slot>)",
     Outcome::Keyed, "($1)"},
    {"update_row_of_key_and_other_column", track, "UPDATE accounts SET balance = 0 WHERE (id, owner) = (1, 'x')",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE (id, owner) = (1, 'x') AND (<slot>)",
     Outcome::Keyed, "(1)"},
    {"update_row_of_key_and_expression", track, "UPDATE accounts SET balance = 0 WHERE (id, 1) = (1, balance)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE (id, 1) = (1, balance) AND (<slot>)",
     Outcome::Keyed, "(1)"},
    {"update_alias", track, "UPDATE accounts a SET balance = 1 WHERE a.id = 7",
     "UPDATE accounts a SET balance = 1, version = a.version + 1 WHERE a.id = 7 AND (<slot>)", Outcome::Keyed, "(7)",
     0, "a"},
    {"update_schema_qualified", track, "UPDATE public.accounts SET balance = 1 WHERE public.accounts.id = 7",
     "UPDATE public.accounts SET balance = 1, version = accounts.version + 1 WHERE public.accounts.id = 7 AND "
     "(<slot>)",
     Outcome::Keyed, "(7)", 0, "public.accounts"},
    {"update_other_schema_resolved", app_schema, "UPDATE accounts SET balance = 1 WHERE accounts.id = 7",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE accounts.id = 7 AND (<slot>)",
     Outcome::Keyed, "(7)", 0, "accounts", "app"},
    {"update_quoted_table", quoted_table, "UPDATE \"Accounts\" SET balance = 1 WHERE id = 7",
     "UPDATE \"Accounts\" SET balance = 1, version = \"Accounts\".version + 1 WHERE id = 7 AND (<slot>)",
     Outcome::Keyed, "(7)", 0, "\"Accounts\""},
    {"update_cast_literal", track, "UPDATE accounts SET balance = 1 WHERE id = '5'::bigint",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = '5'::bigint AND (<slot>)",
     Outcome::Keyed, "(5)"},
    {"update_negative_key", track, "UPDATE accounts SET balance = 1 WHERE id = -3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = -3 AND (<slot>)", Outcome::Keyed,
     "(-3)"},
    {"update_string_key", string_key, "UPDATE accounts SET balance = 1 WHERE code = 'it''s'",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE code = 'it''s' AND (<slot>)",
     Outcome::Keyed, "(it's)"},
    {"update_in_list", track, "UPDATE accounts SET balance = 0 WHERE id IN (1, 2, 2, 3)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (1, 2, 2, 3) AND (<slot>)",
     Outcome::Keyed, "(1)(2)(3)"},
    {"update_in_parameters", track, "UPDATE accounts SET balance = 0 WHERE id IN ($1, $2)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN ($1, $2) AND (<slot>)",
     Outcome::Keyed, "($1)($2)"},
    {"update_in_single", track, "UPDATE accounts SET balance = 0 WHERE id IN (9)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (9) AND (<slot>)", Outcome::Keyed,
     "(9)"},
    {"update_any_parameter", track, "UPDATE accounts SET balance = 0 WHERE id = ANY($1)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = ANY($1) AND (<slot>)",
     Outcome::Keyed, "($1)", 1},
    {"update_any_parameter_cast", track, "UPDATE accounts SET balance = $1 WHERE id = ANY($2::bigint[])",
     "UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = ANY($2::bigint[]) AND (<slot>)",
     Outcome::Keyed, "($2)", 2},
    {"update_any_array_literal", track, "UPDATE accounts SET balance = 0 WHERE id = ANY(ARRAY[4, 5])",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = ANY(ARRAY[4, 5]) AND (<slot>)",
     Outcome::Keyed, "(4)(5)"},
    {"update_any_array_string", track, "UPDATE accounts SET balance = 0 WHERE id = ANY('{4, 5,4}')",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = ANY('{4, 5,4}') AND (<slot>)",
     Outcome::Keyed, "(4)(5)"},
    {"update_any_array_string_cast", track, "UPDATE accounts SET balance = 0 WHERE id = ANY('{4,5}'::int[])",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = ANY('{4,5}'::int[]) AND (<slot>)",
     Outcome::Keyed, "(4)(5)"},
    {"string_key_any_array_string_quoted", string_key,
     "DELETE FROM accounts WHERE code = ANY(E'{\"a,b\",\"it''s\",c\\\\d}')",
     "DELETE FROM accounts WHERE code = ANY(E'{\"a,b\",\"it''s\",c\\\\d}') AND (<slot>)", Outcome::Keyed,
     "(a,b)(it's)(cd)"},
    {"update_returning", track, "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING *",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>) RETURNING *",
     Outcome::Keyed, "(1)"},
    {"update_from", track,
     "UPDATE accounts a SET balance = t.amount FROM transfers t WHERE a.id = 3 AND t.account = a.id",
     "UPDATE accounts a SET balance = t.amount, version = a.version + 1 FROM transfers t WHERE a.id = 3 AND "
     "t.account = a.id AND (<slot>)",
     Outcome::Keyed, "(3)", 0, "a"},
    {"update_replaces_client_version", track, "UPDATE accounts SET balance = 1, version = 9 WHERE id = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed,
     "(1)"},
    {"update_timestamp_bump", timestamp, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, updated_at = clock_timestamp() WHERE id = 1 AND (<slot>)", Outcome::Keyed,
     "(1)"},
    {"update_xmin_no_bump", xmin, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed, "(1)"},
    {"update_trigger_no_bump", trigger, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed, "(1)"},
    {"update_watched_column", watch_balance, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed,
     "(1)"},
    {"composite_key", composite, "UPDATE order_lines SET qty = 2 WHERE order_id = 1 AND line_no = 3",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE order_id = 1 AND line_no = 3 AND "
     "(<slot>)",
     Outcome::Keyed, "(1,3)", 0, "order_lines"},
    {"composite_key_row_equality", composite, "UPDATE order_lines SET qty = 2 WHERE (line_no, order_id) = (3, 1)",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE (line_no, order_id) = (3, 1) AND "
     "(<slot>)",
     Outcome::Keyed, "(1,3)", 0, "order_lines"},
    {"composite_key_in_list", composite, "UPDATE order_lines SET qty = 0 WHERE order_id = $1 AND line_no IN (1, 2)",
     "UPDATE order_lines SET qty = 0, version = order_lines.version + 1 WHERE order_id = $1 AND line_no IN (1, 2) "
     "AND (<slot>)",
     Outcome::Keyed, "($1,1)($1,2)", 0, "order_lines"},
    {"composite_key_any", composite, "UPDATE order_lines SET qty = 0 WHERE line_no = ANY($2) AND order_id = 5",
     "UPDATE order_lines SET qty = 0, version = order_lines.version + 1 WHERE line_no = ANY($2) AND order_id = 5 "
     "AND (<slot>)",
     Outcome::Keyed, "(5,$2)", 2, "order_lines"},
    {"composite_key_row_in", composite, "DELETE FROM order_lines WHERE (order_id, line_no) IN ((1, 2), (1, 3))",
     "DELETE FROM order_lines WHERE (order_id, line_no) IN ((1, 2), (1, 3)) AND (<slot>)", Outcome::Keyed,
     "(1,2)(1,3)", 0, "order_lines"},
    {"composite_key_row_in_reordered", composite,
     "UPDATE order_lines SET qty = 0 WHERE (line_no, order_id) IN ((2, 1), (3, 1), (2, 1)) AND qty > 0",
     "UPDATE order_lines SET qty = 0, version = order_lines.version + 1 WHERE (line_no, order_id) IN ((2, 1), (3, "
     "1), (2, 1)) AND qty > 0 AND (<slot>)",
     Outcome::Keyed, "(1,2)(1,3)", 0, "order_lines"},
    {"composite_key_row_in_parameters", composite,
     "UPDATE order_lines SET qty = $1 WHERE (order_id, line_no) IN (($2, $3), ($4, $5))",
     "UPDATE order_lines SET qty = $1, version = order_lines.version + 1 WHERE (order_id, line_no) IN (($2, $3), "
     "($4, $5)) AND (<slot>)",
     Outcome::Keyed, "($2,$3)($4,$5)", 0, "order_lines"},
    {"composite_key_row_in_qualified", composite,
     "DELETE FROM order_lines l WHERE (l.order_id, l.line_no) IN ((7, '1'))",
     "DELETE FROM order_lines l WHERE (l.order_id, l.line_no) IN ((7, '1')) AND (<slot>)", Outcome::Keyed, "(7,1)",
     0, "l"},
    {"update_with_reading_clause", track,
     "WITH t AS (SELECT 1 AS k), u AS (SELECT * FROM accounts) UPDATE accounts SET balance = (SELECT k FROM t) "
     "WHERE id = 1",
     "WITH t AS (SELECT 1 AS k), u AS (SELECT * FROM accounts) UPDATE accounts SET balance = (SELECT k FROM t), "
     "version = accounts.version + 1 WHERE id = 1 AND (<slot>)",
     Outcome::Keyed, "(1)"},

    // ---- keyed DELETEs ----
    {"delete_literal", track, "DELETE FROM accounts WHERE id = 1", "DELETE FROM accounts WHERE id = 1 AND (<slot>)",
     Outcome::Keyed, "(1)"},
    {"delete_in_list_returning", track, "DELETE FROM accounts WHERE id IN (4, 5) RETURNING id",
     "DELETE FROM accounts WHERE id IN (4, 5) AND (<slot>) RETURNING id", Outcome::Keyed, "(4)(5)"},
    {"delete_using", track, "DELETE FROM accounts a USING users u WHERE a.id = $1 AND u.id = a.owner",
     "DELETE FROM accounts a USING users u WHERE a.id = $1 AND u.id = a.owner AND (<slot>)", Outcome::Keyed, "($1)",
     0, "a"},
    {"delete_composite", composite, "DELETE FROM order_lines WHERE order_id = 1 AND line_no = 2",
     "DELETE FROM order_lines WHERE order_id = 1 AND line_no = 2 AND (<slot>)", Outcome::Keyed, "(1,2)", 0,
     "order_lines"},

    // ---- not keyed ----
    {"no_where", track, "UPDATE accounts SET balance = 0", "no WHERE", not_keyed},
    {"range_predicate", track, "UPDATE accounts SET balance = 0 WHERE id > 5",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"between", track, "UPDATE accounts SET balance = 0 WHERE id BETWEEN 1 AND 2",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"or_of_keys", track, "UPDATE accounts SET balance = 0 WHERE id = 1 OR id = 2",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_in_or_branch", track, "DELETE FROM accounts WHERE (id = 1 AND note = 'a') OR note = 'b'",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_constrained_twice", track, "UPDATE accounts SET balance = 0 WHERE id = 1 AND id = 2",
     "key column id is constrained more than once", not_keyed},
    {"key_not_mentioned", track, "UPDATE accounts SET balance = 0 WHERE owner = 1",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_equals_expression", track, "UPDATE accounts SET balance = 0 WHERE id = 1 + 1",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_equals_null", track, "UPDATE accounts SET balance = 0 WHERE id = NULL",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_in_subquery", track, "UPDATE accounts SET balance = 0 WHERE id IN (SELECT account_id FROM transfers)",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_not_in", track, "UPDATE accounts SET balance = 0 WHERE id NOT IN (1, 2)",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_any_null_element", track, "UPDATE accounts SET balance = 0 WHERE id = ANY('{1,NULL}')",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_any_malformed_array_string", track, "UPDATE accounts SET balance = 0 WHERE id = ANY('{1,{2}}')",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"key_any_empty_array_string", track, "UPDATE accounts SET balance = 0 WHERE id = ANY('{}')",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"string_key_any_element_looks_like_parameter", string_key,
     "UPDATE accounts SET balance = 1 WHERE code = ANY('{a,$1}')",
     "key column code is compared with a string that looks like a parameter", not_keyed},
    {"key_of_other_table", track,
     "UPDATE accounts a SET balance = 0 FROM transfers t WHERE t.id = 1 AND t.account = a.id",
     "key column id is not constrained by = or IN or = ANY", not_keyed},
    {"string_key_looks_like_parameter", string_key, "UPDATE accounts SET balance = 1 WHERE code = '$1'",
     "key column code is compared with a string that looks like a parameter", not_keyed},
    {"composite_missing_column", composite, "UPDATE order_lines SET qty = 0 WHERE order_id = 1",
     "key column line_no is not constrained by = or IN or = ANY", not_keyed},
    {"composite_row_in_with_non_key_column", composite,
     "UPDATE order_lines SET qty = 0 WHERE (order_id, qty) IN ((1, 2))",
     "key column order_id is not constrained by = or IN or = ANY", not_keyed},
    {"composite_row_in_and_equality", composite,
     "UPDATE order_lines SET qty = 0 WHERE (order_id, line_no) IN ((1, 2)) AND order_id = 1",
     "key column order_id is constrained more than once", not_keyed},
    {"composite_row_in_expression", composite,
     "UPDATE order_lines SET qty = 0 WHERE (order_id, line_no) IN ((1, 1 + 1))",
     "key column order_id is not constrained by = or IN or = ANY", not_keyed},
    {"composite_two_row_lists", composite,
     "UPDATE order_lines SET qty = 0 WHERE (order_id, line_no) IN ((1, 2)) AND (line_no, order_id) IN ((2, 1))",
     "the key is constrained by more than one row list", not_keyed},
    {"composite_row_in_sets_key", composite,
     "UPDATE order_lines SET line_no = 9 WHERE (order_id, line_no) IN ((1, 2), (1, 3))",
     "it sets a key column of several rows: their new keys cannot be matched to the ones read", not_keyed},
    {"composite_two_lists", composite, "DELETE FROM order_lines WHERE order_id IN (1, 2) AND line_no IN (1, 2)",
     "more than one key column has several values", not_keyed},
    {"where_current_of", track, "UPDATE accounts SET balance = 0 WHERE CURRENT OF c", "WHERE CURRENT OF",
     not_keyed},
    {"with_clause_that_writes", track,
     "WITH t AS (DELETE FROM ledger RETURNING 1) UPDATE accounts SET balance = 0 WHERE id = 1",
     "WITH clause that writes (not keyed in this version)", not_keyed},
    {"with_clause_that_writes_the_target", track,
     "WITH t AS (UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING id) DELETE FROM accounts WHERE id = 1",
     "WITH clause that writes (not keyed in this version)", not_keyed},
    {"client_mode", client, "UPDATE accounts SET balance = 0 WHERE id = 1",
     "public.accounts is not in track mode", not_keyed},
    {"increment_mode", increment, "DELETE FROM accounts WHERE id = 1", "public.accounts is not in track mode",
     not_keyed},
    {"unprotected_table", track, "UPDATE users SET name = 'x' WHERE id = 1", "no protected table", not_keyed},
    {"name_resolves_elsewhere", track, "UPDATE accounts SET balance = 0 WHERE id = 1", "no protected table",
     not_keyed, "", 0, "accounts", "pg_temp_3"},
    {"delete_allowed", delete_allow, "DELETE FROM accounts WHERE id = 1", "the rule allows DELETE (delete=allow)",
     not_keyed},
    {"unwatched_update", watch_balance, "UPDATE accounts SET note = 'x' WHERE id = 1",
     "the UPDATE sets no column the rule guards", not_keyed},
    {"version_from_subselect", track,
     "UPDATE accounts SET (balance, version) = (SELECT 1, 2) WHERE id = 1",
     "the version column is assigned from a sub-SELECT in a multi-column SET", not_keyed},
    // ---- UPDATEs that set a key column: what they return carries the new key ----
    {"update_sets_key", track, "UPDATE accounts SET id = 11 WHERE id = 1",
     "UPDATE accounts SET id = 11, version = accounts.version + 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed, "(1)",
     0, "accounts", "public", true},
    {"update_sets_quoted_key_by_parameter", track, "UPDATE accounts SET \"id\" = $1 WHERE id = $2",
     "UPDATE accounts SET id = $1, version = accounts.version + 1 WHERE id = $2 AND (<slot>)", Outcome::Keyed, "($2)",
     0, "accounts", "public", true},
    {"update_sets_one_key_column_of_two", composite,
     "UPDATE order_lines SET (line_no, qty) = (2, 5) WHERE order_id = 1 AND line_no = 1",
     "UPDATE order_lines SET (line_no, qty) = (2, 5), version = order_lines.version + 1 WHERE order_id = 1 AND "
     "line_no = 1 AND (<slot>)",
     Outcome::Keyed, "(1,1)", 0, "order_lines", "public", true},
    {"update_sets_other_columns_only", track, "UPDATE accounts SET balance = id WHERE id = 1",
     "UPDATE accounts SET balance = id, version = accounts.version + 1 WHERE id = 1 AND (<slot>)", Outcome::Keyed,
     "(1)"},
    {"update_sets_key_of_several_rows", track, "UPDATE accounts SET id = id + 100 WHERE id IN (1, 2)",
     "it sets a key column of several rows: their new keys cannot be matched to the ones read", not_keyed},
    {"update_sets_key_of_an_array_of_rows", track, "UPDATE accounts SET id = -id WHERE id = ANY($1)",
     "it sets a key column of several rows: their new keys cannot be matched to the ones read", not_keyed},
    {"insert", track, "INSERT INTO accounts (id) VALUES (1)", "not an UPDATE or DELETE", not_keyed},
    {"select", track, "SELECT * FROM accounts WHERE id = 1", "not an UPDATE or DELETE", not_keyed},
    {"prepare", track, "PREPARE p AS UPDATE accounts SET balance = 0 WHERE id = $1", "not an UPDATE or DELETE",
     not_keyed},
    {"two_statements", track, "UPDATE accounts SET balance = 0 WHERE id = 1; SELECT 1", "more than one statement",
     not_keyed},
};

SchemaResolver resolver_to(const char* schema) {
    return [schema](std::string_view) -> std::optional<std::string> {
        if (schema == nullptr) return std::nullopt;
        return std::string(schema);
    };
}

std::string describe_tuples(const KeyedTarget& target) {
    std::string text;
    for (const auto& tuple : target.key_tuples) text += "(" + join(tuple, ",") + ")";
    return text;
}

class KeyedWriteGolden : public ::testing::TestWithParam<Case> {};

TEST_P(KeyedWriteGolden, Analyses) {
    const Case& test_case = GetParam();
    const auto rules = rule_set(test_case.rules);
    const KeyedWrite keyed = analyse_keyed_write(test_case.input, *rules, resolver_to(test_case.resolve_to));
    ASSERT_EQ(keyed.outcome, test_case.outcome) << keyed.reason;
    if (keyed.outcome == Outcome::NotKeyed) {
        EXPECT_EQ(keyed.reason, test_case.expected);
        EXPECT_TRUE(keyed.sql_before_slot.empty());
        EXPECT_TRUE(keyed.sql_after_slot.empty());
        return;
    }
    EXPECT_EQ(keyed.sql_before_slot + "<slot>" + keyed.sql_after_slot, test_case.expected);
    EXPECT_EQ(describe_tuples(keyed.target), test_case.tuples);
    EXPECT_EQ(keyed.target.from_array_parameter, test_case.array_parameter > 0);
    EXPECT_EQ(keyed.target.array_parameter, test_case.array_parameter);
    EXPECT_EQ(keyed.qualifier, test_case.qualifier);
    EXPECT_EQ(keyed.assigns_key, test_case.assigns_key);
    ASSERT_NE(keyed.target.rule, nullptr);
    EXPECT_EQ(keyed.is_delete, std::string_view(test_case.input).substr(0, 6) == "DELETE");

    // Whatever predicate the session puts in the slot, the statement must still parse.
    const rules::TableRule& rule = *keyed.target.rule;
    const std::string column = keyed.qualifier + "." + rules::quote_identifier(rule.version_column);
    const std::vector<std::string> predicates = {
        column + " = '3'", "(" + column + ", " + keyed.qualifier + ".id) IN (('1', '2'), ('3', '4'))", "false"};
    for (const std::string& predicate : predicates) {
        const std::string filled = keyed.sql_before_slot + predicate + keyed.sql_after_slot;
        auto reparsed = parse(filled);
        ASSERT_TRUE(reparsed.ok()) << filled << ": " << reparsed.error().message;
        EXPECT_EQ(reparsed.value().statement_count(), 1u) << filled;
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, KeyedWriteGolden, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// A statement that spells the slot marker itself gets another marker: the split stays exact.
TEST(KeyedWrite, MarkerInUserTextIsAvoided) {
    const auto rules = rule_set(track);
    for (const char* sql : {"UPDATE accounts SET note = 'staleguard:version-slot:7f3a9c1e' WHERE id = 1",
                            "UPDATE accounts SET note = E'staleguard\\x3aversion-slot:7f3a9c1e' WHERE id = 1",
                            "UPDATE accounts SET note = 'staleguard:version-slot:7f3a9c1e', other = "
                            "'staleguard:version-slot:7f3a9c1e:1' WHERE id = 1"}) {
        const KeyedWrite keyed = analyse_keyed_write(sql, *rules, resolver_to("public"));
        ASSERT_EQ(keyed.outcome, Outcome::Keyed) << sql << ": " << keyed.reason;
        EXPECT_NE(keyed.sql_before_slot.find("'staleguard:version-slot:7f3a9c1e'"), std::string::npos);
        EXPECT_EQ(keyed.sql_after_slot, ")");
        EXPECT_TRUE(keyed.sql_before_slot.ends_with(", version = accounts.version + 1 WHERE id = 1 AND ("))
            << keyed.sql_before_slot;
    }
}

TEST(KeyedWrite, EveryMarkerSpelledIsNotKeyed) {
    const auto rules = rule_set(track);
    std::string sql = "UPDATE accounts SET note = 'staleguard:version-slot:7f3a9c1e'";
    for (int i = 1; i < 4; ++i) {
        sql += ", n" + std::to_string(i) + " = 'staleguard:version-slot:7f3a9c1e:" + std::to_string(i) + "'";
    }
    sql += " WHERE id = 1";
    const KeyedWrite keyed = analyse_keyed_write(sql, *rules, resolver_to("public"));
    EXPECT_EQ(keyed.outcome, Outcome::NotKeyed);
    EXPECT_EQ(keyed.reason, "the statement spells staleguard's slot marker");
}

// The session's order for a keyed UPDATE ... RETURNING: hidden columns first, then the slot.
TEST(KeyedWrite, ComposesWithReturningTracking) {
    const auto rules = rule_set(track);
    const SchemaResolver resolve = resolver_to("public");
    const ReadTracking tracking =
        plan_read_tracking("UPDATE accounts SET balance = 1 WHERE id = $1 RETURNING balance", *rules, resolve);
    ASSERT_EQ(tracking.outcome, ReadTracking::Outcome::Tracked) << tracking.reason;
    const KeyedWrite keyed = analyse_keyed_write(tracking.sql, *rules, resolve);
    ASSERT_EQ(keyed.outcome, Outcome::Keyed) << keyed.reason;
    EXPECT_EQ(keyed.sql_before_slot,
              "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = $1 AND (");
    EXPECT_EQ(keyed.sql_after_slot,
              ") RETURNING balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
              "staleguard_hidden_2");
}

TEST(KeyedWrite, SyntaxErrorIsNotKeyed) {
    const auto rules = rule_set(track);
    const KeyedWrite keyed = analyse_keyed_write("UPDATE accounts SET WHERE id = 1", *rules, SchemaResolver{});
    EXPECT_EQ(keyed.outcome, Outcome::NotKeyed);
    EXPECT_EQ(keyed.reason.rfind("does not parse: ", 0), 0u) << keyed.reason;
}

TEST(KeyedWrite, WithoutResolverBareNamesArePublic) {
    const auto rules = rule_set(track);
    const KeyedWrite keyed = analyse_keyed_write("DELETE FROM accounts WHERE id = 1", *rules, SchemaResolver{});
    EXPECT_EQ(keyed.outcome, Outcome::Keyed) << keyed.reason;
}

}  // namespace
}  // namespace staleguard::parser
