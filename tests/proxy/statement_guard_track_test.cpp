// Tests for the statement guard in track mode: tracked reads, keyed writes checked against the ReadSet, Bind and Describe.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/statement_guard.hpp"
#include "rules/table_rule.hpp"
#include "tests/proxy/error_response_support.hpp"

namespace staleguard::session {
namespace {

using testing::decode_error;

using Kind = QueryPlan::Kind;

std::shared_ptr<rules::RuleSet> track_rules(rules::UnreadPolicy unread = rules::UnreadPolicy::Allow) {
    auto rules = std::make_shared<rules::RuleSet>();
    rules::TableRule accounts;  // mode track, key [id], version `version`: the defaults
    accounts.table = {"public", "accounts"};
    accounts.unread = unread;
    accounts.bypass_roles = {"loader"};
    rules->tables.push_back(accounts);
    rules::TableRule tenants;
    tenants.table = {"public", "tenant_accounts"};
    tenants.key = {"tenant", "id"};
    rules->tables.push_back(tenants);
    rules::TableRule stamped;
    stamped.table = {"public", "stamped"};
    stamped.version_column = "changed_at";
    stamped.kind = rules::VersionKind::Timestamp;
    rules->tables.push_back(stamped);
    rules::TableRule triggered;
    triggered.table = {"public", "triggered"};
    triggered.bumped_by = rules::BumpedBy::Trigger;
    rules->tables.push_back(triggered);
    return rules;
}

// What the session does when rows of a tracked read arrive.
void read_rows(StatementGuard& guard, const std::string& table, const std::vector<std::vector<std::string>>& rows) {
    HiddenLayout layout;
    layout.groups.push_back(HiddenColumnGroup{table, rows.empty() ? 1 : rows.front().size() - 1});
    std::vector<TrackedRow> tracked;
    for (const auto& row : rows) {
        TrackedRow out;
        for (std::size_t i = 0; i + 1 < row.size(); ++i) out.keys.emplace_back(row[i]);
        out.version = row.back();
        tracked.push_back(out);
    }
    guard.remember_read(layout, tracked);
}

struct TrackQueryCase {
    std::string name;
    std::string sql;
    Kind kind;
    std::string sent;                 // Replace: plan.sql; Translate: the first statement's text
    std::size_t hidden_columns = 0;   // of the (first) tracked statement
    std::vector<std::string> seen_keys = {};  // the check's rows, "1" or "1,7"
    std::string error_sqlstate = {};
    std::string error_message = {};
    std::string role = "app";
    // A checked write sent without its hidden RETURNING: "keys=version" it leaves if it changes a
    // row (empty: it keeps its RETURNING).
    std::string written_if_one_row = {};
};

// The session has read accounts 1 (version 3), 2 (version 5) and 6 (the largest bigint), tenant 7's account 1
// (version 2), stamped 4 and triggered 4.
const std::vector<TrackQueryCase> kTrackQueryCases = {
    {"SelectGetsHiddenColumns", "SELECT balance FROM accounts WHERE id = 1", Kind::Replace,
     "SELECT balance, accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2 "
     "FROM accounts WHERE id = 1",
     2},
    {"AggregateIsNotTracked", "SELECT count(*) FROM accounts", Kind::Forward, ""},
    {"ReadOfAnotherTableIsForwarded", "SELECT * FROM ledger", Kind::Forward, ""},
    // One seen row, a counter staleguard bumps: if it changes the row, the version is 3 + 1, so
    // the hidden RETURNING is left off (it costs the server more than the check and bump).
    {"KeyedUpdateOfASeenRowIsChecked", "UPDATE accounts SET balance = 0 WHERE id = 1", Kind::Translate,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND "
     "(accounts.version::pg_catalog.text = E'3')",
     2, {"1"}, "", "", "app", "1=4"},
    {"CompositeKeyOfASeenRowGoesWithoutReturning",
     "UPDATE tenant_accounts AS t SET note = 'x' WHERE t.tenant = 7 AND t.id = 1 /* saved */", Kind::Translate,
     "UPDATE tenant_accounts t SET note = 'x', version = t.version + 1 WHERE t.tenant = 7 AND t.id = 1 AND "
     "(t.version::pg_catalog.text = E'2')",
     3, {"7,1"}, "", "", "app", "7,1=3"},
    // The client's own RETURNING stays, and the hidden columns with it.
    {"ClientReturningKeepsTheHiddenColumns", "UPDATE accounts SET balance = 0 WHERE id = 1 RETURNING balance",
     Kind::Translate,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 1 AND "
     "(accounts.version::pg_catalog.text = E'3') RETURNING balance, accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     2, {"1"}},
    // What the write leaves is not known from what was read: the RETURNING tells it.
    {"SetKeyKeepsTheReturning", "UPDATE accounts SET id = 5 WHERE id = 1", Kind::Translate,
     "UPDATE accounts SET id = 5, version = accounts.version + 1 WHERE id = 1 AND "
     "(accounts.version::pg_catalog.text = E'3') RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     2, {"1"}},
    {"DeleteKeepsTheReturning", "DELETE FROM accounts WHERE id = 1", Kind::Translate,
     "DELETE FROM accounts WHERE id = 1 AND (accounts.version::pg_catalog.text = E'3') RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2, {"1"}},
    {"TimestampKeepsTheReturning", "UPDATE stamped SET note = 'x' WHERE id = 4", Kind::Translate,
     "UPDATE stamped SET note = 'x', changed_at = clock_timestamp() WHERE id = 4 AND "
     "(pg_catalog.extract('epoch', stamped.changed_at)::pg_catalog.text = E'2026-11-28 04:10:19.123456+00') "
     "RETURNING stamped.id::text AS staleguard_hidden_1, pg_catalog.\"extract\"('epoch', stamped.changed_at)::text AS "
     "staleguard_hidden_2",
     2, {"4"}},
    {"TriggerBumpKeepsTheReturning", "UPDATE triggered SET note = 'x' WHERE id = 4", Kind::Translate,
     "UPDATE triggered SET note = 'x' WHERE id = 4 AND (triggered.version::pg_catalog.text = E'8') RETURNING "
     "triggered.id::text AS staleguard_hidden_1, triggered.version::text AS staleguard_hidden_2",
     2, {"4"}},
    // A counter read as something no integer spells is not guessed at.
    {"CounterThatIsNotAnIntegerKeepsTheReturning", "UPDATE accounts SET balance = 0 WHERE id = 6", Kind::Translate,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id = 6 AND "
     "(accounts.version::pg_catalog.text = E'9223372036854775807') RETURNING accounts.id::text AS "
     "staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2, {"6"}},
    {"InListChecksEverySeenRow", "UPDATE accounts SET balance = 0 WHERE id IN (1, 2, 9)", Kind::Translate, "", 2,
     {"1", "2"}},
    // A list with one seen row still names each row it checks: others may match.
    {"InListWithOneSeenRowNamesIt", "UPDATE accounts SET balance = 0 WHERE id IN (1, 9)", Kind::Translate,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE id IN (1, 9) AND (CASE "
     "accounts.id::pg_catalog.text WHEN E'1' THEN accounts.version::pg_catalog.text = E'3' ELSE true END) "
     "RETURNING accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2, {"1"}},
    {"UnreadRowIsAllowedWithoutCheck", "DELETE FROM accounts WHERE id = 9", Kind::Translate,
     "DELETE FROM accounts WHERE id = 9 AND (true) RETURNING accounts.id::text AS staleguard_hidden_1, "
     "accounts.version::text AS staleguard_hidden_2",
     2},
    {"CompositeKey", "UPDATE tenant_accounts SET note = 'x' WHERE tenant = 7 AND id = 1", Kind::Translate, "", 3,
     {"7,1"}, "", "", "app", "7,1=3"},
    // Bumped, not checked; its hidden RETURNING tells the session the versions it wrote.
    {"UnkeyedUpdateIsOnlyBumped", "UPDATE accounts SET balance = 0 WHERE balance < 0", Kind::Replace,
     "UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE balance < 0 RETURNING "
     "accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2},
    {"UpsertReturnsItsRowsHidden", "INSERT INTO accounts (id) VALUES (3) ON CONFLICT (id) DO UPDATE SET balance = 0",
     Kind::Replace,
     "INSERT INTO accounts (id) VALUES (3) ON CONFLICT (id) DO UPDATE SET balance = 0, version = accounts.version + 1 "
     "RETURNING accounts.id::text AS staleguard_hidden_1, accounts.version::text AS staleguard_hidden_2",
     2},
    // A RETURNING would need the SELECT privilege, which an INSERT alone does not.
    {"PlainInsertIsForwarded", "INSERT INTO accounts (id, balance) VALUES (3, 0)", Kind::Forward, ""},
    {"OffCommentDropsTheCheck", "/* staleguard:off */ UPDATE accounts SET balance = 0 WHERE id = 1", Kind::Translate,
     "", 2, {}},
    {"BypassRoleIsNotTracked", "SELECT balance FROM accounts WHERE id = 1", Kind::Forward, "", 0, {}, "", "", "loader"},
    {"MultiStatementReadsAreTranslated", "SELECT 1; SELECT balance FROM accounts", Kind::Translate, "SELECT 1", 2},
};

class TrackQuery : public ::testing::TestWithParam<TrackQueryCase> {};

TEST_P(TrackQuery, Plans) {
    const auto& c = GetParam();
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    guard.set_role(c.role);
    read_rows(guard, "public.accounts", {{"1", "3"}, {"2", "5"}});
    read_rows(guard, "public.tenant_accounts", {{"7", "1", "2"}});
    read_rows(guard, "public.accounts", {{"6", "9223372036854775807"}});
    read_rows(guard, "public.stamped", {{"4", "2026-11-28 04:10:19.123456+00"}});
    read_rows(guard, "public.triggered", {{"4", "8"}});
    const QueryPlan plan = guard.plan_query(rewriter, c.sql);
    ASSERT_EQ(plan.kind, c.kind);
    std::shared_ptr<const TrackedResult> tracked;
    if (c.kind == Kind::Replace) {
        EXPECT_EQ(plan.sql, c.sent);
        tracked = plan.tracked;
    } else if (c.kind == Kind::Translate) {
        ASSERT_FALSE(plan.statements.empty());
        if (!c.sent.empty()) {
            EXPECT_EQ(plan.statements.front().sql, c.sent);
        }
        for (const auto& statement : plan.statements) {
            if (statement.tracked) tracked = statement.tracked;
        }
    }
    ASSERT_EQ(tracked != nullptr, c.hidden_columns > 0);
    if (!tracked) return;
    EXPECT_EQ(tracked->layout.hidden_count(), c.hidden_columns);
    std::string written;
    if (tracked->written_if_one_row) {
        for (const auto& key : tracked->written_if_one_row->keys) written += (written.empty() ? "" : ",") + key;
        written += "=" + tracked->written_if_one_row->version;
    }
    EXPECT_EQ(written, c.written_if_one_row);
    ASSERT_EQ(tracked->check.has_value(), !c.seen_keys.empty());
    if (!tracked->check) return;
    std::vector<std::string> seen;
    for (const auto& row : tracked->check->seen) {
        std::string keys;
        for (const auto& key : row.keys) keys += (keys.empty() ? "" : ",") + key;
        seen.push_back(keys);
    }
    EXPECT_EQ(seen, c.seen_keys);
}

INSTANTIATE_TEST_SUITE_P(Cases, TrackQuery, ::testing::ValuesIn(kTrackQueryCases),
                         [](const auto& info) { return info.param.name; });

TEST(TrackQuery, UnreadRowRejectedWithoutExecuting) {
    parser::Rewriter rewriter(track_rules(rules::UnreadPolicy::Reject));
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const QueryPlan plan = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id IN (1, 4)");
    ASSERT_EQ(plan.kind, Kind::Replace);
    EXPECT_EQ(plan.sql, kServerSideFailure);
    ASSERT_TRUE(plan.replacement_error.has_value());
    const auto error = decode_error(*plan.replacement_error);
    EXPECT_EQ(error.get(wire::field::Code), "40001");
    EXPECT_EQ(error.get(wire::field::Message), "stale write to public.accounts (id)=(4): row not read by this session");
}

// Translated, a string's statements behind a COPY FROM STDIN would reach the server while it
// waits for the copy's data: such a string goes as one Query, untracked.
TEST(TrackQuery, CopyFromStdinKeepsTheStringWhole) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const std::string reads = "SELECT balance FROM accounts WHERE id = 1; COPY ledger FROM STDIN";
    EXPECT_EQ(guard.plan_query(rewriter, reads).kind, Kind::Forward);
    // Bumped, not learnt.
    const QueryPlan unkeyed = guard.plan_query(rewriter, "COPY ledger FROM STDIN; UPDATE accounts SET balance = 0 WHERE balance < 0");
    ASSERT_EQ(unkeyed.kind, Kind::Replace);
    EXPECT_FALSE(unkeyed.replacement_error.has_value());
    EXPECT_EQ(unkeyed.sql, "COPY ledger FROM STDIN; UPDATE accounts SET balance = 0, version = accounts.version + 1 WHERE balance < 0");
    EXPECT_FALSE(unkeyed.tracked);
    // A write that needs its check follows unanalysable: reject.
    const QueryPlan keyed = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1; COPY ledger FROM STDIN");
    ASSERT_EQ(keyed.kind, Kind::Replace);
    EXPECT_EQ(keyed.sql, kServerSideFailure);
    ASSERT_TRUE(keyed.replacement_error.has_value());
    const auto error = decode_error(*keyed.replacement_error);
    EXPECT_EQ(error.get(wire::field::Code), "0A000");
    // COPY TO STDOUT needs nothing from the client: translated as usual.
    EXPECT_EQ(guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1; COPY ledger TO STDOUT").kind,
              Kind::Translate);
}

TEST(TrackQuery, ChecksOffKeepsTheBumpAndDropsTheCheck) {
    parser::Rewriter rewriter(track_rules(rules::UnreadPolicy::Reject));
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    (void)guard.plan_query(rewriter, "SET staleguard.enabled = off");
    const QueryPlan plan = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id IN (1, 4)");
    ASSERT_EQ(plan.kind, Kind::Translate);
    ASSERT_EQ(plan.statements.size(), 1u);
    EXPECT_NE(plan.statements.front().sql.find("version = accounts.version + 1"), std::string::npos);
    ASSERT_TRUE(plan.statements.front().tracked);
    EXPECT_FALSE(plan.statements.front().tracked->check.has_value());
}

TEST(TrackQuery, OwnWriteRefreshesAndDeleteForgets) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const QueryPlan update = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1");
    ASSERT_EQ(update.statements.size(), 1u);
    guard.apply_write(*update.statements.front().tracked, {ReturnedRow{{"1"}, "4"}});
    const QueryPlan again = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = 1");
    ASSERT_TRUE(again.statements.front().tracked->check.has_value());
    EXPECT_EQ(again.statements.front().tracked->check->seen.front().version, "4");
    const QueryPlan remove = guard.plan_query(rewriter, "DELETE FROM accounts WHERE id = 1");
    guard.apply_write(*remove.statements.front().tracked, {ReturnedRow{{"1"}, "4"}});
    const QueryPlan after = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = 1");
    EXPECT_FALSE(after.statements.front().tracked->check.has_value()) << "a deleted row is no longer seen";
}

// Rows a write changed without a check carry the versions it gave them: the session's next
// keyed write of them expects those, not the ones it had read (which would refuse it as stale).
TEST(TrackQuery, UncheckedWritesTellTheSessionWhatTheyWrote) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}, {"2", "5"}});
    const auto written = [&](std::string_view sql) {
        const QueryPlan plan = guard.plan_query(rewriter, sql);
        EXPECT_EQ(plan.kind, Kind::Replace) << sql;
        auto tracked = plan.tracked ? plan.tracked : std::make_shared<const TrackedResult>();
        EXPECT_TRUE(tracked->is_write) << sql;
        EXPECT_FALSE(tracked->check.has_value()) << sql;
        EXPECT_FALSE(tracked->client_sees_rows) << sql;
        return tracked;
    };
    const auto expected_version = [&](std::string_view key) -> std::optional<std::string> {
        const QueryPlan plan = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = " + std::string(key));
        const auto& check = plan.statements.front().tracked->check;
        if (!check) return std::nullopt;
        return check->seen.front().version;
    };
    guard.apply_write(*written("UPDATE accounts SET balance = 0 WHERE balance < 10"), {ReturnedRow{{"1"}, "4"}});
    EXPECT_EQ(expected_version("1"), "4");
    EXPECT_EQ(expected_version("2"), "5") << "a row the write left alone keeps the version read";
    guard.apply_write(*written("INSERT INTO accounts (id) VALUES (3) ON CONFLICT (id) DO UPDATE SET balance = 0"),
                      {ReturnedRow{{"3"}, "1"}});
    EXPECT_EQ(expected_version("3"), "1") << "a row the session upserted counts as read";
    const auto removed = written("DELETE FROM accounts WHERE balance = 0");
    EXPECT_TRUE(removed->is_delete);
    guard.apply_write(*removed, {ReturnedRow{{"1"}, "4"}});
    EXPECT_EQ(expected_version("1"), std::nullopt) << "a deleted row is no longer seen";
}

// A row read after a write staleguard could not see into (MERGE has no RETURNING in PostgreSQL
// 15) may carry a version only this transaction made: rolled back, the read is undone too. A
// read in a transaction that wrote nothing stays (SQLAlchemy ends read-only sessions with ROLLBACK).
TEST(TrackQuery, ReadsAfterAnUnseenWriteAreUndoneWithItsTransaction) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    const auto seen = [&](std::string_view key) -> std::optional<std::string> {
        const QueryPlan plan = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = " + std::string(key));
        const auto& check = plan.statements.front().tracked->check;
        if (!check) return std::nullopt;
        return check->seen.front().version;
    };
    read_rows(guard, "public.accounts", {{"1", "3"}});
    (void)guard.plan_query(rewriter, "BEGIN");
    (void)guard.plan_query(rewriter, "MERGE INTO accounts a USING (SELECT 1 AS i) s ON a.id = s.i "
                                     "WHEN MATCHED THEN UPDATE SET balance = 0");
    read_rows(guard, "public.accounts", {{"1", "4"}, {"2", "1"}});
    EXPECT_EQ(seen("1"), "4");
    guard.on_command_complete("ROLLBACK");
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_EQ(seen("1"), "3");
    EXPECT_EQ(seen("2"), std::nullopt);

    (void)guard.plan_query(rewriter, "BEGIN");
    read_rows(guard, "public.accounts", {{"1", "5"}});
    guard.on_command_complete("ROLLBACK");
    guard.on_ready_for_query(wire::TransactionStatus::Idle);
    EXPECT_EQ(seen("1"), "5");
}

TEST(TrackQuery, DiscardAllForgetsWhatTheSessionRead) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const QueryPlan before = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1");
    ASSERT_TRUE(before.statements.front().tracked->check.has_value());
    (void)guard.plan_query(rewriter, "DISCARD ALL");
    EXPECT_EQ(guard.read_set()->size(), 0u);
    const QueryPlan after = guard.plan_query(rewriter, "UPDATE accounts SET balance = 0 WHERE id = 1");
    EXPECT_FALSE(after.statements.front().tracked->check.has_value()) << "row 1 counts as unread now";
}

TEST(TrackQuery, KeySettingWriteMovesTheRowInTheReadSet) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const QueryPlan update = guard.plan_query(rewriter, "UPDATE accounts SET id = 11 WHERE id = 1");
    ASSERT_EQ(update.statements.size(), 1u);
    const TrackedResult& tracked = *update.statements.front().tracked;
    ASSERT_TRUE(tracked.check.has_value());
    EXPECT_TRUE(tracked.check->assigns_key);
    EXPECT_EQ(tracked.check->seen.front().version, "3");
    EXPECT_TRUE(stale_rows(*tracked.check, {ReturnedRow{{"11"}, "4"}}).empty()) << "written under its new key";
    EXPECT_EQ(stale_rows(*tracked.check, {}).size(), 1u) << "no row back: changed since it was read";

    guard.apply_write(tracked, {ReturnedRow{{"11"}, "4"}});
    const QueryPlan old_key = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = 1");
    EXPECT_FALSE(old_key.statements.front().tracked->check.has_value()) << "the old key is no longer seen";
    const QueryPlan new_key = guard.plan_query(rewriter, "UPDATE accounts SET balance = 1 WHERE id = 11");
    ASSERT_TRUE(new_key.statements.front().tracked->check.has_value());
    EXPECT_EQ(new_key.statements.front().tracked->check->seen.front().version, "4");
}

// --- extended protocol ------------------------------------------------------------------------

wire::Frame frame_of(const std::vector<std::uint8_t>& bytes) {
    const wire::FrameReader reader(wire::FrameLimits{});
    return reader.next(wire::Bytes(bytes), wire::FramePhase::Tagged).frame;
}

// Parse and SQL PREPARE share one namespace: `EXECUTE pp(2)` runs the statement Parse prepared,
// hidden columns and all, and its rows must lose them on the way back.
TEST(TrackExtended, SqlExecuteOfAParsedReadIsStripped) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    const ParsePlan parsed = guard.plan_parse(rewriter, wire::Parse{"pp", "SELECT * FROM accounts WHERE id = $1", {}});
    ASSERT_TRUE(parsed.tracked);
    const QueryPlan plan = guard.plan_query(rewriter, "EXECUTE pp(2)");
    EXPECT_EQ(plan.kind, Kind::Replace);
    EXPECT_EQ(plan.sql, "EXECUTE pp(2)");
    ASSERT_NE(plan.tracked, nullptr);
    EXPECT_EQ(plan.tracked->layout.hidden_count(), 2u);
    EXPECT_EQ(guard.plan_query(rewriter, "EXECUTE other(2)").kind, Kind::Forward);
}

// What a statement name means follows the server: a Parse or Close it refuses or skips changes
// nothing (else a later Bind got the wrong parameter count, or hidden columns reached the client).
TEST(TrackExtended, StatementNamesChangeOnlyWhenTheServerSaysSo) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    const auto tracked = [&guard](std::string_view name) {
        return guard.on_describe(wire::Describe{wire::ObjectKind::Statement, std::string(name)}).tracked != nullptr;
    };
    const auto parse = [&](std::string_view name, std::string_view sql, std::uint64_t correlation) {
        guard.note_statement_change(name, correlation);
        (void)guard.plan_parse(rewriter, wire::Parse{std::string(name), std::string(sql), {}});
    };
    const auto close = [&](std::string_view name, std::uint64_t correlation) {
        guard.note_statement_change(name, correlation);
        guard.on_close(wire::Close{wire::ObjectKind::Statement, std::string(name)});
    };
    parse("q", "SELECT balance FROM accounts WHERE id = $1", 1);
    guard.on_statement_change_done(1);
    ASSERT_TRUE(tracked("q"));
    // 42P05: the name is taken, the server keeps the first statement.
    parse("q", "SELECT 1", 2);
    guard.undo_statement_changes({2});
    EXPECT_TRUE(tracked("q"));
    // Skipped after an earlier error of the batch: a Close and a Parse.
    close("q", 4);
    parse("q", "SELECT 2", 5);
    guard.undo_statement_changes({3, 4, 5});
    EXPECT_TRUE(tracked("q"));
    // A Close that ran, and a Parse pipelined behind a failed one that ran too.
    close("q", 6);
    guard.on_statement_change_done(6);
    EXPECT_FALSE(tracked("q"));
    parse("r", "SELECT 1 FROM nowhere", 7);
    parse("r", "SELECT owner FROM accounts", 9);
    guard.undo_statement_changes({7});
    guard.on_statement_change_done(9);
    EXPECT_TRUE(tracked("r"));
    // Both failed: the name is back to nothing.
    parse("s", "SELECT owner FROM accounts", 10);
    parse("s", "SELECT balance FROM accounts", 12);
    guard.undo_statement_changes({12});
    guard.undo_statement_changes({10});
    EXPECT_FALSE(tracked("s"));
}

TEST(TrackExtended, KeyedWriteGetsVersionParametersAtBind) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    const std::string sql = "UPDATE accounts SET balance = $2 WHERE id = $1";
    const ParsePlan parsed = guard.plan_parse(rewriter, wire::Parse{"upd", sql, {23}});
    ASSERT_TRUE(parsed.sql.has_value());
    EXPECT_NE(parsed.sql->find("CASE WHEN (accounts.id::pg_catalog.text) = ANY ($3::pg_catalog.text[]) THEN "),
              std::string::npos)
        << *parsed.sql;
    EXPECT_NE(parsed.sql->find("THEN accounts.version::pg_catalog.text || ':' || (accounts.id::pg_catalog.text) = ANY "
                               "($4::pg_catalog.text[]) ELSE true END"),
              std::string::npos)
        << *parsed.sql;

    const DescribePlan described = guard.on_describe(wire::Describe{wire::ObjectKind::Statement, "upd"});
    ASSERT_TRUE(described.visible_parameters.has_value());
    EXPECT_EQ(*described.visible_parameters, 2u) << "the client sees its own two parameters";
    ASSERT_TRUE(described.tracked);
    EXPECT_FALSE(described.tracked->client_sees_rows);

    // Binary for all parameters: the appended text arrays need format codes of their own.
    const std::vector<std::uint8_t> one = {0, 0, 0, 1};
    const std::vector<std::uint8_t> balance = {0, 0, 0, 9};
    wire::Bind bind;
    bind.statement = "upd";
    bind.portal = "p";
    bind.parameter_formats = {1};
    bind.parameters = {wire::Bytes(one), wire::Bytes(balance)};
    const auto bind_bytes = bind.encode();
    const BindPlan planned = guard.on_bind(rewriter, frame_of(bind_bytes), bind);
    ASSERT_FALSE(planned.replacement_error.has_value());
    ASSERT_TRUE(planned.bind.has_value());
    const auto sent = wire::Bind::decode(frame_of(*planned.bind));
    ASSERT_TRUE(sent.ok());
    EXPECT_EQ(sent.value().parameter_formats, (std::vector<std::int16_t>{1, 1, 0, 0}));
    ASSERT_EQ(sent.value().parameters.size(), 4u);
    auto text = [](const std::optional<wire::Bytes>& value) {
        return std::string(reinterpret_cast<const char*>(value->data()), value->size());
    };
    EXPECT_EQ(text(sent.value().parameters[2]), "{\"1\"}");
    EXPECT_EQ(text(sent.value().parameters[3]), "{\"3:1\"}") << "the version, a colon, the key";

    const ExecutePlan execute = guard.on_execute(wire::Execute{"p", 0});
    ASSERT_TRUE(execute.tracked);
    ASSERT_TRUE(execute.tracked->check.has_value());
    EXPECT_EQ(execute.tracked->check->seen.front().version, "3");
}

// asyncpg, pgx and tokio-postgres leave the types unspecified at Parse, describe the statement,
// then bind in binary: the keys are read by the types the ParameterDescription names.
TEST(TrackExtended, BinaryKeysOfUndeclaredTypesAreReadByTheDescribedTypes) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}});
    (void)guard.plan_parse(rewriter, wire::Parse{"upd", "UPDATE accounts SET balance = $2 WHERE id = $1", {}});
    const std::vector<std::uint8_t> one = {0, 0, 0, 1};
    wire::Bind bind;
    bind.statement = "upd";
    bind.parameter_formats = {1};
    bind.parameters = {wire::Bytes(one), wire::Bytes(one)};
    const auto bytes = bind.encode();

    // Not described yet: four binary bytes are no key staleguard can name, so the row is unknown
    // (unread: allow bumps without a check) rather than taken for some other key.
    ASSERT_FALSE(guard.on_bind(rewriter, frame_of(bytes), bind).replacement_error.has_value());
    ExecutePlan execute = guard.on_execute(wire::Execute{"", 0});
    ASSERT_TRUE(execute.tracked);
    EXPECT_FALSE(execute.tracked->check.has_value());

    const DescribePlan described = guard.on_describe(wire::Describe{wire::ObjectKind::Statement, "upd"});
    ASSERT_TRUE(described.parameter_types_to_learn);
    // The server describes the client's two parameters and staleguard's two text[] ones.
    learn_parameter_types(*described.parameter_types_to_learn, {23, 23, 1009, 1009});
    ASSERT_FALSE(guard.on_bind(rewriter, frame_of(bytes), bind).replacement_error.has_value());
    execute = guard.on_execute(wire::Execute{"", 0});
    ASSERT_TRUE(execute.tracked && execute.tracked->check);
    ASSERT_EQ(execute.tracked->check->seen.size(), 1u);
    EXPECT_EQ(execute.tracked->check->seen.front().keys, (std::vector<std::string>{"1"}));
    EXPECT_EQ(execute.tracked->check->seen.front().version, "3");

    // Types known from Parse need no description.
    (void)guard.plan_parse(rewriter, wire::Parse{"typed", "UPDATE accounts SET balance = $2 WHERE id = $1", {23, 23}});
    EXPECT_FALSE(guard.on_describe(wire::Describe{wire::ObjectKind::Statement, "typed"}).parameter_types_to_learn);
}

TEST(LearnParameterTypes, FillsOnlyWhatParseLeftUnspecified) {
    ParameterTypes declared{0, 25};
    learn_parameter_types(declared, {23, 23, 1009});
    EXPECT_EQ(declared, (ParameterTypes{23, 25, 1009}));
    ParameterTypes none;
    learn_parameter_types(none, {2950});
    EXPECT_EQ(none, (ParameterTypes{2950}));
    ParameterTypes longer{20, 0, 0};
    learn_parameter_types(longer, {23});
    EXPECT_EQ(longer, (ParameterTypes{20, 0, 0}));
}

TEST(TrackExtended, ArrayParameterKeysAreReadAtBind) {
    parser::Rewriter rewriter(track_rules(rules::UnreadPolicy::Reject));
    StatementGuard guard;
    read_rows(guard, "public.accounts", {{"1", "3"}, {"2", "5"}});
    (void)guard.plan_parse(rewriter, wire::Parse{"", "DELETE FROM accounts WHERE id = ANY($1)", {}});
    const std::string seen = "{1,2}";
    wire::Bind bind;
    bind.parameters = {wire::Bytes(reinterpret_cast<const std::uint8_t*>(seen.data()), seen.size())};
    const auto bytes = bind.encode();
    const BindPlan planned = guard.on_bind(rewriter, frame_of(bytes), bind);
    ASSERT_FALSE(planned.replacement_error.has_value());
    const ExecutePlan execute = guard.on_execute(wire::Execute{"", 0});
    ASSERT_TRUE(execute.tracked && execute.tracked->check);
    EXPECT_EQ(execute.tracked->check->seen.size(), 2u);
    EXPECT_TRUE(execute.tracked->is_delete);

    const std::string with_unread = "{1,8}";
    bind.parameters = {wire::Bytes(reinterpret_cast<const std::uint8_t*>(with_unread.data()), with_unread.size())};
    const auto unread_bytes = bind.encode();
    const BindPlan refused = guard.on_bind(rewriter, frame_of(unread_bytes), bind);
    ASSERT_TRUE(refused.replacement_error.has_value());
    EXPECT_EQ(decode_error(*refused.replacement_error).get(wire::field::Message),
              "stale write to public.accounts (id)=(8): row not read by this session");
}

TEST(TrackExtended, TrackedReadExtendsPerColumnResultFormats) {
    parser::Rewriter rewriter(track_rules());
    StatementGuard guard;
    const ParsePlan parsed = guard.plan_parse(rewriter, wire::Parse{"s", "SELECT id, balance FROM accounts", {}});
    ASSERT_TRUE(parsed.sql.has_value());
    wire::Bind bind;
    bind.statement = "s";
    bind.result_formats = {1, 0};
    const auto bytes = bind.encode();
    const BindPlan planned = guard.on_bind(rewriter, frame_of(bytes), bind);
    ASSERT_TRUE(planned.bind.has_value());
    const auto sent = wire::Bind::decode(frame_of(*planned.bind));
    ASSERT_TRUE(sent.ok());
    EXPECT_EQ(sent.value().result_formats, (std::vector<std::int16_t>{1, 0, 0, 0}));

    // One code for every column covers the hidden ones too: the Bind goes as it came.
    bind.result_formats = {1};
    const auto one_code = bind.encode();
    EXPECT_FALSE(guard.on_bind(rewriter, frame_of(one_code), bind).bind.has_value());
    const DescribePlan portal = guard.on_describe(wire::Describe{wire::ObjectKind::Portal, ""});
    ASSERT_TRUE(portal.tracked);
    EXPECT_EQ(portal.tracked->layout.hidden_count(), 2u);
}

}  // namespace
}  // namespace staleguard::session
