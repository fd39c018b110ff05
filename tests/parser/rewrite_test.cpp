// Golden tests for Rewriter: input SQL and rule set → exact output SQL, checks, effects, outcome.
#include "parser/rewrite.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "parser/pg_query_handle.hpp"
#include "tests/parser/rewrite_test_support.hpp"

namespace staleguard::parser {
namespace {

using testing::all_checks;
using testing::all_effects;
using testing::rule_set;
using Outcome = RewriteResult::Outcome;

constexpr const char* same = nullptr;  // expected output: the input, byte for byte

// Rule sets the cases refer to.
constexpr const char* increment = "public.accounts mode=increment";
constexpr const char* track = "public.accounts mode=track";
constexpr const char* client = "public.accounts mode=client";
constexpr const char* client_pass = "public.accounts mode=client; unanalysable=pass";
constexpr const char* increment_pass = "public.accounts mode=increment; unanalysable=pass";
constexpr const char* timestamp_increment = "public.accounts mode=increment kind=timestamp version=updated_at";
constexpr const char* timestamp_client = "public.accounts mode=client kind=timestamp version=updated_at";
constexpr const char* xmin_client = "public.accounts mode=client kind=xmin";
constexpr const char* xmin_increment = "public.accounts mode=increment kind=xmin";
constexpr const char* trigger_client = "public.accounts mode=client bumped_by=trigger";
constexpr const char* trigger_increment = "public.accounts mode=increment bumped_by=trigger";
constexpr const char* composite_client = "public.order_lines mode=client key=order_id,line_no";
constexpr const char* watch_balance = "public.accounts mode=client watch=balance";
constexpr const char* ignore_seen = "public.accounts mode=client ignore=last_seen";
constexpr const char* delete_allow = "public.accounts mode=client delete=allow";
constexpr const char* bypass_admin = "public.accounts mode=client bypass=admin";
constexpr const char* quoted_table = "public.\"Accounts\" mode=increment";
constexpr const char* quoted_version = "public.accounts mode=increment version=\"Version\"";
constexpr const char* app_schema = "app.accounts mode=increment";
constexpr const char* string_key = "public.accounts mode=client key=code";
constexpr const char* two_tables = "public.accounts mode=increment; public.orders mode=client";

struct Case {
    const char* name;
    const char* rules;
    const char* input;
    const char* expected;  // `same`: untouched, byte for byte
    Outcome outcome = Outcome::Untouched;
    std::vector<std::string> checks = {};
    std::vector<std::string> effects = {};
    const char* role = "app";
    bool checks_enabled = true;
    const char* resolve_to = "public";  // schema every bare name resolves to; nullptr = no such table
};

std::ostream& operator<<(std::ostream& out, const Case& test_case) { return out << test_case.name; }

const std::vector<Case> cases = {
    // ---- statements that must stay untouched ----
    {"select_constant", increment, "SELECT 1", same},
    {"select_from_protected", increment, "SELECT * FROM accounts WHERE id = 1", same},
    {"select_for_update", client, "SELECT * FROM accounts WHERE id = 1 FOR UPDATE", same},
    {"insert_plain", increment, "INSERT INTO accounts (id, balance) VALUES (1, 2)", same},
    {"insert_select", increment, "INSERT INTO accounts SELECT * FROM staging", same},
    {"insert_on_conflict_nothing", increment, "INSERT INTO accounts VALUES (1) ON CONFLICT DO NOTHING", same},
    {"create_table_similar", increment, "CREATE TABLE accounts_archive (id int)", same},
    {"alter_protected", increment, "ALTER TABLE accounts ADD COLUMN note text", same},
    {"truncate_protected", increment, "TRUNCATE accounts", same},
    {"copy_from_protected", increment, "COPY accounts FROM STDIN", same},
    {"update_other_table", increment, "UPDATE users SET name = 'x' WHERE id = 1", same},
    {"update_similar_suffix", increment, "UPDATE accounts_archive SET balance = 0", same},
    {"update_similar_prefix", increment, "update my_accounts set balance = 0", same},
    {"update_other_schema", increment, "UPDATE archive.accounts SET balance = 0", same},
    {"update_quoted_other_case", increment, "UPDATE \"Accounts\" SET balance = 0", same},
    {"update_temp_table_shadows", increment, "UPDATE accounts SET balance = 0", same, Outcome::Untouched, {}, {},
     "app", true, "pg_temp_3"},
    {"update_no_such_table", increment, "UPDATE accounts SET balance = 0", same, Outcome::Untouched, {}, {}, "app",
     true, nullptr},
    {"string_literal_with_update", increment, "SELECT 'UPDATE accounts SET balance = 0'", same},
    {"dollar_quoted_with_update", increment, "SELECT $$UPDATE accounts SET balance = 0$$", same},
    {"tagged_dollar_quote_with_update", increment, "SELECT $x$UPDATE accounts SET a = 1; $x$ AS sql", same},
    {"line_comment_with_name", increment, "-- touches accounts\nSELECT 1", same},
    {"block_comment_with_update", increment, "/* UPDATE accounts SET a = 1 */ SELECT 1", same},
    {"syntax_error_passes", increment, "UPDATE accounts SET WHERE id = 1", same},
    {"unterminated_string_passes", increment, "UPDATE accounts SET a = 'x", same},
    {"empty_string", increment, "", same},
    {"only_semicolons", increment, " ; ; ", same},
    {"cte_named_like_protected", increment,
     "WITH accounts AS (SELECT 1 AS id) UPDATE users SET x = 1 FROM accounts WHERE users.id = accounts.id", same},
    {"cte_named_like_protected_select", increment, "WITH accounts AS (SELECT 1) SELECT * FROM accounts", same},
    {"update_other_from_protected", increment,
     "UPDATE users SET x = a.balance FROM accounts a WHERE users.id = a.id", same},
    {"explain_select", increment, "EXPLAIN SELECT * FROM accounts", same},
    {"execute_prepared", client, "EXECUTE p(1, 2)", same},
    {"delete_in_increment_mode", increment, "DELETE FROM accounts WHERE id = 1 AND version = 2", same},
    {"delete_in_track_mode", track, "DELETE FROM accounts WHERE id = 1 AND version = 2", same},
    {"merge_without_update", increment,
     "MERGE INTO accounts a USING s ON a.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
     same},
    {"set_other_setting", increment, "SET statement_timeout = 0", same},
    {"show_search_path", increment, "SHOW search_path", same},
    {"reset_other_setting", increment, "RESET statement_timeout", same},
    {"discard_plans", increment, "DISCARD PLANS", same},
    {"set_config_other_setting", increment, "SELECT set_config('work_mem', '1MB', false)", same},
    {"function_without_protected_name", increment,
     "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql", same},
    {"do_without_protected_name", increment, "DO $$ BEGIN PERFORM 1; END $$", same},
    {"function_mentioning_similar_name", increment,
     "CREATE FUNCTION accounts_total() RETURNS bigint AS $$ SELECT count(*) FROM accounts_archive $$ LANGUAGE sql",
     same},
    // A body that writes no rows cannot write a protected table out of sight, whatever it names.
    {"function_reading_protected_table", increment,
     "CREATE FUNCTION total() RETURNS bigint AS $$ SELECT count(*) FROM accounts $$ LANGUAGE sql", same},
    {"do_naming_protected_table_in_a_message", increment, "DO $$ BEGIN RAISE NOTICE 'accounts'; END $$", same},
    {"do_with_variable_named_like_protected_table", increment,
     "DO $$ DECLARE accounts int := 1; BEGIN PERFORM accounts; END $$", same},
    {"no_rules_at_all", "", "UPDATE accounts SET balance = 0", same},
    {"no_rules_still_follows_search_path", "", "SET search_path TO app", same, Outcome::Untouched, {},
     {"SetSearchPath app"}},
    {"xmin_increment_no_bump", xmin_increment, "UPDATE accounts SET balance = 0 WHERE id = 1", same},
    {"trigger_increment_no_bump", trigger_increment, "UPDATE accounts SET balance = 0 WHERE id = 1", same},
    {"trigger_increment_keeps_client_version", trigger_increment,
     "UPDATE accounts SET balance = 0, version = 9 WHERE id = 1", same},
    {"watch_unwatched_column", watch_balance, "UPDATE accounts SET note = 'x' WHERE id = 1 AND version = 2", same},
    {"ignore_only_ignored", ignore_seen, "UPDATE accounts SET last_seen = now() WHERE id = 1 AND version = 2", same},
    {"client_assigns_version", client,
     "UPDATE accounts SET balance = 1, version = version + 1 WHERE id = 1 AND version = 3", same, Outcome::Untouched,
     {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_assigns_version_multi", client, "UPDATE accounts SET (balance, version) = (1, 4) WHERE id = 1", same},
    {"client_assigns_version_subselect", client,
     "UPDATE accounts SET (balance, version) = (SELECT 1, 4) WHERE id = 1", same},
    {"client_delete_without_version", client, "DELETE FROM accounts WHERE id = 1", same},
    {"client_delete_allowed", delete_allow, "DELETE FROM accounts WHERE id = 1 AND version = 3", same},
    {"client_delete_check", client, "DELETE FROM accounts WHERE id = 1 AND version = 3", same, Outcome::Untouched,
     {"public.accounts delete rows=1 keys=[1] version=3 params=[]"}},
    {"client_delete_params", client, "DELETE FROM accounts WHERE id = $1 AND version = $2 RETURNING *", same,
     Outcome::Untouched, {"public.accounts delete rows=1 keys=[$1] version=$2 params=[1]"}},
    {"client_delete_using", client,
     "DELETE FROM accounts a USING users u WHERE a.id = 7 AND a.version = 2 AND u.id = a.owner", same,
     Outcome::Untouched, {"public.accounts delete rows=1 keys=[7] version=2 params=[]"}},
    {"client_delete_in_list", client, "DELETE FROM accounts WHERE id IN (4, 5) AND version = 1", same,
     Outcome::Untouched, {"public.accounts delete rows=2 keys=[(4, 5)] version=1 params=[]"}},
    {"xmin_client_check", xmin_client, "UPDATE accounts SET balance = 0 WHERE id = 1 AND xmin = 1234", same,
     Outcome::Untouched, {"public.accounts update rows=1 keys=[1] version=1234 params=[]"}},
    {"trigger_client_check", trigger_client, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3", same,
     Outcome::Untouched, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},

    // ---- increment mode: bumps ----
    {"increment_basic", increment, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"increment_lower_case", increment, "update accounts set balance=balance-10 where id=1",
     "UPDATE accounts SET balance = balance - 10, version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"increment_upper_case_name", increment, "UPDATE ACCOUNTS SET Balance = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_quoted_lower_name", increment, "UPDATE \"accounts\" SET balance = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_no_where", increment, "UPDATE accounts SET balance = 0",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_alias", increment, "UPDATE accounts a SET balance = 1 WHERE a.id = 1",
     "UPDATE accounts a SET balance = 1, version = a.version + 1 WHERE a.id = 1", Outcome::Rewritten},
    {"increment_as_alias", increment, "UPDATE accounts AS acc SET balance = 1",
     "UPDATE accounts acc SET balance = 1, version = acc.version + 1", Outcome::Rewritten},
    {"increment_schema_qualified", increment, "UPDATE public.accounts SET balance = 1",
     "UPDATE public.accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_schema_qualified_alias", increment, "UPDATE public.accounts x SET balance = 1",
     "UPDATE public.accounts x SET balance = 1, version = x.version + 1", Outcome::Rewritten},
    {"increment_only", increment, "UPDATE ONLY accounts SET balance = 1",
     "UPDATE ONLY accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_returning", increment, "UPDATE accounts SET balance = 1 WHERE id = 1 RETURNING version",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 RETURNING version",
     Outcome::Rewritten},
    {"increment_from", increment, "UPDATE accounts SET balance = t.amount FROM transfers t WHERE t.account = accounts.id",
     "UPDATE accounts SET balance = t.amount, version = accounts.version + 1 FROM transfers t WHERE t.account = "
     "accounts.id",
     Outcome::Rewritten},
    {"increment_parameters", increment, "UPDATE accounts SET balance = $1 WHERE id = $2",
     "UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = $2", Outcome::Rewritten},
    {"increment_dollar_quoted_value", increment, "UPDATE accounts SET note = $$it's$$ WHERE id = 1",
     "UPDATE accounts SET note = 'it''s', version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"increment_set_default", increment, "UPDATE accounts SET note = DEFAULT",
     "UPDATE accounts SET note = DEFAULT, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_replaces_client_version", increment, "UPDATE accounts SET balance = 1, version = 7",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_replaces_version_in_place", increment, "UPDATE accounts SET version = 7, balance = 1",
     "UPDATE accounts SET version = accounts.version + 1, balance = 1", Outcome::Rewritten},
    {"increment_replaces_version_default", increment, "UPDATE accounts SET version = DEFAULT",
     "UPDATE accounts SET version = accounts.version + 1", Outcome::Rewritten},
    {"increment_drops_second_version", increment, "UPDATE accounts SET version = 1, balance = 2, version = 3",
     "UPDATE accounts SET version = accounts.version + 1, balance = 2", Outcome::Rewritten},
    {"increment_keeps_exact_bump", increment, "update accounts set version = accounts.version + 1 -- ours", same},
    {"increment_replaces_other_qualifier_bump", increment, "UPDATE accounts a SET version = accounts.version + 1",
     "UPDATE accounts a SET version = a.version + 1", Outcome::Rewritten},
    {"increment_replaces_version_plus_two", increment, "UPDATE accounts SET version = accounts.version + 2",
     "UPDATE accounts SET version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_without_version", increment, "UPDATE accounts SET (a, b) = (1, 2)",
     "UPDATE accounts SET (a, b) = (1, 2), version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_subselect_without_version", increment, "UPDATE accounts SET (a, b) = (SELECT 1, 2)",
     "UPDATE accounts SET (a, b) = (SELECT 1, 2), version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_version_last", increment, "UPDATE accounts SET (a, version) = (1, 7)",
     "UPDATE accounts SET a = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_version_first", increment, "UPDATE accounts SET (version, a) = (7, 1) WHERE id = 1",
     "UPDATE accounts SET a = 1, version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"increment_multi_assign_version_middle", increment, "UPDATE accounts SET (a, version, b) = (1, 7, 3)",
     "UPDATE accounts SET (a, b) = (1, 3), version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_row_keyword", increment, "UPDATE accounts SET (a, version, b) = ROW(1, 7, 3)",
     "UPDATE accounts SET (a, b) = ROW(1, 3), version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_only_version", increment, "UPDATE accounts SET (version) = ROW(7), a = 1",
     "UPDATE accounts SET a = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_with_default", increment, "UPDATE accounts SET (a, version) = (DEFAULT, 7)",
     "UPDATE accounts SET a = DEFAULT, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_multi_assign_subselect_with_version", increment,
     "UPDATE accounts SET (a, version) = (SELECT 1, 2) WHERE id = 1", same, Outcome::Rejected},
    {"increment_array_element", increment, "UPDATE accounts SET tags[1] = 'x'",
     "UPDATE accounts SET tags[1] = 'x', version = accounts.version + 1", Outcome::Rewritten},
    {"increment_where_current_of", increment, "UPDATE accounts SET balance = 0 WHERE CURRENT OF c",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE CURRENT OF c", Outcome::Rewritten},
    {"increment_subquery_in_where", increment,
     "UPDATE accounts SET balance = 0 WHERE id IN (SELECT id FROM accounts WHERE balance < 0)",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (SELECT id FROM accounts WHERE "
     "balance < 0)",
     Outcome::Rewritten},
    {"increment_comment_inside", increment, "UPDATE accounts /* why */ SET balance = 1 -- trailing",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 -- trailing", Outcome::Rewritten},
    {"increment_leading_comment", increment, "/* job 7 */ UPDATE accounts SET balance = 1",
     "/* job 7 */ UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_comment_mentions_name", increment, "-- accounts\nUPDATE accounts SET balance = 1;",
     "-- accounts\nUPDATE accounts SET balance = 1, version = accounts.version + 1;", Outcome::Rewritten},
    {"increment_trailing_semicolon", increment, "UPDATE accounts SET balance = 1;  ",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1;  ", Outcome::Rewritten},
    {"increment_leading_blanks", increment, "\n\t UPDATE accounts SET balance = 1",
     "\n\t UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_bare_in_app_schema", app_schema, "UPDATE accounts SET balance = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten, {}, {}, "app", true,
     "app"},
    {"increment_bare_in_public_not_app", app_schema, "UPDATE accounts SET balance = 1", same},
    {"increment_qualified_app_schema", app_schema, "UPDATE app.accounts SET balance = 1",
     "UPDATE app.accounts SET balance = 1, version = accounts.version + 1", Outcome::Rewritten},
    {"increment_quoted_mixed_case_table", quoted_table, "UPDATE \"Accounts\" SET balance = 1",
     "UPDATE \"Accounts\" SET balance = 1, version = \"Accounts\".version + 1", Outcome::Rewritten},
    {"increment_quoted_table_unquoted_use", quoted_table, "UPDATE Accounts SET balance = 1", same},
    {"increment_quoted_version_column", quoted_version, "UPDATE accounts SET balance = 1",
     "UPDATE accounts SET balance = 1, \"Version\" = accounts.\"Version\" + 1", Outcome::Rewritten},
    {"increment_quoted_version_column_replaced", quoted_version, "UPDATE accounts SET \"Version\" = 0",
     "UPDATE accounts SET \"Version\" = accounts.\"Version\" + 1", Outcome::Rewritten},
    {"increment_unquoted_version_is_other_column", quoted_version, "UPDATE accounts SET version = 0",
     "UPDATE accounts SET version = 0, \"Version\" = accounts.\"Version\" + 1", Outcome::Rewritten},
    {"timestamp_increment", timestamp_increment, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, updated_at = clock_timestamp() WHERE id = 1", Outcome::Rewritten},
    {"timestamp_increment_replaces_now", timestamp_increment, "UPDATE accounts SET updated_at = now(), balance = 1",
     "UPDATE accounts SET updated_at = clock_timestamp(), balance = 1", Outcome::Rewritten},
    {"timestamp_increment_keeps_exact_bump", timestamp_increment,
     "UPDATE accounts SET updated_at = clock_timestamp()", same},
    {"track_bumps", track, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten},
    {"track_replaces_client_version", track, "UPDATE accounts SET version = version + 1 WHERE id = 1",
     "UPDATE accounts SET version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},

    // ---- where UPDATEs hide ----
    {"cte_update", increment, "WITH u AS (UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM u",
     "WITH u AS (UPDATE accounts SET balance = 0, version = accounts.version + 1 RETURNING id) SELECT * FROM u",
     Outcome::Rewritten},
    {"cte_delete_then_update", increment,
     "WITH d AS (DELETE FROM accounts WHERE id = 1 RETURNING id) UPDATE accounts SET balance = 0 WHERE id IN (SELECT "
     "id FROM d)",
     "WITH d AS (DELETE FROM accounts WHERE id = 1 RETURNING id) UPDATE accounts SET balance = 0, version = "
     "accounts.version + 1 WHERE id IN (SELECT id FROM d)",
     Outcome::Rewritten},
    {"cte_update_inside_insert", increment,
     "WITH u AS (UPDATE accounts SET balance = 0 RETURNING id) INSERT INTO log SELECT id FROM u",
     "WITH u AS (UPDATE accounts SET balance = 0, version = accounts.version + 1 RETURNING id) INSERT INTO log "
     "SELECT id FROM u",
     Outcome::Rewritten},
    {"cte_recursive_select_untouched", increment,
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r, accounts", same},
    {"on_conflict_update", increment,
     "INSERT INTO accounts (id, balance) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = excluded.balance",
     "INSERT INTO accounts (id, balance) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = excluded.balance, "
     "version = accounts.version + 1",
     Outcome::Rewritten},
    {"on_conflict_update_alias", increment,
     "INSERT INTO accounts AS a VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = a.balance + 1 WHERE a.id > 0",
     "INSERT INTO accounts AS a VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = a.balance + 1, version = "
     "a.version + 1 WHERE a.id > 0",
     Outcome::Rewritten},
    {"on_conflict_replaces_version", increment,
     "INSERT INTO accounts VALUES (1, 2, 1) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
     "INSERT INTO accounts VALUES (1, 2, 1) ON CONFLICT (id) DO UPDATE SET version = accounts.version + 1",
     Outcome::Rewritten},
    {"on_conflict_client_no_check", client,
     "INSERT INTO accounts VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = 3 WHERE accounts.version = 3",
     "INSERT INTO accounts VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET balance = 3, version = accounts.version + 1 "
     "WHERE accounts.version = 3",
     Outcome::Rewritten},
    {"merge_update", increment,
     "MERGE INTO accounts a USING incoming s ON a.id = s.id WHEN MATCHED THEN UPDATE SET balance = s.balance WHEN NOT "
     "MATCHED THEN INSERT (id, balance) VALUES (s.id, s.balance)",
     "MERGE INTO accounts a USING incoming s ON a.id = s.id WHEN MATCHED THEN UPDATE SET balance = s.balance, version "
     "= a.version + 1 WHEN NOT MATCHED THEN INSERT (id, balance) VALUES (s.id, s.balance)",
     Outcome::Rewritten},
    {"merge_update_no_alias", increment,
     "MERGE INTO accounts USING incoming s ON accounts.id = s.id WHEN MATCHED AND s.balance > 0 THEN UPDATE SET "
     "balance = s.balance WHEN MATCHED THEN DELETE",
     "MERGE INTO accounts USING incoming s ON accounts.id = s.id WHEN MATCHED AND s.balance > 0 THEN UPDATE SET "
     "balance = s.balance, version = accounts.version + 1 WHEN MATCHED THEN DELETE",
     Outcome::Rewritten},
    {"prepare_update", increment, "PREPARE p(int, bigint) AS UPDATE accounts SET balance = $2 WHERE id = $1",
     "PREPARE p(int, bigint) AS UPDATE accounts SET balance = $2, version = accounts.version + 1 WHERE id = $1",
     Outcome::Rewritten},
    {"explain_analyze_update", increment, "EXPLAIN ANALYZE UPDATE accounts SET balance = 0",
     "EXPLAIN (ANALYZE) UPDATE accounts SET balance = 0, version = accounts.version + 1", Outcome::Rewritten},
    {"copy_from_update_returning", increment, "COPY (UPDATE accounts SET balance = 0 RETURNING id) TO STDOUT",
     "COPY (UPDATE accounts SET balance = 0, version = accounts.version + 1 RETURNING id) TO STDOUT",
     Outcome::Rewritten},

    // ---- multi-statement strings ----
    {"multi_mixed", increment, "SELECT  1 ; UPDATE accounts SET balance = 1 ;select 'x'",
     "SELECT  1 ; UPDATE accounts SET balance = 1, version = accounts.version + 1 ;select 'x'", Outcome::Rewritten},
    {"multi_two_updates", increment, "update accounts set a=1;update accounts set b=2",
     "UPDATE accounts SET a = 1, version = accounts.version + 1;UPDATE accounts SET b = 2, version = "
     "accounts.version + 1",
     Outcome::Rewritten},
    {"multi_empty_statements_and_comments", increment,
     "select 1;; /* a */ UPDATE accounts SET a = 1 /* b */ ; -- c\n select $$;$$",
     "select 1;; /* a */ UPDATE accounts SET a = 1, version = accounts.version + 1 /* b */ ; -- c\n select $$;$$",
     Outcome::Rewritten},
    {"multi_all_untouched", increment, "select 1; SELECT * from accounts; insert into accounts values (1)", same},
    {"multi_two_tables", two_tables,
     "UPDATE orders SET total = 1 WHERE id = 5 AND version = 2; UPDATE accounts SET balance = 1",
     "UPDATE orders SET total = 1, version = orders.version + 1 WHERE id = 5 AND version = 2; UPDATE accounts SET "
     "balance = 1, version = accounts.version + 1",
     Outcome::Rewritten, {"public.orders update rows=1 keys=[5] version=2 params=[]"}},
    {"multi_transaction_block", client,
     "BEGIN; UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3; COMMIT;",
     "BEGIN; UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3; COMMIT;",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},

    // ---- client mode checks ----
    {"client_single_key", client, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_reversed_operands", client, "UPDATE accounts SET balance = 1 WHERE 3 = version AND 1 = id",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE 3 = version AND 1 = id",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_parameters", client, "UPDATE accounts SET balance = $1 WHERE id = $2 AND version = $3",
     "UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = $2 AND version = $3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[$2] version=$3 params=[2]"}},
    {"client_casts", client, "UPDATE accounts SET balance = 1 WHERE id = '1'::int AND version = $2::bigint",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = '1'::int AND version = $2::bigint",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=$2 params=[]"}},
    {"client_in_list", client, "UPDATE accounts SET balance = 0 WHERE id IN (1, 2, 3) AND version = 5",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (1, 2, 3) AND version = 5",
     Outcome::Rewritten, {"public.accounts update rows=3 keys=[(1, 2, 3)] version=5 params=[]"}},
    {"client_in_list_duplicates", client, "UPDATE accounts SET balance = 0 WHERE id IN (1, 1, 2) AND version = 5",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (1, 1, 2) AND version = 5",
     Outcome::Rewritten, {"public.accounts update rows=2 keys=[(1, 2)] version=5 params=[]"}},
    {"client_in_list_parameters", client, "UPDATE accounts SET balance = 0 WHERE id IN ($1, $2) AND version = $3",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN ($1, $2) AND version = $3",
     Outcome::Rewritten, {"public.accounts update rows=2 keys=[($1, $2)] version=$3 params=[1,2]"}},
    {"client_in_single", client, "UPDATE accounts SET balance = 0 WHERE id IN (9) AND version = 5",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (9) AND version = 5",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[9] version=5 params=[]"}},
    {"client_composite_key", composite_client,
     "UPDATE order_lines SET qty = 2 WHERE order_id = 10 AND line_no = 2 AND version = 4",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE order_id = 10 AND line_no = 2 AND "
     "version = 4",
     Outcome::Rewritten, {"public.order_lines update rows=1 keys=[10|2] version=4 params=[]"}},
    {"client_composite_in_list", composite_client,
     "UPDATE order_lines SET qty = 2 WHERE line_no IN (1, 2) AND order_id = $1 AND version = $2",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE line_no IN (1, 2) AND order_id = $1 AND "
     "version = $2",
     Outcome::Rewritten, {"public.order_lines update rows=2 keys=[$1|(1, 2)] version=$2 params=[1]"}},
    {"client_composite_missing_column", composite_client,
     "UPDATE order_lines SET qty = 2 WHERE order_id = 10 AND version = 4",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE order_id = 10 AND version = 4",
     Outcome::Rewritten},
    {"client_row_comparison", composite_client,
     "UPDATE order_lines SET qty = 2 WHERE (order_id, line_no, version) = (1, 2, 3)",
     "UPDATE order_lines SET qty = 2, version = order_lines.version + 1 WHERE (order_id, line_no, version) = (1, 2, 3)",
     Outcome::Rewritten, {"public.order_lines update rows=1 keys=[1|2] version=3 params=[]"}},
    {"client_missing_version", client, "UPDATE accounts SET balance = 1 WHERE id = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"client_missing_key", client, "UPDATE accounts SET balance = 1 WHERE version = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE version = 1", Outcome::Rewritten},
    {"client_version_in_list", client, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version IN (1, 2)",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version IN (1, 2)",
     Outcome::Rewritten},
    {"client_or_is_no_check", client, "UPDATE accounts SET balance = 1 WHERE id = 1 OR version = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 OR version = 1",
     Outcome::Rewritten},
    {"client_nested_and", client, "UPDATE accounts SET balance = 1 WHERE (id = 1 AND version = 2) AND balance > 0",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 2 AND balance > 0",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=2 params=[]"}},
    {"client_key_twice", client, "UPDATE accounts SET balance = 1 WHERE id = 1 AND id = 2 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND id = 2 AND version = 3",
     Outcome::Rewritten},
    {"client_key_null", client, "UPDATE accounts SET balance = 1 WHERE id = NULL AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = NULL AND version = 3",
     Outcome::Rewritten},
    {"client_key_expression", client, "UPDATE accounts SET balance = 1 WHERE id = 1 + 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = (1 + 1) AND version = 3",
     Outcome::Rewritten},
    {"client_negative_key", client, "UPDATE accounts SET balance = 1 WHERE id = -5 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = -5 AND version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[-5] version=3 params=[]"}},
    {"client_string_key", string_key, "UPDATE accounts SET balance = 1 WHERE code = 'a''b' AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE code = 'a''b' AND version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[a'b] version=3 params=[]"}},
    {"client_qualified_columns", client,
     "UPDATE accounts SET balance = 1 WHERE accounts.id = 1 AND accounts.version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE accounts.id = 1 AND accounts.version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_schema_qualified_columns", client,
     "UPDATE public.accounts SET balance = 1 WHERE public.accounts.id = 1 AND version = 3",
     "UPDATE public.accounts SET balance = 1, version = accounts.version + 1 WHERE public.accounts.id = 1 AND version "
     "= 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_alias_columns", client, "UPDATE accounts a SET balance = 1 WHERE a.id = 1 AND a.version = 3",
     "UPDATE accounts a SET balance = 1, version = a.version + 1 WHERE a.id = 1 AND a.version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_other_table_columns", client,
     "UPDATE accounts a SET balance = 1 FROM users u WHERE u.id = 1 AND u.version = 3 AND a.owner = u.id",
     "UPDATE accounts a SET balance = 1, version = a.version + 1 FROM users u WHERE u.id = 1 AND u.version = 3 AND "
     "a.owner = u.id",
     Outcome::Rewritten},
    {"client_returning", client, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3 RETURNING *",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3 RETURNING *",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}},
    {"client_cte_update_no_check", client,
     "WITH u AS (UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3 RETURNING id) SELECT * FROM u",
     "WITH u AS (UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3 "
     "RETURNING id) SELECT * FROM u",
     Outcome::Rewritten},
    {"client_prepare_check", client, "PREPARE upd AS UPDATE accounts SET balance = $1 WHERE id = $2 AND version = $3",
     "PREPARE upd AS UPDATE accounts SET balance = $1, version = accounts.version + 1 WHERE id = $2 AND version = $3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[$2] version=$3 params=[2]"}},
    {"client_explain_analyze_no_check", client,
     "EXPLAIN ANALYZE UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "EXPLAIN (ANALYZE) UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten},
    {"client_current_of_no_check", client, "UPDATE accounts SET balance = 0 WHERE CURRENT OF c",
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE CURRENT OF c", Outcome::Rewritten},
    {"client_merge_no_check", client,
     "MERGE INTO accounts a USING s ON a.id = s.id AND a.version = 3 WHEN MATCHED THEN UPDATE SET balance = 0",
     "MERGE INTO accounts a USING s ON a.id = s.id AND a.version = 3 WHEN MATCHED THEN UPDATE SET balance = 0, "
     "version = a.version + 1",
     Outcome::Rewritten},
    {"client_checks_disabled", client, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten, {}, {}, "app", false},
    {"client_checks_disabled_delete", client, "DELETE FROM accounts WHERE id = 1 AND version = 3", same,
     Outcome::Untouched, {}, {}, "app", false},
    {"client_bypass_role", bypass_admin, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten, {}, {}, "admin"},
    {"client_not_bypass_role", bypass_admin, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=3 params=[]"}, {}, "app"},
    {"client_disabled_in_string", client,
     "SET staleguard.enabled = off; UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "SET staleguard.enabled = off; UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND "
     "version = 3",
     Outcome::Rewritten, {}, {"SetChecksEnabled off"}},
    {"client_reenabled_in_string", client,
     "SET staleguard.enabled = off; RESET staleguard.enabled; DELETE FROM accounts WHERE id = 1 AND version = 3",
     same, Outcome::Untouched, {"public.accounts delete rows=1 keys=[1] version=3 params=[]"},
     {"SetChecksEnabled off", "ResetChecksEnabled"}},
    {"client_enabled_in_string", client,
     "SET staleguard.enabled TO on; DELETE FROM accounts WHERE id = 1 AND version = 3", same, Outcome::Untouched,
     {"public.accounts delete rows=1 keys=[1] version=3 params=[]"}, {"SetChecksEnabled on"}, "app", false},
    {"client_watch_watched", watch_balance, "UPDATE accounts SET balance = 1, note = 'x' WHERE id = 1 AND version = 2",
     "UPDATE accounts SET balance = 1, note = 'x', version = accounts.version + 1 WHERE id = 1 AND version = 2",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=2 params=[]"}},
    {"client_ignore_not_only_ignored", ignore_seen,
     "UPDATE accounts SET last_seen = now(), balance = 1 WHERE id = 1 AND version = 2",
     "UPDATE accounts SET last_seen = now(), balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 2",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=2 params=[]"}},
    {"timestamp_client_check", timestamp_client,
     "UPDATE accounts SET balance = 1 WHERE id = 1 AND updated_at = '2024-05-01 10:00:00+00'",
     "UPDATE accounts SET balance = 1, updated_at = clock_timestamp() WHERE id = 1 AND updated_at = '2024-05-01 "
     "10:00:00+00'",
     Outcome::Rewritten, {"public.accounts update rows=1 keys=[1] version=2024-05-01 10:00:00+00 params=[]"}},
    {"timestamp_client_keeps_client_value", timestamp_client,
     "UPDATE accounts SET balance = 1, updated_at = now() WHERE id = $1 AND updated_at = $2", same,
     Outcome::Untouched, {"public.accounts update rows=1 keys=[$1] version=$2 params=[1]"}},
    {"increment_no_checks", increment, "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3",
     Outcome::Rewritten},
    {"multi_two_checks", client,
     "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3; DELETE FROM accounts WHERE id = 2 AND version = 1",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 1 AND version = 3; DELETE FROM "
     "accounts WHERE id = 2 AND version = 1",
     Outcome::Rewritten,
     {"public.accounts update rows=1 keys=[1] version=3 params=[]",
      "public.accounts delete rows=1 keys=[2] version=1 params=[]"}},

    // ---- unanalysable statements ----
    {"do_block_rejected", increment, "DO $$ BEGIN UPDATE accounts SET balance = 0; END $$", same, Outcome::Rejected},
    {"do_block_passed", increment_pass, "DO $$ BEGIN UPDATE accounts SET balance = 0; END $$", same},
    {"function_body_rejected", increment,
     "CREATE FUNCTION zero() RETURNS void AS $$ UPDATE accounts SET balance = 0 $$ LANGUAGE sql", same,
     Outcome::Rejected},
    {"function_atomic_body_rejected", increment,
     "CREATE PROCEDURE zero() BEGIN ATOMIC UPDATE accounts SET balance = 0; END", same, Outcome::Rejected},
    {"rule_rejected", increment,
     "CREATE RULE r AS ON INSERT TO log DO ALSO UPDATE accounts SET balance = 0", same, Outcome::Rejected},
    {"do_block_dynamic_sql_rejected", increment,
     "DO $$ BEGIN EXECUTE format('TRUNCATE %I', 'accounts'); END $$", same, Outcome::Rejected},
    {"function_body_glued_to_its_quote_rejected", increment,
     "CREATE FUNCTION zero() RETURNS void AS $$UPDATE accounts SET balance = 0$$ LANGUAGE sql", same, Outcome::Rejected},
    {"do_block_escaped_verb_rejected", increment, "DO E'BEGIN \\x55PDATE accounts SET balance = 0; END'", same,
     Outcome::Rejected},
    {"do_block_unicode_escaped_verb_rejected", increment,
     "DO U&'BEGIN !0055PDATE accounts SET balance = 0; END' UESCAPE '!'", same, Outcome::Rejected},
    {"function_locking_rows_rejected", increment,
     "CREATE FUNCTION lock_one() RETURNS void AS $$ SELECT 1 FROM accounts WHERE id = 1 FOR UPDATE $$ LANGUAGE sql",
     same, Outcome::Rejected},
    {"rule_passed", client_pass, "CREATE RULE r AS ON INSERT TO log DO ALSO UPDATE accounts SET balance = 0", same},
    {"search_path_then_bare_rejected", increment, "SET search_path TO app; UPDATE accounts SET balance = 1", same,
     Outcome::Rejected},
    {"search_path_then_qualified_fine", increment, "SET search_path TO app; UPDATE public.accounts SET balance = 1",
     "SET search_path TO app; UPDATE public.accounts SET balance = 1, version = accounts.version + 1",
     Outcome::Rewritten, {}, {"SetSearchPath app"}},
    {"pass_policy_keeps_other_statements", increment_pass,
     "UPDATE accounts SET (a, version) = (SELECT 1, 2); UPDATE accounts SET balance = 1",
     "UPDATE accounts SET (a, version) = (SELECT 1, 2); UPDATE accounts SET balance = 1, version = accounts.version + 1",
     Outcome::Rewritten},
    // Track mode checks a keyed write sent as a statement of its own; run any other way it would
    // go unchecked.
    {"track_explain_analyze_keyed_rejected", track, "EXPLAIN ANALYZE UPDATE accounts SET balance = 0 WHERE id = 1",
     same, Outcome::Rejected},
    {"track_explain_analyze_true_keyed_delete_rejected", track,
     "EXPLAIN (ANALYZE true, BUFFERS) DELETE FROM accounts WHERE id IN (1, 2)", same, Outcome::Rejected},
    {"track_copy_of_keyed_update_rejected", track,
     "COPY (UPDATE accounts SET balance = 0 WHERE id = 1 RETURNING *) TO STDOUT", same, Outcome::Rejected},
    {"track_prepare_keyed_rejected", track, "PREPARE p(int) AS UPDATE accounts SET balance = 0 WHERE id = $1", same,
     Outcome::Rejected},
    {"track_prepare_keyed_passed", "public.accounts mode=track; unanalysable=pass",
     "PREPARE p(int) AS UPDATE accounts SET balance = 0 WHERE id = $1", same},
    {"track_plain_explain_keyed", track, "EXPLAIN UPDATE accounts SET balance = 0 WHERE id = 1",
     "EXPLAIN UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1", Outcome::Rewritten},
    {"track_explain_analyze_false_keyed", track, "EXPLAIN (ANALYZE off) UPDATE accounts SET balance = 0 WHERE id = 1",
     "EXPLAIN (ANALYZE OFF) UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1",
     Outcome::Rewritten},
    {"track_explain_analyze_not_keyed", track, "EXPLAIN ANALYZE UPDATE accounts SET balance = 0 WHERE balance > 0",
     "EXPLAIN (ANALYZE) UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE balance > 0",
     Outcome::Rewritten},
    {"track_prepare_not_keyed", track, "PREPARE p AS UPDATE accounts SET balance = 0",
     "PREPARE p AS UPDATE accounts SET balance = 0, version = accounts.version + 1", Outcome::Rewritten},
    {"reject_policy_rejects_whole_string", increment,
     "UPDATE accounts SET balance = 1; DO $$ BEGIN DELETE FROM accounts; END $$", same, Outcome::Rejected},

    // ---- session effects ----
    {"set_search_path_list", increment, "SET search_path TO foo, \"Bar\", public", same, Outcome::Untouched, {},
     {"SetSearchPath foo, \"Bar\", public"}},
    {"set_search_path_string", increment, "SET search_path = 'a, b'", same, Outcome::Untouched, {},
     {"SetSearchPath \"a, b\""}},
    {"set_search_path_folds", increment, "set search_path = App", same, Outcome::Untouched, {},
     {"SetSearchPath app"}},
    {"set_search_path_user", increment, "SET search_path = \"$user\", public", same, Outcome::Untouched, {},
     {"SetSearchPath \"$user\", public"}},
    {"set_search_path_keyword", increment, "SET search_path TO \"user\"", same, Outcome::Untouched, {},
     {"SetSearchPath \"user\""}},
    {"set_local_search_path", increment, "SET LOCAL search_path TO app", same, Outcome::Untouched, {},
     {"SetSearchPath app local"}},
    {"set_session_search_path", increment, "SET SESSION search_path TO app", same, Outcome::Untouched, {},
     {"SetSearchPath app"}},
    {"set_schema", increment, "SET SCHEMA 'app'", same, Outcome::Untouched, {}, {"SetSearchPath app"}},
    {"set_search_path_default", increment, "SET search_path TO DEFAULT", same, Outcome::Untouched, {},
     {"ResetSearchPath"}},
    {"reset_search_path", increment, "RESET search_path", same, Outcome::Untouched, {}, {"ResetSearchPath"}},
    {"reset_all", increment, "RESET ALL", same, Outcome::Untouched, {}, {"ResetAll"}},
    {"discard_all", increment, "DISCARD ALL", same, Outcome::Untouched, {}, {"ResetAll"}},
    {"set_config_search_path", increment, "SELECT set_config('search_path', 'app, public', false)", same,
     Outcome::Untouched, {}, {"SetSearchPath app, public"}},
    {"set_config_search_path_local", increment, "SELECT pg_catalog.set_config('search_path', 'app', true)", same,
     Outcome::Untouched, {}, {"SetSearchPath app local"}},
    {"set_config_parameter_value", increment, "SELECT set_config('search_path', $1, false)", same,
     Outcome::Untouched, {}, {"SearchPathUnknown"}},
    {"set_config_expression_value", increment, "SELECT set_config('search_path', current_user || ', public', false)",
     same, Outcome::Untouched, {}, {"SearchPathUnknown"}},
    {"set_config_unknown_name", increment, "SELECT set_config($1, $2, false)", same, Outcome::Untouched, {},
     {"SearchPathUnknown"}},
    {"set_config_in_view_ignored", increment,
     "CREATE VIEW v AS SELECT set_config('search_path', 'app', false)", same},
    {"set_checks_off", client, "SET staleguard.enabled = off", same, Outcome::Untouched, {},
     {"SetChecksEnabled off"}},
    {"set_checks_false", client, "SET staleguard.enabled TO false", same, Outcome::Untouched, {},
     {"SetChecksEnabled off"}},
    {"set_checks_true", client, "set staleguard.enabled = true", same, Outcome::Untouched, {},
     {"SetChecksEnabled on"}},
    {"set_checks_string_on", client, "SET staleguard.enabled = 'on'", same, Outcome::Untouched, {},
     {"SetChecksEnabled on"}},
    {"set_checks_zero", client, "SET staleguard.enabled = 0", same, Outcome::Untouched, {},
     {"SetChecksEnabled off"}},
    {"set_checks_local", client, "SET LOCAL staleguard.enabled = off", same, Outcome::Untouched, {},
     {"SetChecksEnabled off local"}},
    {"set_checks_mixed_case_name", client, "SET StaleGuard.Enabled = off", same, Outcome::Untouched, {},
     {"SetChecksEnabled off"}},
    {"set_checks_default", client, "SET staleguard.enabled TO DEFAULT", same, Outcome::Untouched, {},
     {"ResetChecksEnabled"}},
    {"reset_checks", client, "RESET staleguard.enabled", same, Outcome::Untouched, {}, {"ResetChecksEnabled"}},
    {"set_checks_invalid", client, "SET staleguard.enabled = maybe", same, Outcome::Rejected},
    {"set_config_checks", client, "SELECT set_config('staleguard.enabled', 'off', false)", same, Outcome::Untouched,
     {}, {"SetChecksEnabled off"}},
    {"effects_in_multi_statement", increment, "SET search_path TO app; SELECT 1; RESET search_path", same,
     Outcome::Untouched, {}, {"SetSearchPath app", "ResetSearchPath"}},
};

class RewriteGolden : public ::testing::TestWithParam<Case> {};

RewriteContext context_for(const Case& test_case) {
    RewriteContext context;
    const char* schema = test_case.resolve_to;
    context.resolve_schema = [schema](std::string_view) -> std::optional<std::string> {
        if (schema == nullptr) return std::nullopt;
        return std::string(schema);
    };
    context.role = test_case.role;
    context.checks_enabled = test_case.checks_enabled;
    return context;
}

TEST_P(RewriteGolden, Rewrites) {
    const Case& test_case = GetParam();
    const Rewriter rewriter(rule_set(test_case.rules));
    const RewriteContext context = context_for(test_case);
    const RewriteResult result = rewriter.rewrite(test_case.input, context);

    const std::string expected = test_case.expected == same ? test_case.input : test_case.expected;
    EXPECT_EQ(result.sql, expected);
    EXPECT_EQ(result.outcome, test_case.outcome) << result.error_message;
    EXPECT_EQ(all_checks(result), test_case.checks);
    EXPECT_EQ(all_effects(result), test_case.effects);
    if (result.outcome == Outcome::Rejected) {
        EXPECT_FALSE(result.error_sqlstate.empty());
        EXPECT_FALSE(result.error_message.empty());
        return;
    }
    EXPECT_TRUE(result.error_sqlstate.empty());
    if (result.outcome == Outcome::Rewritten) {
        EXPECT_TRUE(parse(result.sql).ok()) << result.sql;
        for (const StatementRewrite& statement : result.statements) {
            if (statement.rewritten) {
                EXPECT_TRUE(parse(statement.sql).ok()) << statement.sql;
            }
        }
    }
    // Rewriting is idempotent: what we send, were it sent again, would come back unchanged.
    const RewriteResult again = rewriter.rewrite(result.sql, context);
    EXPECT_EQ(again.sql, result.sql);
    EXPECT_EQ(all_checks(again), test_case.checks);
    // And a second call with the same text answers from the cache, identically.
    const RewriteResult cached = rewriter.rewrite(test_case.input, context);
    EXPECT_EQ(cached.sql, result.sql);
    EXPECT_EQ(cached.outcome, result.outcome);
}

INSTANTIATE_TEST_SUITE_P(Golden, RewriteGolden, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(RewriteGoldenTable, HasEnoughCases) { EXPECT_GE(cases.size(), 150u); }

RewriteContext public_context() {
    RewriteContext context;
    context.resolve_schema = [](std::string_view) -> std::optional<std::string> { return "public"; };
    context.role = "app";
    return context;
}

TEST(Rewriter, ReportsStatementDetails) {
    const Rewriter rewriter(rule_set(client));
    const RewriteResult result = rewriter.rewrite(
        "SELECT 1 ; PREPARE upd AS UPDATE accounts SET balance = $1 WHERE id = $2 AND version = $3 ; "
        "INSERT INTO accounts VALUES (1)",
        public_context());
    ASSERT_EQ(result.statements.size(), 3u);
    EXPECT_EQ(result.statements[0].sql, "SELECT 1");
    EXPECT_FALSE(result.statements[0].rewritten);
    EXPECT_TRUE(result.statements[0].protected_tables.empty());
    EXPECT_TRUE(result.statements[1].rewritten);
    EXPECT_EQ(result.statements[1].prepared_name, "upd");
    ASSERT_EQ(result.statements[1].checks.size(), 1u);
    EXPECT_EQ(result.statements[1].checks[0].rule, &rewriter.rules().tables[0]);
    EXPECT_EQ(result.statements[1].protected_tables, (std::vector<rules::QualifiedName>{{"public", "accounts"}}));
    EXPECT_EQ(result.statements[2].sql, "INSERT INTO accounts VALUES (1)");
    EXPECT_FALSE(result.statements[2].rewritten);
    EXPECT_EQ(result.statements[2].protected_tables, (std::vector<rules::QualifiedName>{{"public", "accounts"}}));
}

TEST(Rewriter, RejectionSaysWhy) {
    const Rewriter rewriter(rule_set(increment));
    const RewriteResult result =
        rewriter.rewrite("DO $$ BEGIN UPDATE accounts SET balance = 0; END $$", public_context());
    EXPECT_EQ(result.outcome, Outcome::Rejected);
    EXPECT_EQ(result.error_sqlstate, "0A000");
    EXPECT_NE(result.error_message.find("public.accounts"), std::string::npos) << result.error_message;
    EXPECT_NE(result.error_message.find("DO block"), std::string::npos) << result.error_message;

    const RewriteResult invalid = rewriter.rewrite("SET staleguard.enabled = perhaps", public_context());
    EXPECT_EQ(invalid.outcome, Outcome::Rejected);
    EXPECT_EQ(invalid.error_sqlstate, "22023");
}

TEST(Rewriter, PrecheckSkipsHarmlessStrings) {
    const Rewriter rewriter(rule_set(increment));
    EXPECT_FALSE(rewriter.may_need_rewrite("SELECT * FROM users WHERE id = 1"));
    EXPECT_TRUE(rewriter.may_need_rewrite("select * from ACCOUNTS"));
    EXPECT_TRUE(rewriter.may_need_rewrite("SET search_path TO x"));
    EXPECT_TRUE(rewriter.may_need_rewrite("set schema 'x'"));
    EXPECT_TRUE(rewriter.may_need_rewrite("DISCARD ALL"));
    EXPECT_TRUE(rewriter.may_need_rewrite("UPDATE U&\"\\0061ccounts\" SET a = 1"));
    const RewriteResult result = rewriter.rewrite("SELECT * FROM users", public_context());
    EXPECT_EQ(result.outcome, Outcome::Untouched);
    EXPECT_TRUE(result.statements.empty());
    EXPECT_EQ(rewriter.cache_stats().misses, 0u);  // never reached the cache
    EXPECT_FALSE(Rewriter(rule_set("")).may_need_rewrite("UPDATE accounts SET a = 1"));
}

TEST(Rewriter, UnicodeEscapedNameIsStillProtected) {
    const Rewriter rewriter(rule_set(increment));
    const RewriteResult result = rewriter.rewrite("UPDATE U&\"\\0061ccounts\" SET a = 1", public_context());
    EXPECT_EQ(result.sql, "UPDATE accounts SET a = 1, version = accounts.version + 1");
}

TEST(Rewriter, NamesToResolveAreBareProtectedTargets) {
    const Rewriter rewriter(rule_set("public.accounts mode=client; app.orders mode=client"));
    EXPECT_EQ(rewriter.names_to_resolve(
                  "UPDATE accounts SET a = 1; DELETE FROM orders; UPDATE public.accounts SET a = 2; "
                  "UPDATE users SET x = 1; SELECT * FROM accounts; UPDATE accounts SET b = 1"),
              (std::vector<std::string>{"accounts", "orders"}));
    EXPECT_TRUE(rewriter.names_to_resolve("UPDATE app.orders SET a = 1").empty());
    EXPECT_TRUE(rewriter.names_to_resolve("UPDATE accounts SET").empty());  // does not parse
    EXPECT_TRUE(rewriter.names_to_resolve("SELECT 1").empty());
}

TEST(Rewriter, ResolverIsAskedOnlyForProtectedBareNames) {
    const Rewriter rewriter(rule_set(increment));
    std::vector<std::string> asked;
    RewriteContext context;
    context.resolve_schema = [&asked](std::string_view name) -> std::optional<std::string> {
        asked.emplace_back(name);
        return "public";
    };
    (void)rewriter.rewrite("UPDATE accounts SET a = 1; UPDATE users SET b = 2; UPDATE public.accounts SET c = 3",
                           context);
    EXPECT_EQ(asked, (std::vector<std::string>{"accounts"}));
}

TEST(Rewriter, CacheHitAfterMissAndKeyedByContext) {
    const Rewriter rewriter(rule_set(client), 8);
    const std::string sql = "UPDATE accounts SET balance = 1 WHERE id = 1 AND version = 3";
    RewriteContext context = public_context();
    const RewriteResult first = rewriter.rewrite(sql, context);
    EXPECT_EQ(rewriter.cache_stats().misses, 1u);
    EXPECT_EQ(rewriter.cache_stats().hits, 0u);
    const RewriteResult second = rewriter.rewrite(sql, context);
    EXPECT_EQ(rewriter.cache_stats().hits, 1u);
    EXPECT_EQ(second.sql, first.sql);
    EXPECT_EQ(second.statements.at(0).checks.size(), 1u);

    context.checks_enabled = false;  // a different context must not share the entry
    EXPECT_TRUE(rewriter.rewrite(sql, context).statements.at(0).checks.empty());
    context.checks_enabled = true;
    context.resolve_schema = [](std::string_view) -> std::optional<std::string> { return "pg_temp_1"; };
    EXPECT_EQ(rewriter.rewrite(sql, context).outcome, Outcome::Untouched);
    EXPECT_EQ(rewriter.cache_stats().misses, 3u);
}

TEST(Rewriter, CacheIsBounded) {
    const Rewriter rewriter(rule_set(increment), 4);
    for (int i = 0; i < 20; ++i) {
        (void)rewriter.rewrite("UPDATE accounts SET balance = " + std::to_string(i), public_context());
    }
    EXPECT_EQ(rewriter.cache_stats().size, 4u);
    EXPECT_EQ(rewriter.cache_stats().capacity, 4u);
    // The most recent entries survive; the oldest were evicted.
    (void)rewriter.rewrite("UPDATE accounts SET balance = 19", public_context());
    EXPECT_EQ(rewriter.cache_stats().hits, 1u);
    (void)rewriter.rewrite("UPDATE accounts SET balance = 0", public_context());
    EXPECT_EQ(rewriter.cache_stats().hits, 1u);
}

TEST(Rewriter, ZeroCapacityDisablesCache) {
    const Rewriter rewriter(rule_set(increment), 0);
    (void)rewriter.rewrite("UPDATE accounts SET balance = 1", public_context());
    (void)rewriter.rewrite("UPDATE accounts SET balance = 1", public_context());
    EXPECT_EQ(rewriter.cache_stats().hits, 0u);
    EXPECT_EQ(rewriter.cache_stats().size, 0u);
}

TEST(Rewriter, HugeStatementsAreRewrittenButNotCached) {
    const Rewriter rewriter(rule_set(increment));
    const std::string sql = "UPDATE accounts SET note = '" + std::string(Rewriter::max_cached_statement_bytes, 'x') + "'";
    const RewriteResult result = rewriter.rewrite(sql, public_context());
    EXPECT_EQ(result.outcome, Outcome::Rewritten);
    EXPECT_EQ(rewriter.cache_stats().size, 0u);
}

TEST(Rewriter, ThreadSafeUnderConcurrentUse) {
    const Rewriter rewriter(rule_set(client), 16);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&rewriter, &wrong, t] {
            const RewriteContext context = public_context();
            for (int i = 0; i < 200; ++i) {
                const int id = (i * 7 + t) % 40;  // more texts than cache entries: hits, misses, evictions
                const std::string sql =
                    "UPDATE accounts SET balance = 1 WHERE id = " + std::to_string(id) + " AND version = 2";
                const RewriteResult result = rewriter.rewrite(sql, context);
                const std::string expected = "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE "
                                             "id = " + std::to_string(id) + " AND version = 2";
                if (result.sql != expected || result.statements.size() != 1 ||
                    result.statements[0].checks.size() != 1 ||
                    result.statements[0].checks[0].key_values != std::vector<std::string>{std::to_string(id)}) {
                    ++wrong;
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
    const RewriteCacheStats stats = rewriter.cache_stats();
    EXPECT_EQ(stats.hits + stats.misses, 800u);
    EXPECT_LE(stats.size, 16u);
}

}  // namespace
}  // namespace staleguard::parser
