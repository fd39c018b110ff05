// StatementGuard: plans for Query and Parse, checks carried through Bind and Execute, session settings.
#include "proxy/statement_guard.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "rules/table_rule.hpp"
#include "tests/proxy/error_response_support.hpp"

namespace staleguard::session {
namespace {

using testing::decode_error;

// The guard sees a Bind as it arrives: decoded, and as the frame it may rewrite.
BindPlan bind_in(StatementGuard& guard, const parser::Rewriter& rewriter, const wire::Bind& bind) {
    const std::vector<std::uint8_t> bytes = bind.encode();
    wire::FrameReader reader(wire::FrameLimits{});
    const auto outcome = reader.next(bytes, wire::FramePhase::Tagged);
    return guard.on_bind(rewriter, outcome.frame, bind);
}

using Kind = QueryPlan::Kind;

// The rules every case runs under: one table per behaviour worth telling apart.
std::shared_ptr<rules::RuleSet> test_rules(std::string sqlstate = "40001") {
    auto rules = std::make_shared<rules::RuleSet>();
    rules->sqlstate = std::move(sqlstate);
    rules::TableRule accounts;
    accounts.table = {"public", "accounts"};
    accounts.mode = rules::Mode::Client;
    rules->tables.push_back(accounts);

    rules::TableRule ledger;
    ledger.table = {"public", "ledger"};
    ledger.mode = rules::Mode::Increment;
    rules->tables.push_back(ledger);

    rules::TableRule events;
    events.table = {"public", "events"};
    events.kind = rules::VersionKind::Timestamp;
    events.version_column = "changed_at";
    rules->tables.push_back(events);

    rules::TableRule tenants;
    tenants.table = {"public", "tenant_accounts"};
    tenants.key = {"tenant", "id"};
    tenants.mode = rules::Mode::Client;
    rules->tables.push_back(tenants);

    rules::TableRule notes;
    notes.table = {"public", "notes"};
    notes.mode = rules::Mode::Client;
    notes.on_delete = rules::DeletePolicy::Allow;
    notes.bypass_roles = {"loader"};
    rules->tables.push_back(notes);
    return rules;
}

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

struct ExpectedCheck {
    std::string table;
    std::string key_columns;
    std::string key_values;
    std::string expected_version;
    std::size_t expected_rows = 1;
    bool is_delete = false;
};

void expect_check(const std::optional<WriteCheck>& actual, const std::optional<ExpectedCheck>& expected,
                  const std::string& sqlstate = "40001") {
    ASSERT_EQ(actual.has_value(), expected.has_value());
    if (!expected) return;
    EXPECT_EQ(actual->table, expected->table);
    EXPECT_EQ(actual->key_columns, expected->key_columns);
    EXPECT_EQ(actual->key_values, expected->key_values);
    EXPECT_EQ(actual->expected_version, expected->expected_version);
    EXPECT_EQ(actual->expected_rows, expected->expected_rows);
    EXPECT_EQ(actual->is_delete, expected->is_delete);
    EXPECT_EQ(actual->sqlstate, sqlstate);
}

// --- plan_query ------------------------------------------------------------------------------

struct ExpectedStatement {
    std::string sql;
    std::optional<ExpectedCheck> check;
};

struct QueryCase {
    std::string name;
    std::string sql;
    Kind kind;
    std::string replaced_sql;                       // Replace: the text sent instead
    std::vector<ExpectedStatement> statements = {};  // Translate
    std::string error_sqlstate = {};                 // Replace with an error shown instead
    std::string error_contains = {};
    std::string role = {};
};

const std::vector<QueryCase> kQueryCases = {
    {"NothingProtectedMentioned", "SELECT 1", Kind::Forward, ""},
    {"UnprotectedTable", "UPDATE other SET x = 1 WHERE id = 1", Kind::Forward, ""},
    {"ProtectedNameInsideAnotherName", "UPDATE accounts_archive SET version = 0 WHERE id = 1", Kind::Forward, ""},
    {"SelectOfProtectedTable", "SELECT * FROM accounts WHERE id = 1", Kind::Forward, ""},
    {"InsertIntoProtectedTable", "INSERT INTO accounts (id) VALUES (1)", Kind::Forward, ""},
    {"ClientModeWithoutVersionPredicateIsBumpedOnly", "UPDATE accounts SET balance = 0 WHERE id = 1",
     Kind::Replace, "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1"},
    {"ClientModeChecked", "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3", Kind::Translate, "",
     {{"UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND version = 3",
       ExpectedCheck{"public.accounts", "id", "1", "3"}}}},
    {"ClientModeCheckedWithAlias", "UPDATE accounts AS a SET balance = 0 WHERE a.id = 1 AND a.version = 3",
     Kind::Translate, "",
     {{"UPDATE accounts a SET balance = 0, version = a.version + 1 WHERE a.id = 1 AND a.version = 3",
       ExpectedCheck{"public.accounts", "id", "1", "3"}}}},
    {"InListCountsDistinctKeys", "UPDATE accounts SET balance = 0 WHERE id IN (1, 2, 2) AND version = 3",
     Kind::Translate, "",
     {{"UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (1, 2, 2) AND version = 3",
       ExpectedCheck{"public.accounts", "id", "(1, 2)", "3", 2}}}},
    {"ClientAssignsTheVersionItself", "UPDATE accounts SET version = 4 WHERE id = 1 AND version = 3",
     Kind::Translate, "",
     {{"UPDATE accounts SET version = 4 WHERE id = 1 AND version = 3",
       ExpectedCheck{"public.accounts", "id", "1", "3"}}}},
    {"DeleteChecked", "DELETE FROM accounts WHERE id = 5 AND version = 2", Kind::Translate, "",
     {{"DELETE FROM accounts WHERE id = 5 AND version = 2",
       ExpectedCheck{"public.accounts", "id", "5", "2", 1, true}}}},
    {"DeleteAllowed", "DELETE FROM notes WHERE id = 5 AND version = 2", Kind::Forward, ""},
    {"DeleteWithoutVersionNotChecked", "DELETE FROM accounts WHERE id = 5", Kind::Forward, ""},
    {"CompositeKeyInKeyOrder", "UPDATE tenant_accounts SET balance = 1 WHERE id = 7 AND tenant = 2 AND version = 1",
     Kind::Translate, "",
     {{"UPDATE tenant_accounts SET balance = 1, version = tenant_accounts.version + 1 WHERE id = 7 AND tenant = 2 "
       "AND version = 1",
       ExpectedCheck{"public.tenant_accounts", "tenant, id", "2, 7", "1"}}}},
    {"PartOfCompositeKeyNotChecked", "UPDATE tenant_accounts SET balance = 1 WHERE id = 7 AND version = 1",
     Kind::Replace,
     "UPDATE tenant_accounts SET balance = 1, version = tenant_accounts.version + 1 WHERE id = 7 AND version = 1"},
    {"StringLiteralVersion", "UPDATE accounts SET balance = 0 WHERE id = 'x' AND version = '2000-01-01'",
     Kind::Translate, "",
     {{"UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 'x' AND version = '2000-01-01'",
       ExpectedCheck{"public.accounts", "id", "x", "2000-01-01"}}}},
    {"IncrementModeBumpsAndReplacesTheClientsVersion",
     "UPDATE ledger SET amount = 1, version = 9 WHERE id = 1 AND version = 1", Kind::Replace,
     "UPDATE ledger SET amount = 1, version = ledger.version + 1 WHERE id = 1 AND version = 1"},
    // events is in track mode: an UPDATE not by key is bumped without a check (and shows the
    // session, unseen by the client, the versions it wrote).
    {"TimestampKind", "UPDATE events SET payload = 'x' WHERE payload <> 'x'", Kind::Replace,
     "UPDATE events SET payload = 'x', changed_at = clock_timestamp() WHERE payload <> 'x' RETURNING "
     "events.id::text AS staleguard_hidden_1, pg_catalog.\"extract\"('epoch', events.changed_at)::text AS "
     "staleguard_hidden_2"},
    {"SchemaQualified", "UPDATE public.ledger SET amount = 1", Kind::Replace,
     "UPDATE public.ledger SET amount = 1, version = ledger.version + 1"},
    {"OtherSchemaNotProtected", "UPDATE archive.ledger SET amount = 1", Kind::Forward, ""},
    {"MultiStatementTranslatedWhole",
     "INSERT INTO ledger (id) VALUES (1); UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1; SELECT 2",
     Kind::Translate, "",
     {{"INSERT INTO ledger (id) VALUES (1)", std::nullopt},
      {"UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND version = 1",
       ExpectedCheck{"public.accounts", "id", "1", "1"}},
      {"SELECT 2", std::nullopt}}},
    {"MultiStatementWithoutChecksReplaced", "SELECT 1; UPDATE ledger SET amount = 2 WHERE id = 1; SELECT 3",
     Kind::Replace, "SELECT 1; UPDATE ledger SET amount = 2, version = ledger.version + 1 WHERE id = 1; SELECT 3"},
    {"DataModifyingCteNotChecked",
     "WITH x AS (UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 1 RETURNING 1) SELECT count(*) FROM x",
     Kind::Replace,
     "WITH x AS (UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND version = 1 "
     "RETURNING 1) SELECT count(*) FROM x"},
    {"BypassRoleBumpedNotChecked", "UPDATE notes SET body = 'x' WHERE id = 1 AND version = 1", Kind::Replace,
     "UPDATE notes SET body = 'x', version = notes.version + 1 WHERE id = 1 AND version = 1", {}, "", "", "loader"},
    {"OtherRoleChecked", "UPDATE notes SET body = 'x' WHERE id = 1 AND version = 1", Kind::Translate, "",
     {{"UPDATE notes SET body = 'x', version = notes.version + 1 WHERE id = 1 AND version = 1",
       ExpectedCheck{"public.notes", "id", "1", "1"}}},
     "", "", "writer"},
    {"DoBlockRejected", "DO $$ BEGIN UPDATE accounts SET balance = 0; END $$", Kind::Replace,
     std::string(kServerSideFailure), {}, "0A000", "DO block"},
    {"BadStaleguardEnabledValueRejected", "SET staleguard.enabled = 'sometimes'", Kind::Replace,
     std::string(kServerSideFailure), {}, "22023", ""},
    {"SyntaxErrorForwardedForTheServer", "UPDATE accounts SET WHERE", Kind::Forward, ""},
};

class PlanQuery : public ::testing::TestWithParam<QueryCase> {};

TEST_P(PlanQuery, Plans) {
    const auto& c = GetParam();
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    guard.set_role(c.role);
    const QueryPlan plan = guard.plan_query(rewriter, c.sql);
    ASSERT_EQ(plan.kind, c.kind);
    if (c.kind == Kind::Replace) {
        EXPECT_EQ(plan.sql, c.replaced_sql);
    }
    if (c.kind != Kind::Translate) {
        EXPECT_TRUE(plan.statements.empty());
    }
    ASSERT_EQ(plan.statements.size(), c.statements.size());
    for (std::size_t i = 0; i < c.statements.size(); ++i) {
        SCOPED_TRACE("statement " + std::to_string(i));
        EXPECT_EQ(plan.statements[i].sql, c.statements[i].sql);
        expect_check(plan.statements[i].check, c.statements[i].check);
    }
    ASSERT_EQ(plan.replacement_error.has_value(), !c.error_sqlstate.empty());
    if (plan.replacement_error) {
        const auto error = decode_error(*plan.replacement_error);
        EXPECT_EQ(error.get(wire::field::Severity), "ERROR");
        EXPECT_EQ(error.get(wire::field::Code), c.error_sqlstate);
        EXPECT_NE(error.get(wire::field::Message).find(c.error_contains), std::string_view::npos)
            << error.get(wire::field::Message);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, PlanQuery, ::testing::ValuesIn(kQueryCases),
                         [](const auto& info) { return info.param.name; });

TEST(PlanQuery, RulesSqlstateGoesIntoTheCheck) {
    parser::Rewriter rewriter(test_rules("SG409"));
    StatementGuard guard;
    const auto plan = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3");
    ASSERT_EQ(plan.kind, Kind::Translate);
    expect_check(plan.statements.at(0).check, ExpectedCheck{"public.accounts", "id", "1", "3"}, "SG409");
}

TEST(PlanQuery, NoRulesForwardsEverything) {
    parser::Rewriter rewriter(std::make_shared<rules::RuleSet>());
    StatementGuard guard;
    EXPECT_EQ(guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3").kind,
              Kind::Forward);
}

// --- session settings ------------------------------------------------------------------------

// In SJIS 表 is 0x95 0x5C: its second byte is a backslash to a parser reading bytes as UTF-8, so
// a rewrite (whose E'...' literals double backslashes) would change the text.
TEST(SessionSettings, ClientOnlyEncodingLeavesNonAsciiStringsToThePolicy) {
    const std::string sjis = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3 AND owner = '\x95\x5cn'";
    const std::string ascii = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3";
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    guard.on_parameter_status("client_encoding", "SJIS");
    const auto refused = guard.plan_query(rewriter, sjis);
    ASSERT_EQ(refused.kind, Kind::Replace);
    ASSERT_TRUE(refused.replacement_error.has_value());
    const auto error = decode_error(*refused.replacement_error);
    EXPECT_EQ(error.get(wire::field::Code), "0A000");
    EXPECT_NE(error.get(wire::field::Message).find("client_encoding SJIS"), std::string::npos);
    EXPECT_FALSE(guard.plan_query(rewriter, ascii).replacement_error.has_value());
    EXPECT_EQ(guard.plan_query(rewriter, "SELECT '\x95\x5c' FROM users").kind, Kind::Forward);
    guard.on_parameter_status("client_encoding", "UTF8");
    EXPECT_FALSE(guard.plan_query(rewriter, "UPDATE accounts SET owner = '表' WHERE id = 1 AND version = 3")
                     .replacement_error.has_value());
}

// With standard_conforming_strings off the server reads `'q\' or true --'` as one string, the
// parser as a string, OR TRUE and a comment: analysing it would rewrite another statement.
TEST(SessionSettings, StandardConformingStringsOffLeavesBackslashStringsToThePolicy) {
    const std::string injected = "UPDATE accounts SET balance = 0 WHERE id = 1 AND owner <> 'q\\' or true --'";
    const std::string escape_string = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3 AND owner <> E'q\\\\'";
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    guard.on_parameter_status("standard_conforming_strings", "on");
    const auto rewritten = [&](const std::string& sql) {
        const auto plan = guard.plan_query(rewriter, sql);
        return plan.kind != Kind::Forward && !plan.replacement_error;
    };
    EXPECT_TRUE(rewritten(injected)) << "read as the server reads it";

    guard.on_parameter_status("standard_conforming_strings", "off");
    const auto refused = guard.plan_query(rewriter, injected);
    ASSERT_EQ(refused.kind, Kind::Replace);
    EXPECT_EQ(refused.sql, kServerSideFailure);
    ASSERT_TRUE(refused.replacement_error.has_value());
    EXPECT_EQ(decode_error(*refused.replacement_error).get(wire::field::Code), "0A000");
    const auto parse = guard.plan_parse(rewriter, wire::Parse{"s", injected, {}});
    EXPECT_EQ(parse.sql, kServerSideFailure);
    EXPECT_TRUE(parse.replacement_error.has_value());
    // An E'...' literal, a backslash nowhere or no protected table: read the same either way.
    EXPECT_TRUE(rewritten(escape_string));
    EXPECT_TRUE(rewritten("UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3"));
    EXPECT_EQ(guard.plan_query(rewriter, "UPDATE users SET name = 'a\\b' WHERE id = 1").kind, Kind::Forward);

    auto passing = test_rules();
    passing->unanalysable = rules::UnanalysablePolicy::Pass;
    parser::Rewriter lenient(passing);
    EXPECT_EQ(guard.plan_query(lenient, injected).kind, Kind::Forward) << "sent as written, untouched";
    const auto parse_passed = guard.plan_parse(lenient, wire::Parse{"s", injected, {}});
    EXPECT_FALSE(parse_passed.sql.has_value());
    EXPECT_FALSE(parse_passed.replacement_error.has_value());
}

TEST(SessionSettings, StaleguardEnabledSetAndReset) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    const std::string checked = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3";
    EXPECT_TRUE(guard.checks_enabled());
    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    EXPECT_FALSE(guard.checks_enabled());
    // Checks off: the bump stays, the check goes.
    const auto plan = guard.plan_query(rewriter, checked);
    EXPECT_EQ(plan.kind, Kind::Replace);
    EXPECT_EQ(plan.sql, "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND version = 3");
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_FALSE(guard.checks_enabled()) << "a session-level SET outlives the transaction";
    guard.plan_query(rewriter, "RESET staleguard.enabled");
    EXPECT_TRUE(guard.checks_enabled());
    EXPECT_EQ(guard.plan_query(rewriter, checked).kind, Kind::Translate);
    guard.plan_query(rewriter, "SET staleguard.enabled TO false");
    EXPECT_FALSE(guard.checks_enabled());
    guard.plan_query(rewriter, "SET staleguard.enabled = on");
    EXPECT_TRUE(guard.checks_enabled());
    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.plan_query(rewriter, "RESET ALL");
    EXPECT_TRUE(guard.checks_enabled());
    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.plan_query(rewriter, "DISCARD ALL");
    EXPECT_TRUE(guard.checks_enabled());
}

// PostgreSQL undoes a SET that its transaction or savepoint rolls back; staleguard must not keep
// checks off that the server no longer has off.
TEST(SessionSettings, RolledBackSetOfStaleguardEnabledTurnsChecksBackOn) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    using Status = wire::TransactionStatus;
    guard.plan_query(rewriter, "BEGIN");
    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.on_ready_for_query(Status::InTransaction);
    EXPECT_FALSE(guard.checks_enabled());
    guard.on_command_complete("ROLLBACK");
    guard.on_ready_for_query(Status::Idle);
    EXPECT_TRUE(guard.checks_enabled()) << "ROLLBACK";

    guard.plan_query(rewriter, "SET staleguard.enabled = off; SELECT 1/0");
    guard.on_server_error();
    guard.on_ready_for_query(Status::Idle);
    EXPECT_TRUE(guard.checks_enabled()) << "an implicit transaction that failed";

    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.on_command_complete("SAVEPOINT");
    guard.on_command_complete("ROLLBACK");  // to the savepoint, which came after the SET: on is the safe guess
    EXPECT_TRUE(guard.checks_enabled()) << "ROLLBACK TO SAVEPOINT";
    guard.on_ready_for_query(Status::InTransaction);
    guard.on_command_complete("COMMIT");
    guard.on_ready_for_query(Status::Idle);

    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.on_command_complete("SET");
    guard.on_ready_for_query(Status::Idle);
    guard.on_command_complete("ROLLBACK");  // a later transaction's: the SET was committed
    guard.on_ready_for_query(Status::Idle);
    EXPECT_FALSE(guard.checks_enabled()) << "committed before the rollback";
}

TEST(SessionSettings, SetLocalStaleguardEnabledEndsAtIdle) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    guard.plan_query(rewriter, "BEGIN");
    guard.plan_query(rewriter, "SET LOCAL staleguard.enabled = off");
    EXPECT_FALSE(guard.checks_enabled());
    guard.on_ready_for_query(wire::TransactionStatus::InTransaction);
    EXPECT_FALSE(guard.checks_enabled());
    guard.on_ready_for_query(wire::TransactionStatus::Failed);
    EXPECT_FALSE(guard.checks_enabled());
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_TRUE(guard.checks_enabled());
    // SET LOCAL over a session-level off: back to off at the end.
    guard.plan_query(rewriter, "SET staleguard.enabled = off");
    guard.plan_query(rewriter, "SET LOCAL staleguard.enabled = on");
    EXPECT_TRUE(guard.checks_enabled());
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_FALSE(guard.checks_enabled());
}

TEST(SessionSettings, SearchPathSetLocalAndReset) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    EXPECT_FALSE(guard.search_path().has_value());
    guard.plan_query(rewriter, "SET search_path = archive, public");
    EXPECT_EQ(guard.search_path(), std::optional<std::string>("archive, public"));
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_EQ(guard.search_path(), std::optional<std::string>("archive, public"));

    guard.plan_query(rewriter, "SET LOCAL search_path TO billing");
    EXPECT_EQ(guard.search_path(), std::optional<std::string>("billing"));
    guard.on_ready_for_query(wire::TransactionStatus::InTransaction);
    EXPECT_EQ(guard.search_path(), std::optional<std::string>("billing"));
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_EQ(guard.search_path(), std::optional<std::string>("archive, public"));

    guard.plan_query(rewriter, "RESET search_path");
    EXPECT_FALSE(guard.search_path().has_value());
    guard.plan_query(rewriter, "SET search_path = archive");
    guard.plan_query(rewriter, "SET search_path TO DEFAULT");
    EXPECT_FALSE(guard.search_path().has_value());
    guard.plan_query(rewriter, "SET search_path = archive");
    guard.plan_query(rewriter, "RESET ALL");
    EXPECT_FALSE(guard.search_path().has_value());
}

TEST(SessionSettings, SearchPathDecidesWhatABareNameIs) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    const std::string stale = "UPDATE accounts SET balance = 0 WHERE id = 1 AND version = 3";
    // Nothing learnt yet: the session asks the server about the bare protected name.
    EXPECT_EQ(guard.names_to_look_up(rewriter, stale), std::vector<std::string>{"accounts"});
    EXPECT_TRUE(guard.names_to_look_up(rewriter, "SELECT 1").empty());
    EXPECT_TRUE(guard.names_to_look_up(rewriter, "UPDATE public.accounts SET balance = 0").empty());
    guard.remember_lookup("accounts", "archive");
    EXPECT_TRUE(guard.search_path_known_for("accounts"));
    EXPECT_TRUE(guard.names_to_look_up(rewriter, stale).empty());
    EXPECT_EQ(guard.plan_query(rewriter, stale).kind, Kind::Forward);
    // The qualified name is protected whatever the path.
    EXPECT_EQ(guard.plan_query(rewriter, "UPDATE public.accounts SET balance = 0 WHERE id = 1 AND version = 3").kind,
              Kind::Translate);
    // A new search_path forgets what was learnt.
    guard.plan_query(rewriter, "SET search_path = public");
    EXPECT_FALSE(guard.search_path_known_for("accounts"));
    EXPECT_EQ(guard.names_to_look_up(rewriter, stale), std::vector<std::string>{"accounts"});
    EXPECT_EQ(guard.plan_query(rewriter, stale).kind, Kind::Translate);
    // No table of that name on the path at all.
    guard.remember_lookup("accounts", std::nullopt);
    EXPECT_EQ(guard.plan_query(rewriter, stale).kind, Kind::Forward);
    // Without a lookup, the known search_path decides.
    guard.set_search_path("archive");
    EXPECT_EQ(guard.plan_query(rewriter, stale).kind, Kind::Forward);
    guard.set_search_path("\"$user\", public");
    EXPECT_EQ(guard.plan_query(rewriter, stale).kind, Kind::Translate);
}

// --- extended protocol -----------------------------------------------------------------------

constexpr std::uint32_t kInt2 = 21;
constexpr std::uint32_t kInt4 = 23;
constexpr std::uint32_t kDate = 1082;
constexpr std::uint32_t kInt8 = 20;
constexpr std::uint32_t kText = 25;
constexpr std::uint32_t kUuid = 2950;

std::vector<std::uint8_t> big_endian(std::uint64_t value, std::size_t size) {
    std::vector<std::uint8_t> out(size);
    for (std::size_t i = 0; i < size; ++i) out[size - 1 - i] = static_cast<std::uint8_t>(value >> (8 * i));
    return out;
}

// A Bind whose parameter views point into `storage`, which must outlive it.
struct BindBuilder {
    std::vector<std::vector<std::uint8_t>> storage;
    std::vector<bool> nulls;
    std::vector<std::int16_t> formats;

    BindBuilder& text(std::string_view value) {
        storage.push_back(bytes_of(value));
        nulls.push_back(false);
        return *this;
    }
    BindBuilder& binary(std::vector<std::uint8_t> value) {
        storage.push_back(std::move(value));
        nulls.push_back(false);
        return *this;
    }
    BindBuilder& null() {
        storage.emplace_back();
        nulls.push_back(true);
        return *this;
    }
    wire::Bind build(std::string_view statement = "", std::string_view portal = "") const {
        wire::Bind bind;
        bind.statement = statement;
        bind.portal = portal;
        bind.parameter_formats = formats;
        for (std::size_t i = 0; i < storage.size(); ++i) {
            if (nulls[i]) bind.parameters.emplace_back(std::nullopt);
            else bind.parameters.emplace_back(wire::Bytes(storage[i]));
        }
        return bind;
    }
};

struct ParameterCase {
    std::string name;
    std::string key_type;  // how the Parse declares $1
    std::uint32_t key_oid;
    std::int16_t key_format;
    std::vector<std::uint8_t> key_value;
    std::string shown;
};

const std::uint8_t kUuidBytes[16] = {0x0b, 0x7e, 0x8e, 0x4c, 0x7a, 0x4e, 0x4d, 0x55,
                                     0x9d, 0x1c, 0x2f, 0x6e, 0x3b, 0x9a, 0x1c, 0x00};

const std::vector<ParameterCase> kParameterCases = {
    {"TextFormat", "int4", kInt4, 0, bytes_of("42"), "42"},
    {"TextFormatUndeclared", "", 0, 0, bytes_of("42"), "42"},
    {"BinaryInt2", "int2", kInt2, 1, big_endian(7, 2), "7"},
    {"BinaryInt2Negative", "int2", kInt2, 1, big_endian(0xfffd, 2), "-3"},
    {"BinaryInt4", "int4", kInt4, 1, big_endian(70000, 4), "70000"},
    {"BinaryInt4Negative", "int4", kInt4, 1, big_endian(0xffffffffu, 4), "-1"},
    {"BinaryInt8", "int8", kInt8, 1, big_endian(1099511627776ull, 8), "1099511627776"},
    {"BinaryInt8Min", "int8", kInt8, 1, big_endian(0x8000000000000000ull, 8), "-9223372036854775808"},
    {"BinaryText", "text", kText, 1, bytes_of("alpha"), "alpha"},
    {"BinaryUuid", "uuid", kUuid, 1, std::vector<std::uint8_t>(std::begin(kUuidBytes), std::end(kUuidBytes)),
     "0b7e8e4c-7a4e-4d55-9d1c-2f6e3b9a1c00"},
    {"BinaryInt4WrongSize", "int4", kInt4, 1, big_endian(7, 2), "?"},
    {"BinaryUndeclaredType", "", 0, 1, big_endian(7, 4), "?"},
};

class ExtendedProtocol : public ::testing::TestWithParam<ParameterCase> {};

TEST_P(ExtendedProtocol, BindFillsTheCheck) {
    const auto& c = GetParam();
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    wire::Parse parse;
    parse.statement = "upd";
    const std::string sql = "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2";
    parse.query = sql;
    parse.parameter_types = {c.key_oid, kInt8};
    const ParsePlan plan = guard.plan_parse(rewriter, parse);
    ASSERT_TRUE(plan.sql.has_value());
    EXPECT_EQ(*plan.sql, "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = $1 AND version = $2");
    EXPECT_FALSE(plan.replacement_error.has_value());

    BindBuilder builder;
    builder.binary(c.key_value).binary(big_endian(9, 8));
    builder.formats = {c.key_format, 1};
    bind_in(guard, rewriter, builder.build("upd", "p1"));
    expect_check(guard.on_execute(wire::Execute{"p1", 0}).check, ExpectedCheck{"public.accounts", "id", c.shown, "9"});
    EXPECT_FALSE(guard.on_execute(wire::Execute{"", 0}).check.has_value()) << "only the bound portal is checked";
}

INSTANTIATE_TEST_SUITE_P(Parameters, ExtendedProtocol, ::testing::ValuesIn(kParameterCases),
                         [](const auto& info) { return info.param.name; });

TEST(ExtendedProtocol, NamedStatementBoundManyTimes) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    const std::string sql = "UPDATE accounts SET balance = $3 WHERE id IN ($1, $2) AND version = $4";
    (void)guard.plan_parse(rewriter, wire::Parse{"s", sql, {}});
    for (const auto& [first, second, rows, shown] :
         std::vector<std::tuple<std::string, std::string, std::size_t, std::string>>{
             {"1", "2", 2, "(1, 2)"}, {"5", "6", 2, "(5, 6)"}}) {
        BindBuilder builder;
        builder.text(first).text(second).text("0").text("4");
        bind_in(guard, rewriter, builder.build("s"));
        // Known only at Bind: the rows expected are counted from the $n, not from their values.
        expect_check(guard.on_execute(wire::Execute{"", 0}).check, ExpectedCheck{"public.accounts", "id", shown, "4", rows});
    }
}

TEST(ExtendedProtocol, InListParametersBoundToEqualValuesExpectOneRow) {
    // PostgreSQL updates one row for `id IN (1, 1)`: expecting two would call a fresh write stale.
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"s", "UPDATE accounts SET balance = 0 WHERE id IN ($1, $2) AND version = $3", {}});
    BindBuilder builder;
    builder.text("1").text("1").text("4");
    bind_in(guard, rewriter, builder.build("s"));
    const auto check = guard.on_execute(wire::Execute{"", 0}).check;
    ASSERT_TRUE(check.has_value());
    EXPECT_EQ(check->expected_rows, 1u);
}

TEST(ExtendedProtocol, UnnamedStatementAndNullParameter) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"", "DELETE FROM accounts WHERE id = $1 AND version = $2", {}});
    BindBuilder builder;
    builder.text("3").null();
    bind_in(guard, rewriter, builder.build());
    expect_check(guard.on_execute(wire::Execute{"", 0}).check,
                 ExpectedCheck{"public.accounts", "id", "3", "NULL", 1, true});
}

TEST(ExtendedProtocol, StatementsWithoutChecks) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    // Untouched: nothing to send instead, nothing to check.
    auto plan = guard.plan_parse(rewriter, wire::Parse{"a", "SELECT * FROM accounts WHERE id = $1", {}});
    EXPECT_FALSE(plan.sql.has_value());
    plan = guard.plan_parse(rewriter, wire::Parse{"b", "SELECT $1::int", {}});
    EXPECT_FALSE(plan.sql.has_value());
    // Increment mode: rewritten, never checked.
    plan = guard.plan_parse(rewriter, wire::Parse{"c", "UPDATE ledger SET amount = $1 WHERE id = $2 AND version = $3", {}});
    ASSERT_TRUE(plan.sql.has_value());
    EXPECT_EQ(*plan.sql, "UPDATE ledger SET amount = $1, version = ledger.version + 1 WHERE id = $2 AND version = $3");
    for (const char* name : {"a", "b", "c", "never-parsed"}) {
        BindBuilder builder;
        builder.text("1").text("2").text("3");
        bind_in(guard, rewriter, builder.build(name, "p"));
        EXPECT_FALSE(guard.on_execute(wire::Execute{"p", 0}).check.has_value()) << name;
    }
}

TEST(ExtendedProtocol, RejectedParse) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    const auto plan = guard.plan_parse(rewriter, wire::Parse{"x", "DO $$ BEGIN DELETE FROM accounts; END $$", {}});
    ASSERT_TRUE(plan.sql.has_value());
    EXPECT_EQ(*plan.sql, kServerSideFailure);
    ASSERT_TRUE(plan.replacement_error.has_value());
    const auto error = decode_error(*plan.replacement_error);
    EXPECT_EQ(error.get(wire::field::Code), "0A000");
    EXPECT_EQ(error.get(wire::field::Hint),
              "Send it straight to PostgreSQL (as for schema changes), or let such statements through unchanged "
              "with unanalysable: pass in the rule file.");
}

TEST(ExtendedProtocol, ReparseReplacesTheCheck) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"s", "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2", {}});
    (void)guard.plan_parse(rewriter, wire::Parse{"s", "SELECT $1::int, $2::int", {}});
    BindBuilder builder;
    builder.text("1").text("2");
    bind_in(guard, rewriter, builder.build("s"));
    EXPECT_FALSE(guard.on_execute(wire::Execute{"", 0}).check.has_value());
}

TEST(ExtendedProtocol, SimpleQueryDropsTheUnnamedStatementAndPortal) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"", "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2", {}});
    BindBuilder builder;
    builder.text("1").text("2");
    bind_in(guard, rewriter, builder.build());
    ASSERT_TRUE(guard.on_execute(wire::Execute{"", 0}).check.has_value());
    (void)guard.plan_query(rewriter, "SELECT 1");
    EXPECT_FALSE(guard.on_execute(wire::Execute{"", 0}).check.has_value());
    bind_in(guard, rewriter, builder.build());
    EXPECT_FALSE(guard.on_execute(wire::Execute{"", 0}).check.has_value());
}

TEST(ExtendedProtocol, CloseStatementAndPortal) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"s", "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2", {}});
    BindBuilder builder;
    builder.text("1").text("2");
    bind_in(guard, rewriter, builder.build("s", "p"));
    bind_in(guard, rewriter, builder.build("s", "q"));
    guard.on_close(wire::Close{wire::ObjectKind::Portal, "p"});
    EXPECT_FALSE(guard.on_execute(wire::Execute{"p", 0}).check.has_value());
    EXPECT_TRUE(guard.on_execute(wire::Execute{"q", 0}).check.has_value());
    guard.on_close(wire::Close{wire::ObjectKind::Statement, "s"});
    // The portal bound before the Close keeps its check; new Binds to the closed name have none.
    EXPECT_TRUE(guard.on_execute(wire::Execute{"q", 0}).check.has_value());
    bind_in(guard, rewriter, builder.build("s", "r"));
    EXPECT_FALSE(guard.on_execute(wire::Execute{"r", 0}).check.has_value());
}

TEST(ExtendedProtocol, PortalsEndWithTheTransaction) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_parse(rewriter, wire::Parse{"s", "UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2", {}});
    BindBuilder builder;
    builder.text("1").text("2");
    bind_in(guard, rewriter, builder.build("s", "p"));
    guard.on_ready_for_query(wire::TransactionStatus::InTransaction);
    EXPECT_TRUE(guard.on_execute(wire::Execute{"p", 0}).check.has_value());
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_FALSE(guard.on_execute(wire::Execute{"p", 0}).check.has_value());
    // The statement itself lives on.
    bind_in(guard, rewriter, builder.build("s", "p"));
    EXPECT_TRUE(guard.on_execute(wire::Execute{"p", 0}).check.has_value());
}

// --- substitute_parameters -------------------------------------------------------------------

struct SubstituteCase {
    std::string name;
    std::string text;
    std::vector<std::string> values;  // "\x01NULL" for a NULL
    std::vector<std::int16_t> formats;
    std::vector<std::uint32_t> types;
    std::string expected;
    wire::ValueTextSettings settings = {};
};

const std::string kNull = "\x01NULL";
const std::string kDate20240501("\0\0\x22\xb7", 4);  // date_send('2024-05-01')

const std::vector<SubstituteCase> kSubstituteCases = {
    {"NoParameters", "(1, 2)", {}, {}, {}, "(1, 2)"},
    {"OneText", "$1", {"7"}, {}, {}, "7"},
    {"SeveralInList", "($1, $2, $3)", {"1", "2", "3"}, {}, {}, "(1, 2, 3)"},
    {"TwoDigitNumber", "$10", {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, {}, {}, "j"},
    {"OutOfRangeKept", "$3", {"1"}, {}, {}, "$3"},
    {"ZeroKept", "$0", {"1"}, {}, {}, "$0"},
    {"DollarWithoutDigitKept", "$a $", {"1"}, {}, {}, "$a $"},
    {"Null", "$1", {kNull}, {}, {}, "NULL"},
    {"AllTextByZeroFormat", "$1,$2", {"x", "y"}, {0}, {}, "x,y"},
    {"OneFormatForAll", "$1,$2", {std::string("\0\x07", 2), std::string("\0\0\0\x08", 4)}, {1}, {kInt2, kInt4}, "7,8"},
    {"FormatPerParameter", "$1,$2", {"5", std::string("\0\x07", 2)}, {0, 1}, {kInt4, kInt2}, "5,7"},
    {"BinaryUnknownType", "$1", {std::string("\0\x07", 2)}, {1}, {}, "?"},
    {"BinaryDateUnderIsoDates", "$1", {kDate20240501}, {1}, {kDate}, "2024-05-01", {.iso_dates = true}},
    {"BinaryDateUnderAnotherDateStyle", "$1", {kDate20240501}, {1}, {kDate}, "?"},
};

class SubstituteParameters : public ::testing::TestWithParam<SubstituteCase> {};

TEST_P(SubstituteParameters, Renders) {
    const auto& c = GetParam();
    BindBuilder builder;
    builder.formats = c.formats;
    for (const auto& value : c.values) {
        if (value == kNull) builder.null();
        else builder.text(value);
    }
    EXPECT_EQ(substitute_parameters(c.text, builder.build(), c.types, c.settings), c.expected);
}

INSTANTIATE_TEST_SUITE_P(Cases, SubstituteParameters, ::testing::ValuesIn(kSubstituteCases),
                         [](const auto& info) { return info.param.name; });

// --- stale_write_error -----------------------------------------------------------------------

struct ErrorCase {
    std::string name;
    WriteCheck check;
    std::uint64_t rows_changed;
    std::string message;
    std::string detail;
};

WriteCheck make_check(std::string key_columns, std::string key_values, std::string version, std::size_t rows,
                      bool is_delete = false, std::string sqlstate = "40001") {
    WriteCheck check;
    check.table = "public.accounts";
    check.key_columns = std::move(key_columns);
    check.key_values = std::move(key_values);
    check.expected_version = std::move(version);
    check.expected_rows = rows;
    check.is_delete = is_delete;
    check.sqlstate = std::move(sqlstate);
    return check;
}

const std::vector<ErrorCase> kErrorCases = {
    {"OneRow", make_check("id", "1", "3", 1), 0,
     "stale write to public.accounts (id)=(1): row changed since it was read",
     "Expected version 3. The row was changed or deleted by another session; nothing was written."},
    {"CompositeKey", make_check("tenant, id", "2, 7", "1", 1), 0,
     "stale write to public.accounts (tenant, id)=(2, 7): row changed since it was read",
     "Expected version 1. The row was changed or deleted by another session; nothing was written."},
    {"InList", make_check("id", "(1, 2, 3)", "1", 3), 2,
     "stale write to public.accounts (id) in (1, 2, 3): rows changed since they were read",
     "Expected version 1. 2 of 3 rows still had that version; nothing was written."},
    {"Delete", make_check("id", "4", "1", 1, true), 0,
     "stale write to public.accounts (id)=(4): row changed since it was read",
     "Expected version 1. The row was changed or deleted by another session; it was not deleted."},
    {"UnknownKeyAndVersion", make_check("id", "", "", 1), 0,
     "stale write to public.accounts: row changed since it was read",
     "The row was changed or deleted by another session; nothing was written."},
    {"CustomSqlstate", make_check("id", "1", "3", 1, false, "SG409"), 0,
     "stale write to public.accounts (id)=(1): row changed since it was read",
     "Expected version 3. The row was changed or deleted by another session; nothing was written."},
};

class StaleWriteError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(StaleWriteError, Fields) {
    const auto& c = GetParam();
    const auto error = stale_write_error(c.check, c.rows_changed);
    EXPECT_EQ(error.get(wire::field::Severity), "ERROR");
    EXPECT_EQ(error.get(wire::field::SeverityNonLocalized), "ERROR");
    EXPECT_EQ(error.get(wire::field::Code), c.check.sqlstate);
    EXPECT_EQ(error.get(wire::field::Message), c.message);
    EXPECT_EQ(error.get(wire::field::Detail), c.detail);
    EXPECT_EQ(error.get(wire::field::Hint), "Read the row again and retry the change.");
    // It survives the wire: what the client decodes is what was built.
    const auto decoded = decode_error(error.encode());
    EXPECT_EQ(decoded.fields, error.fields);
}

INSTANTIATE_TEST_SUITE_P(Cases, StaleWriteError, ::testing::ValuesIn(kErrorCases),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::session

namespace staleguard::session {
namespace {

TEST(SqlPrepare, ExecuteCarriesThePreparedCheckWithItsArguments) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    EXPECT_FALSE(guard.may_act_on(rewriter, "EXECUTE upd(1, 4)"));
    auto prepare = guard.plan_query(rewriter, "PREPARE upd(int, int) AS UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2");
    EXPECT_EQ(prepare.kind, QueryPlan::Kind::Replace);  // the bump goes into the PREPAREd statement
    EXPECT_TRUE(guard.may_act_on(rewriter, "EXECUTE upd(1, 4)"));
    auto execute = guard.plan_query(rewriter, "EXECUTE upd(1, 4)");
    ASSERT_EQ(execute.kind, QueryPlan::Kind::Translate);
    ASSERT_EQ(execute.statements.size(), 1u);
    EXPECT_EQ(execute.statements[0].sql, "EXECUTE upd(1, 4)");
    expect_check(execute.statements[0].check, ExpectedCheck{"public.accounts", "id", "1", "4", 1, false});
    // An expression argument is not followed: the check still applies, the value shows as "?".
    auto unknown = guard.plan_query(rewriter, "EXECUTE upd(1 + 0, 4)");
    expect_check(unknown.statements.at(0).check, ExpectedCheck{"public.accounts", "id", "?", "4", 1, false});
    // Through the extended protocol too.
    (void)guard.plan_parse(rewriter, wire::Parse{"e", "EXECUTE upd(2, 5)", {}});
    BindBuilder builder;
    bind_in(guard, rewriter, builder.build("e"));
    expect_check(guard.on_execute(wire::Execute{"", 0}).check, ExpectedCheck{"public.accounts", "id", "2", "5", 1, false});
}

TEST(SqlPrepare, UncheckedPrepareAndDiscardAllForgetTheCheck) {
    parser::Rewriter rewriter(test_rules());
    StatementGuard guard;
    (void)guard.plan_query(rewriter, "PREPARE upd(int, int) AS UPDATE accounts SET balance = 0 WHERE id = $1 AND version = $2");
    (void)guard.plan_query(rewriter, "PREPARE upd(int) AS UPDATE accounts SET balance = 0 WHERE id = $1");
    EXPECT_NE(guard.plan_query(rewriter, "EXECUTE upd(1)").kind, QueryPlan::Kind::Translate);
    (void)guard.plan_query(rewriter, "PREPARE other(int, int) AS DELETE FROM accounts WHERE id = $1 AND version = $2");
    EXPECT_EQ(guard.plan_query(rewriter, "EXECUTE other(1, 2)").kind, QueryPlan::Kind::Translate);
    (void)guard.plan_query(rewriter, "DISCARD ALL");
    EXPECT_FALSE(guard.may_act_on(rewriter, "EXECUTE other(1, 2)"));
}

}  // namespace
}  // namespace staleguard::session
