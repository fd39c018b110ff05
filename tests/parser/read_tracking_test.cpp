// Golden tests for plan_read_tracking: input SQL and rule set → exact tracked SQL and hidden layout, or the reason it is not tracked.
#include "parser/read_tracking.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::rule_set;
using Outcome = ReadTracking::Outcome;

// Rule sets the cases refer to.
constexpr const char* track = "public.accounts mode=track";
constexpr const char* two_tables = "public.accounts mode=track; public.orders mode=track";
constexpr const char* track_and_client = "public.accounts mode=track; public.orders mode=client";
constexpr const char* client_only = "public.accounts mode=client";
constexpr const char* composite = "public.order_lines mode=track key=order_id,line_no";
constexpr const char* xmin = "public.accounts mode=track kind=xmin";
constexpr const char* timestamp = "public.accounts mode=track kind=timestamp version=updated_at";
constexpr const char* quoted_table = "public.\"Accounts\" mode=track";
constexpr const char* quoted_version = "public.accounts mode=track version=\"Version\"";
constexpr const char* app_schema = "app.accounts mode=track";
constexpr const char* keyword_key = "public.accounts mode=track key=order";

struct Case {
    const char* name;
    const char* rules;
    const char* input;
    const char* expected;  // tracked SQL; for NotTracked, the reason
    Outcome outcome = Outcome::Tracked;
    std::vector<std::string> layout = {};  // "schema.table:key_count" per tracked table, in order
    const char* resolve_to = "public";     // schema every bare name resolves to; nullptr = no such table
};

std::ostream& operator<<(std::ostream& out, const Case& test_case) { return out << test_case.name; }

constexpr Outcome not_tracked = Outcome::NotTracked;
const std::vector<std::string> accounts = {"public.accounts:1"};

const std::vector<Case> cases = {
    // ---- SELECT: tracked ----
    {"select_star", track, "SELECT * FROM accounts WHERE id = 1",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = 1",
     Outcome::Tracked, accounts},
    {"select_lower_case", track, "select balance from ACCOUNTS where id=1",
     "SELECT balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 "
     "FROM accounts WHERE id = 1",
     Outcome::Tracked, accounts},
    {"select_alias", track, "SELECT a.balance FROM accounts a WHERE a.id = 1",
     "SELECT a.balance, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a "
     "WHERE a.id = 1",
     Outcome::Tracked, accounts},
    {"select_as_alias", track, "SELECT acc.balance AS b FROM accounts AS acc",
     "SELECT acc.balance AS b, acc.id::text AS staleguard_hidden_1, acc.version::text AS staleguard_hidden_2 FROM "
     "accounts acc",
     Outcome::Tracked, accounts},
    {"select_star_with_expressions", track, "SELECT *, balance * 2 AS doubled FROM accounts",
     "SELECT *, balance * 2 AS doubled, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
     "staleguard_hidden_2 FROM accounts",
     Outcome::Tracked, accounts},
    {"select_no_visible_columns", track, "SELECT FROM accounts", "reads only key or version columns of protected tables",
     not_tracked},
    // ---- SELECT: what shows only keys and versions teaches nothing (a later write of data read
    // earlier must still be checked against that earlier version) ----
    {"key_only_exists_probe", track, "SELECT 1 AS a FROM accounts WHERE id = 1 LIMIT 1",
     "reads only key or version columns of protected tables", not_tracked},
    {"key_only_lock", track, "SELECT id FROM accounts WHERE id = 1 FOR UPDATE",
     "reads only key or version columns of protected tables", not_tracked},
    {"key_and_version_only", track, "SELECT a.id, a.version FROM accounts a WHERE a.id IN (1, 2) ORDER BY a.version",
     "reads only key or version columns of protected tables", not_tracked},
    {"key_only_xmin", xmin, "SELECT id, xmin FROM accounts WHERE id = 1",
     "reads only key or version columns of protected tables", not_tracked},
    {"key_only_other_table_data", track,
     "SELECT a.id, n.body FROM accounts a JOIN notes n ON n.account_id = a.id",
     "reads only key or version columns of protected tables", not_tracked},
    {"key_selected_data_filtered", track, "SELECT id FROM accounts WHERE balance >= 50",
     "SELECT id, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE balance >= 50",
     Outcome::Tracked, accounts},
    {"key_selected_data_in_subquery", track,
     "SELECT a.id FROM accounts a WHERE EXISTS (SELECT 1 FROM notes n WHERE n.body = a.owner)",
     "SELECT a.id, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a WHERE "
     "EXISTS (SELECT 1 FROM notes n WHERE n.body = a.owner)",
     Outcome::Tracked, accounts},
    {"key_only_unqualified_other_name", track, "SELECT id, note_count FROM accounts",
     "SELECT id, note_count, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 "
     "FROM accounts",
     Outcome::Tracked, accounts},
    {"whole_row_reference", track, "SELECT row_to_json(a) FROM accounts a WHERE a.id = 1",
     "SELECT row_to_json(a), a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM "
     "accounts a WHERE a.id = 1",
     Outcome::Tracked, accounts},
    {"schema_qualified_column", track, "SELECT public.accounts.owner FROM public.accounts",
     "SELECT public.accounts.owner, public.accounts.id::text AS staleguard_hidden_1, public.accounts.version::text AS "
     "staleguard_hidden_2 FROM public.accounts",
     Outcome::Tracked, accounts},
    {"longer_qualified_column", track, "SELECT public.accounts.owner FROM accounts WHERE id = 1",
     "SELECT public.accounts.owner, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
     "staleguard_hidden_2 FROM accounts WHERE id = 1",
     Outcome::Tracked, accounts},
    {"key_only_subquery", track, "SELECT s.id FROM (SELECT id FROM accounts WHERE id = 1) s",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)", not_tracked},
    {"key_only_cte", track, "WITH x AS (SELECT id, version FROM accounts) SELECT x.id FROM x",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)", not_tracked},
    {"self_join_key_only_side", track, "SELECT a.id, b.owner FROM accounts a JOIN accounts b ON b.parent_id = a.id",
     "SELECT a.id, b.owner, b.id::text AS staleguard_hidden_1, b.version::text AS staleguard_hidden_2 FROM accounts "
     "a JOIN accounts b ON b.parent_id = a.id",
     Outcome::Tracked, accounts},
    {"join_two_protected", two_tables, "SELECT a.balance, o.total FROM accounts a JOIN orders o ON o.account_id = a.id",
     "SELECT a.balance, o.total, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2, "
     "o.id::text AS staleguard_hidden_3, o.version::text AS staleguard_hidden_4 FROM accounts a JOIN orders o ON "
     "o.account_id = a.id",
     Outcome::Tracked, {"public.accounts:1", "public.orders:1"}},
    {"comma_join_two_protected", two_tables, "SELECT * FROM orders, accounts WHERE orders.account_id = accounts.id",
     "SELECT *, orders.id::text AS staleguard_hidden_1, orders.version::text AS staleguard_hidden_2, "
     "accounts.id::text AS staleguard_hidden_3, accounts.version::text AS staleguard_hidden_4 FROM orders, accounts "
     "WHERE orders.account_id = accounts.id",
     Outcome::Tracked, {"public.orders:1", "public.accounts:1"}},
    {"left_join_nullable_side", track, "SELECT u.name, a.balance FROM users u LEFT JOIN accounts a ON a.owner = u.id",
     "SELECT u.name, a.balance, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM "
     "users u LEFT JOIN accounts a ON a.owner = u.id",
     Outcome::Tracked, accounts},
    {"nested_joins", two_tables,
     "SELECT * FROM accounts a JOIN users u ON u.id = a.owner JOIN orders o ON o.account_id = a.id",
     "SELECT *, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2, o.id::text AS "
     "staleguard_hidden_3, o.version::text AS staleguard_hidden_4 FROM accounts a JOIN users u ON u.id = a.owner "
     "JOIN orders o ON o.account_id = a.id",
     Outcome::Tracked, {"public.accounts:1", "public.orders:1"}},
    {"self_join", track, "SELECT a.balance, b.id FROM accounts a JOIN accounts b ON b.parent = a.id",
     "SELECT a.balance, b.id, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2, b.id::text AS "
     "staleguard_hidden_3, b.version::text AS staleguard_hidden_4 FROM accounts a JOIN accounts b ON b.parent = a.id",
     Outcome::Tracked, {"public.accounts:1", "public.accounts:1"}},
    {"only_client_table_skipped", track_and_client, "SELECT * FROM accounts a JOIN orders o ON o.account_id = a.id",
     "SELECT *, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a JOIN "
     "orders o ON o.account_id = a.id",
     Outcome::Tracked, accounts},
    {"schema_qualified", track, "SELECT * FROM public.accounts",
     "SELECT *, public.accounts.id::text AS staleguard_hidden_1, public.accounts.version::text AS "
     "staleguard_hidden_2 FROM public.accounts",
     Outcome::Tracked, accounts},
    {"schema_qualified_alias", track, "SELECT * FROM public.accounts x",
     "SELECT *, x.id::text AS staleguard_hidden_1, x.version::text AS staleguard_hidden_2 FROM public.accounts x",
     Outcome::Tracked, accounts},
    {"other_schema_bare_resolved", app_schema, "SELECT * FROM accounts",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts",
     Outcome::Tracked, {"app.accounts:1"}, "app"},
    {"other_schema_qualified", app_schema, "SELECT * FROM app.accounts",
     "SELECT *, app.accounts.id::text AS staleguard_hidden_1, app.accounts.version::text AS staleguard_hidden_2 "
     "FROM app.accounts",
     Outcome::Tracked, {"app.accounts:1"}},
    {"quoted_table", quoted_table, "SELECT * FROM \"Accounts\"",
     "SELECT *, \"Accounts\".id::text AS staleguard_hidden_1, \"Accounts\".version::text AS staleguard_hidden_2 "
     "FROM \"Accounts\"",
     Outcome::Tracked, {"public.\"Accounts\":1"}},
    {"quoted_version_column", quoted_version, "SELECT * FROM accounts",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.\"Version\"::text AS staleguard_hidden_2 FROM "
     "accounts",
     Outcome::Tracked, accounts},
    {"keyword_key_column_quoted", keyword_key, "SELECT * FROM accounts",
     "SELECT *, accounts.\"order\"::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts",
     Outcome::Tracked, accounts},
    {"composite_key", composite, "SELECT qty FROM order_lines l WHERE l.order_id = 1",
     "SELECT qty, l.order_id::text AS staleguard_hidden_1, l.line_no::text AS staleguard_hidden_2, l.version::text "
     "AS staleguard_hidden_3 FROM order_lines l WHERE l.order_id = 1",
     Outcome::Tracked, {"public.order_lines:2"}},
    // Seconds since 1970: the session's TimeZone and DateStyle change a timestamp's text, not this.
    {"timestamp_version", timestamp, "SELECT a.balance FROM accounts a WHERE id = 1",
     "SELECT a.balance, a.id::text AS staleguard_hidden_1, pg_catalog.\"extract\"('epoch', a.updated_at)::text AS "
     "staleguard_hidden_2 FROM accounts a WHERE id = 1",
     Outcome::Tracked, accounts},
    {"xmin_version", xmin, "SELECT * FROM accounts WHERE id = 1",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.xmin::text AS staleguard_hidden_2 FROM accounts "
     "WHERE id = 1",
     Outcome::Tracked, accounts},
    {"order_by_ordinal", track, "SELECT balance, id FROM accounts ORDER BY 1 DESC, 2",
     "SELECT balance, id, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 "
     "FROM accounts ORDER BY 1 DESC, 2",
     Outcome::Tracked, accounts},
    {"order_by_output_name", track, "SELECT id, balance FROM accounts ORDER BY id",
     "SELECT id, balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 "
     "FROM accounts ORDER BY id",
     Outcome::Tracked, accounts},
    {"limit_offset", track, "SELECT * FROM accounts ORDER BY id LIMIT 10 OFFSET 20",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts ORDER BY id LIMIT 10 OFFSET 20",
     Outcome::Tracked, accounts},
    {"for_update", track, "SELECT * FROM accounts WHERE id = 1 FOR UPDATE",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = 1 FOR UPDATE",
     Outcome::Tracked, accounts},
    {"for_share_of", track, "SELECT * FROM accounts a WHERE a.id = 1 FOR SHARE OF a",
     "SELECT *, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a WHERE "
     "a.id = 1 FOR SHARE OF a",
     Outcome::Tracked, accounts},
    {"for_update_nowait", track, "SELECT * FROM accounts WHERE id = 1 FOR UPDATE NOWAIT",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = 1 FOR UPDATE NOWAIT",
     Outcome::Tracked, accounts},
    // libpg_query 15-4.0 deparses this as `OF aNOWAIT`; the read-back check must catch it.
    {"for_share_of_nowait_deparser_bug", track, "SELECT * FROM accounts a WHERE a.id = 1 FOR SHARE OF a NOWAIT",
     "the tracked statement would not read back the same", not_tracked},
    {"parameters", track, "SELECT balance FROM accounts WHERE id = $1 AND owner = $2",
     "SELECT balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id = $1 AND owner = $2",
     Outcome::Tracked, accounts},
    {"only_relation", track, "SELECT * FROM ONLY accounts",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM ONLY "
     "accounts",
     Outcome::Tracked, accounts},
    // ---- SELECT: through subqueries in FROM ----
    {"subquery_like_sqlalchemy_joinedload", two_tables,
     "SELECT anon_1.accounts_id AS anon_1_accounts_id, anon_1.accounts_balance AS anon_1_accounts_balance, o.id AS "
     "o_id FROM (SELECT accounts.id AS accounts_id, accounts.balance AS accounts_balance FROM accounts WHERE "
     "accounts.id = $1 LIMIT $2) AS anon_1 LEFT OUTER JOIN orders AS o ON anon_1.accounts_id = o.account_id",
     "SELECT anon_1.accounts_id AS anon_1_accounts_id, anon_1.accounts_balance AS "
     "anon_1_accounts_balance, o.id AS o_id, anon_1.staleguard_hidden_in1 AS staleguard_hidden_1, "
     "anon_1.staleguard_hidden_in2 AS staleguard_hidden_2, o.id::text AS staleguard_hidden_3, "
     "o.version::text AS staleguard_hidden_4 FROM (SELECT accounts.id AS accounts_id, accounts.balance AS "
     "accounts_balance, accounts.id::text AS staleguard_hidden_in1, accounts.version::text AS "
     "staleguard_hidden_in2 FROM accounts WHERE accounts.id = $1 LIMIT $2) anon_1 LEFT JOIN orders o ON "
     "anon_1.accounts_id = o.account_id", Outcome::Tracked, {"public.accounts:1", "public.orders:1"}},
    {"subquery_star_inside", track, "SELECT s.balance FROM (SELECT * FROM accounts WHERE id = 1) s ORDER BY 1",
     "SELECT s.balance, s.staleguard_hidden_in1 AS staleguard_hidden_1, s.staleguard_hidden_in2 AS "
     "staleguard_hidden_2 FROM (SELECT *, accounts.id::text AS staleguard_hidden_in1, "
     "accounts.version::text AS staleguard_hidden_in2 FROM accounts WHERE id = 1) s ORDER BY 1", Outcome::Tracked, accounts},
    {"subquery_nested", track, "SELECT t.id FROM (SELECT s.id FROM (SELECT id, owner FROM accounts) s LIMIT 5) t",
     "SELECT t.id, t.staleguard_hidden_in3 AS staleguard_hidden_1, t.staleguard_hidden_in4 AS "
     "staleguard_hidden_2 FROM (SELECT s.id, s.staleguard_hidden_in1 AS staleguard_hidden_in3, "
     "s.staleguard_hidden_in2 AS staleguard_hidden_in4 FROM (SELECT id, owner, accounts.id::text AS "
     "staleguard_hidden_in1, accounts.version::text AS staleguard_hidden_in2 FROM accounts) s LIMIT 5) t", Outcome::Tracked, accounts},
    {"subqueries_natural_join", track,
     "SELECT id FROM (SELECT id, owner FROM accounts) x NATURAL JOIN (SELECT id, balance FROM accounts) y",
     "SELECT id, x.staleguard_hidden_in1 AS staleguard_hidden_1, x.staleguard_hidden_in2 AS "
     "staleguard_hidden_2, y.staleguard_hidden_in3 AS staleguard_hidden_3, y.staleguard_hidden_in4 AS "
     "staleguard_hidden_4 FROM (SELECT id, owner, accounts.id::text AS staleguard_hidden_in1, "
     "accounts.version::text AS staleguard_hidden_in2 FROM accounts) x NATURAL JOIN (SELECT id, balance, "
     "accounts.id::text AS staleguard_hidden_in3, accounts.version::text AS staleguard_hidden_in4 FROM "
     "accounts) y", Outcome::Tracked, {"public.accounts:1", "public.accounts:1"}},
    {"subquery_lateral", track,
     "SELECT a.owner, l.note FROM accounts a, LATERAL (SELECT b.note FROM accounts b WHERE b.id = a.id + 1) l",
     "SELECT a.owner, l.note, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2, "
     "l.staleguard_hidden_in1 AS staleguard_hidden_3, l.staleguard_hidden_in2 AS staleguard_hidden_4 FROM "
     "accounts a, LATERAL (SELECT b.note, b.id::text AS staleguard_hidden_in1, b.version::text AS "
     "staleguard_hidden_in2 FROM accounts b WHERE b.id = (a.id + 1)) l", Outcome::Tracked, {"public.accounts:1", "public.accounts:1"}},
    {"subquery_whole_row", track, "SELECT s FROM (SELECT id FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_whole_row_star", track, "SELECT s.* FROM (SELECT id FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_whole_row_in_function", track, "SELECT s.id, to_jsonb(s) FROM (SELECT id FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)",
     not_tracked},
    {"subquery_whole_row_in_where", track, "SELECT s.id FROM (SELECT id FROM accounts) s WHERE s IS NOT NULL", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)",
     not_tracked},
    {"subquery_outer_star", track, "SELECT * FROM (SELECT id FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_distinct", track, "SELECT s.owner FROM (SELECT DISTINCT owner FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_aggregate", track, "SELECT s.n FROM (SELECT count(*) AS n FROM accounts) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_column_aliases", track, "SELECT s.i FROM (SELECT id FROM accounts) s(i)", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_union", track, "SELECT s.id FROM (SELECT id FROM accounts UNION ALL SELECT 1) s", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"subquery_beside_star_of_other_level", track,
     "SELECT s.id FROM (SELECT id, owner FROM accounts) s WHERE EXISTS (SELECT * FROM orders)",
     "SELECT s.id, s.staleguard_hidden_in1 AS staleguard_hidden_1, s.staleguard_hidden_in2 AS "
     "staleguard_hidden_2 FROM (SELECT id, owner, accounts.id::text AS staleguard_hidden_in1, "
     "accounts.version::text AS staleguard_hidden_in2 FROM accounts) s WHERE EXISTS (SELECT * FROM orders)", Outcome::Tracked, accounts},
    {"subquery_in_where", track, "SELECT * FROM accounts WHERE id IN (SELECT account_id FROM transfers)",
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts WHERE id IN (SELECT account_id FROM transfers)",
     Outcome::Tracked, accounts},
    {"scalar_subquery_with_aggregate", track,
     "SELECT a.owner, (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS n FROM accounts a",
     "SELECT a.owner, (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS n, a.id::text AS "
     "staleguard_hidden_1, a.version::text AS staleguard_hidden_2 FROM accounts a",
     Outcome::Tracked, accounts},
    // ---- SELECT: through a CTE named once in FROM ----
    {"cte_read", track, "WITH x AS (SELECT * FROM accounts WHERE id = 1) SELECT x.balance FROM x",
     "WITH x AS (SELECT *, accounts.id::text AS staleguard_hidden_in1, accounts.version::text AS "
     "staleguard_hidden_in2 FROM accounts WHERE id = 1) SELECT x.balance, x.staleguard_hidden_in1 AS "
     "staleguard_hidden_1, x.staleguard_hidden_in2 AS staleguard_hidden_2 FROM x", Outcome::Tracked, accounts},
    {"cte_aliased_with_parameter", track,
     "WITH x AS MATERIALIZED (SELECT id, balance FROM accounts a) SELECT t.balance FROM x t WHERE t.id = $1",
     "WITH x AS MATERIALIZED (SELECT id, balance, a.id::text AS staleguard_hidden_in1, a.version::text AS "
     "staleguard_hidden_in2 FROM accounts a) SELECT t.balance, t.staleguard_hidden_in1 AS staleguard_hidden_1, "
     "t.staleguard_hidden_in2 AS staleguard_hidden_2 FROM x t WHERE t.id = $1", Outcome::Tracked, accounts},
    {"cte_inside_subquery", track, "SELECT s.id FROM (WITH x AS (SELECT id, owner FROM accounts) SELECT x.id FROM x) s",
     "SELECT s.id, s.staleguard_hidden_in3 AS staleguard_hidden_1, s.staleguard_hidden_in4 AS staleguard_hidden_2 "
     "FROM (WITH x AS (SELECT id, owner, accounts.id::text AS staleguard_hidden_in1, accounts.version::text AS "
     "staleguard_hidden_in2 FROM accounts) SELECT x.id, x.staleguard_hidden_in1 AS staleguard_hidden_in3, "
     "x.staleguard_hidden_in2 AS staleguard_hidden_in4 FROM x) s", Outcome::Tracked, accounts},
    // A second reference could count the CTE's columns; so could a recursive one.
    {"cte_self_join", track, "WITH x AS (SELECT id FROM accounts) SELECT a.id FROM x a JOIN x b ON a.id = b.id",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_also_in_where", track, "WITH x AS (SELECT id FROM accounts) SELECT x.id FROM x WHERE x.id IN (SELECT * FROM x)",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_read_by_another_cte", track, "WITH x AS (SELECT id FROM accounts), y AS (SELECT x.id FROM x) SELECT y.id FROM y",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_recursive", track, "WITH RECURSIVE x AS (SELECT id FROM accounts) SELECT x.id FROM x", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_column_aliases", track, "WITH x(i) AS (SELECT id FROM accounts) SELECT x.i FROM x", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_aggregate", track, "WITH x AS (SELECT count(*) AS n FROM accounts) SELECT x.n FROM x", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    {"cte_whole_row", track, "WITH x AS (SELECT id FROM accounts) SELECT to_jsonb(x) FROM x", "protected table public.accounts only inside a subquery, CTE or aliased join, or under column "
     "aliases (not tracked in this version)", not_tracked},
    // Named twice (the CTE's body reads the table); the CTE's name hides the table's everywhere.
    {"cte_named_like_the_table_it_reads", track,
     "WITH accounts AS (SELECT * FROM accounts WHERE id = 1) SELECT accounts.balance FROM accounts",
     "no protected table", not_tracked},
    {"cte_beside_protected", track, "WITH t AS (SELECT 1 AS x) SELECT * FROM accounts, t",
     "WITH t AS (SELECT 1 AS x) SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
     "staleguard_hidden_2 FROM accounts, t",
     Outcome::Tracked, accounts},
    {"set_returning_function", track, "SELECT balance, generate_series(1, 2) FROM accounts",
     "SELECT balance, generate_series(1, 2), accounts.id::text AS staleguard_hidden_1, accounts.version::text AS "
     "staleguard_hidden_2 FROM accounts",
     Outcome::Tracked, accounts},

    // ---- RETURNING: tracked ----
    {"update_returning", track, "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING balance",
     "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING balance, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     Outcome::Tracked, accounts},
    {"update_returning_star_alias", track, "UPDATE accounts a SET balance = 1 WHERE a.id = 1 RETURNING *",
     "UPDATE accounts a SET balance = 1 WHERE a.id = 1 RETURNING *, a.id::text AS staleguard_hidden_1, "
     "a.version::text AS staleguard_hidden_2",
     Outcome::Tracked, accounts},
    {"insert_returning_star", track, "INSERT INTO accounts (id, balance) VALUES (1, 2) RETURNING *",
     "INSERT INTO accounts (id, balance) VALUES (1, 2) RETURNING *, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     Outcome::Tracked, accounts},
    {"insert_on_conflict_returning", track,
     "INSERT INTO accounts AS a (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET balance = "
     "excluded.balance RETURNING a.id",
     "INSERT INTO accounts AS a (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET balance = "
     "excluded.balance RETURNING a.id, a.id::text AS staleguard_hidden_1, a.version::text AS staleguard_hidden_2",
     Outcome::Tracked, accounts},
    {"insert_returning_xmin", xmin, "INSERT INTO accounts (id) VALUES (7) RETURNING id",
     "INSERT INTO accounts (id) VALUES (7) RETURNING id, accounts.id::text AS staleguard_hidden_1, "
     "accounts.xmin::text AS staleguard_hidden_2",
     Outcome::Tracked, accounts},
    {"update_returning_composite", composite, "UPDATE order_lines SET qty = 1 RETURNING qty",
     "UPDATE order_lines SET qty = 1 RETURNING qty, order_lines.order_id::text AS staleguard_hidden_1, "
     "order_lines.line_no::text AS staleguard_hidden_2, order_lines.version::text AS staleguard_hidden_3",
     Outcome::Tracked, {"public.order_lines:2"}},

    // ---- not tracked: appending would change the result, or is not done in this version ----
    {"distinct", track, "SELECT DISTINCT balance FROM accounts", "DISTINCT", not_tracked},
    {"distinct_on", track, "SELECT DISTINCT ON (owner) * FROM accounts ORDER BY owner, id", "DISTINCT ON",
     not_tracked},
    {"group_by", track, "SELECT owner FROM accounts GROUP BY owner", "GROUP BY", not_tracked},
    {"grouping_sets", track, "SELECT owner FROM accounts GROUP BY GROUPING SETS ((owner), ())", "GROUP BY",
     not_tracked},
    {"having_without_group", track, "SELECT 1 FROM accounts HAVING true", "HAVING", not_tracked},
    {"aggregate_count_star", track, "SELECT count(*) FROM accounts", "aggregate", not_tracked},
    {"aggregate_plain_call", track, "SELECT max(balance) FROM accounts", "aggregate", not_tracked},
    {"aggregate_nested", track, "SELECT coalesce(sum(balance), 0) AS total FROM accounts", "aggregate",
     not_tracked},
    {"aggregate_qualified", track, "SELECT pg_catalog.string_agg(note, ',') FROM accounts", "aggregate",
     not_tracked},
    {"aggregate_filter", track, "SELECT my_agg(balance) FILTER (WHERE balance > 0) FROM accounts", "aggregate",
     not_tracked},
    {"aggregate_in_order_by", track, "SELECT 1 FROM accounts ORDER BY count(*)", "aggregate", not_tracked},
    {"window_function", track, "SELECT id, row_number() OVER (ORDER BY id) FROM accounts", "window function",
     not_tracked},
    {"window_aggregate", track, "SELECT id, sum(balance) OVER w FROM accounts WINDOW w AS (ORDER BY id)",
     "window function", not_tracked},
    {"union", track, "SELECT id FROM accounts UNION SELECT id FROM accounts", "set operation (UNION/INTERSECT/EXCEPT)",
     not_tracked},
    {"intersect", track, "SELECT id FROM accounts INTERSECT SELECT 1", "set operation (UNION/INTERSECT/EXCEPT)",
     not_tracked},
    {"except_all", track, "SELECT id FROM accounts EXCEPT ALL SELECT 1", "set operation (UNION/INTERSECT/EXCEPT)",
     not_tracked},
    {"select_into", track, "SELECT * INTO copy FROM accounts", "SELECT INTO", not_tracked},
    {"values", track, "VALUES (1, 2)", "VALUES", not_tracked},
    {"subquery_only", track, "SELECT * FROM (SELECT * FROM accounts) s",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)",
     not_tracked},
    {"cte_only", track, "WITH x AS (SELECT * FROM accounts) SELECT * FROM x",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)",
     not_tracked},
    {"aliased_join_only", track, "SELECT * FROM (accounts a JOIN users u ON u.id = a.owner) j",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)",
     not_tracked},
    {"column_aliases_only", track, "SELECT * FROM accounts a(i, o) WHERE i = 1",
     "protected table public.accounts only inside a subquery, CTE or aliased join, or under column aliases (not "
     "tracked in this version)",
     not_tracked},
    {"column_aliases_beside_a_tracked_table", track,
     "SELECT a.o, b.note FROM accounts a(i, o) JOIN accounts b ON b.id = a.i",
     "SELECT a.o, b.note, b.id::text AS staleguard_hidden_1, b.version::text AS staleguard_hidden_2 FROM accounts "
     "a(i, o) JOIN accounts b ON b.id = a.i",
     Outcome::Tracked, {"public.accounts:1"}},
    {"cte_shadows_protected_name", track, "WITH accounts AS (SELECT 1 AS id) SELECT * FROM accounts",
     "no protected table", not_tracked},
    {"declare_cursor", track, "DECLARE c CURSOR FOR SELECT * FROM accounts", "DECLARE ... CURSOR", not_tracked},
    {"explain", track, "EXPLAIN SELECT * FROM accounts", "EXPLAIN", not_tracked},
    {"no_protected_table", track, "SELECT * FROM users WHERE id = 1", "no protected table", not_tracked},
    {"select_constant", track, "SELECT 1", "no protected table", not_tracked},
    {"client_mode_table", client_only, "SELECT * FROM accounts", "no protected table", not_tracked},
    {"name_resolves_elsewhere", track, "SELECT * FROM accounts", "no protected table", not_tracked, {}, "pg_temp_3"},
    {"name_resolves_nowhere", track, "SELECT * FROM accounts", "no protected table", not_tracked, {}, nullptr},
    {"other_schema_not_protected", track, "SELECT * FROM archive.accounts", "no protected table", not_tracked},
    {"update_without_returning", track, "UPDATE accounts SET balance = 1 WHERE id = 1", "no RETURNING",
     not_tracked},
    {"insert_without_returning", track, "INSERT INTO accounts (id) VALUES (1)", "no RETURNING", not_tracked},
    {"delete_returning", track, "DELETE FROM accounts WHERE id = 1 RETURNING *", "DELETE: its rows are gone",
     not_tracked},
    {"update_returning_unprotected", track, "UPDATE users SET name = 'x' RETURNING *", "no protected table",
     not_tracked},
    {"other_statement", track, "CREATE TABLE t AS SELECT * FROM accounts",
     "not a SELECT, UPDATE ... RETURNING or INSERT ... RETURNING", not_tracked},
    {"two_statements", track, "SELECT * FROM accounts; SELECT 1", "more than one statement", not_tracked},
    {"empty", track, "  ", "empty statement", not_tracked},
    {"already_tracked", track,
     "SELECT *, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 FROM "
     "accounts",
     "already tracked", not_tracked},
    {"already_tracked_returning", track,
     "UPDATE accounts SET balance = 1 RETURNING accounts.id::text AS staleguard_hidden_1", "already tracked",
     not_tracked},
};

SchemaResolver resolver_to(const char* schema) {
    return [schema](std::string_view) -> std::optional<std::string> {
        if (schema == nullptr) return std::nullopt;
        return std::string(schema);
    };
}

std::vector<std::string> layout_of(const ReadTracking& tracking) {
    std::vector<std::string> layout;
    for (const TrackedTable& table : tracking.tables) {
        layout.push_back(table.table.to_string() + ":" + std::to_string(table.key_count));
    }
    return layout;
}

class ReadTrackingGolden : public ::testing::TestWithParam<Case> {};

TEST_P(ReadTrackingGolden, Plans) {
    const Case& test_case = GetParam();
    const auto rules = rule_set(test_case.rules);
    const ReadTracking tracking = plan_read_tracking(test_case.input, *rules, resolver_to(test_case.resolve_to));
    ASSERT_EQ(tracking.outcome, test_case.outcome) << tracking.reason;
    if (tracking.outcome == Outcome::NotTracked) {
        EXPECT_EQ(tracking.reason, test_case.expected);
        EXPECT_TRUE(tracking.sql.empty());
        EXPECT_TRUE(tracking.tables.empty());
        EXPECT_EQ(tracking.hidden_count, 0u);
        return;
    }
    EXPECT_EQ(tracking.sql, test_case.expected);
    EXPECT_EQ(layout_of(tracking), test_case.layout);
    std::size_t hidden = 0;
    for (const TrackedTable& table : tracking.tables) {
        ASSERT_NE(table.rule, nullptr);
        EXPECT_EQ(table.rule->table, table.table);
        EXPECT_EQ(table.key_count, table.rule->key.size());
        hidden += table.key_count + 1;
    }
    EXPECT_EQ(tracking.hidden_count, hidden);

    auto reparsed = parse(tracking.sql);
    ASSERT_TRUE(reparsed.ok()) << reparsed.error().message;
    EXPECT_EQ(reparsed.value().statement_count(), 1u);
    // Tracking is not idempotent, but a second pass must notice the first.
    const ReadTracking twice = plan_read_tracking(tracking.sql, *rules, resolver_to(test_case.resolve_to));
    EXPECT_EQ(twice.outcome, Outcome::NotTracked);
    EXPECT_EQ(twice.reason, "already tracked");
}

INSTANTIATE_TEST_SUITE_P(Golden, ReadTrackingGolden, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ReadTracking, WithoutResolverBareNamesArePublic) {
    const auto rules = rule_set(track);
    const ReadTracking tracking = plan_read_tracking("SELECT * FROM accounts", *rules, SchemaResolver{});
    ASSERT_EQ(tracking.outcome, Outcome::Tracked) << tracking.reason;
    EXPECT_EQ(tracking.hidden_count, 2u);
}

TEST(ReadTracking, SyntaxErrorIsNotTracked) {
    const auto rules = rule_set(track);
    const ReadTracking tracking = plan_read_tracking("SELECT * FROM accounts WHERE", *rules, SchemaResolver{});
    EXPECT_EQ(tracking.outcome, Outcome::NotTracked);
    EXPECT_EQ(tracking.reason.rfind("does not parse: ", 0), 0u) << tracking.reason;
}

TEST(ReadTracking, NulByteIsNotTracked) {
    const auto rules = rule_set(track);
    const ReadTracking tracking =
        plan_read_tracking(std::string_view("SELECT * FROM accounts\0", 23), *rules, SchemaResolver{});
    EXPECT_EQ(tracking.outcome, Outcome::NotTracked);
}

TEST(ReadTracking, ResolverAskedOnlyForProtectedNames) {
    const auto rules = rule_set(track);
    std::vector<std::string> asked;
    const SchemaResolver resolve = [&asked](std::string_view name) -> std::optional<std::string> {
        asked.emplace_back(name);
        return std::string("public");
    };
    const ReadTracking tracking =
        plan_read_tracking("SELECT * FROM users u JOIN accounts a ON a.owner = u.id", *rules, resolve);
    EXPECT_EQ(tracking.outcome, Outcome::Tracked);
    EXPECT_EQ(asked, std::vector<std::string>{"accounts"});
}

}  // namespace
}  // namespace staleguard::parser
