// Tests for the admin console's pure part: command texts in, decoded result sets and errors out.
#include "proxy/admin_console.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frame.hpp"

namespace staleguard::session {
namespace {

// One decoded backend message: its tag and, by kind, the parts the tests look at.
struct Message {
    char tag = '\0';
    std::vector<std::string> columns;       // RowDescription: names
    std::vector<std::uint32_t> type_oids;   // RowDescription
    std::vector<std::optional<std::string>> cells;  // DataRow
    std::string text;                       // CommandComplete tag; Error/Notice: code
    std::string message;                    // Error/Notice: message
    std::string detail;
    std::string hint;
};

std::vector<Message> decode_all(const std::vector<std::uint8_t>& bytes) {
    std::vector<Message> out;
    wire::FrameReader reader(wire::FrameLimits{});
    wire::Bytes rest(bytes.data(), bytes.size());
    while (!rest.empty()) {
        auto outcome = reader.next(rest, wire::FramePhase::Tagged);
        EXPECT_TRUE(outcome.is_frame()) << "bytes do not split into whole frames";
        if (!outcome.is_frame()) break;
        const auto& frame = outcome.frame;
        Message m;
        m.tag = frame.tag;
        switch (frame.tag) {
            case 'T': {
                auto d = wire::RowDescription::decode(frame);
                EXPECT_TRUE(static_cast<bool>(d));
                for (const auto& f : d->fields) {
                    m.columns.emplace_back(f.name);
                    m.type_oids.push_back(f.type_oid);
                }
                break;
            }
            case 'D': {
                auto r = wire::DataRow::decode(frame);
                EXPECT_TRUE(static_cast<bool>(r));
                for (const auto& c : r->columns) {
                    if (c) m.cells.emplace_back(std::string(reinterpret_cast<const char*>(c->data()), c->size()));
                    else m.cells.emplace_back(std::nullopt);
                }
                break;
            }
            case 'C': m.text = std::string(wire::CommandComplete::decode(frame)->tag); break;
            case 'E': {
                auto e = wire::ErrorResponse::decode(frame);
                m.text = std::string(e->get(wire::field::Code));
                m.message = std::string(e->get(wire::field::Message));
                m.detail = std::string(e->get(wire::field::Detail));
                m.hint = std::string(e->get(wire::field::Hint));
                break;
            }
            case 'N': {
                auto n = wire::NoticeResponse::decode(frame);
                m.text = std::string(n->get(wire::field::Code));
                m.message = std::string(n->get(wire::field::Message));
                break;
            }
            default: break;
        }
        out.push_back(std::move(m));
        rest = rest.subspan(frame.bytes.size());
    }
    return out;
}

struct ParseCase {
    const char* name;
    std::string sql;
    std::vector<AdminCommand> commands;
    std::string error_code;  // empty: valid
};

const ParseCase kParseCases[] = {
    {"ShowStats", "SHOW STATS", {AdminCommand::ShowStats}, ""},
    {"LowerCase", "show sessions", {AdminCommand::ShowSessions}, ""},
    {"MixedCaseBlanksAndSemicolon", "  \tShOw\n  RuLeS ;  ", {AdminCommand::ShowRules}, ""},
    {"Version", "show version;", {AdminCommand::ShowVersion}, ""},
    {"Reload", "RELOAD", {AdminCommand::Reload}, ""},
    {"TwoStatementsRunInOrder", "show version; reload;", {AdminCommand::ShowVersion, AdminCommand::Reload}, ""},
    {"EmptyStatementsIgnored", ";;show stats;;", {AdminCommand::ShowStats}, ""},
    {"Empty", "", {}, ""},
    {"OnlyBlanks", "   \n ", {}, ""},
    {"OnlySemicolon", ";", {}, ""},
    {"Unknown", "SHOW POOLS", {}, "42601"},
    {"WordsGlued", "SHOWSTATS", {}, "42601"},
    {"TrailingWord", "SHOW STATS now", {}, "42601"},
    {"UnknownAfterValidRunsNothing", "SHOW STATS; DROP TABLE x", {}, "42601"},
    {"Sql", "SELECT 1", {}, "42601"},
};

class AdminParse : public ::testing::TestWithParam<ParseCase> {};

TEST_P(AdminParse, Commands) {
    const auto parsed = parse_admin_query(GetParam().sql);
    EXPECT_EQ(parsed.commands, GetParam().commands);
    if (GetParam().error_code.empty()) {
        EXPECT_TRUE(parsed.error.empty());
        return;
    }
    const auto messages = decode_all(parsed.error);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].tag, 'E');
    EXPECT_EQ(messages[0].text, GetParam().error_code);
    EXPECT_NE(messages[0].hint.find("SHOW STATS, SHOW SESSIONS, SHOW RULES, SHOW VERSION, RELOAD"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Cases, AdminParse, ::testing::ValuesIn(kParseCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AdminParseMessage, QuotesTheStatementWithoutControlBytesOrEndlessText) {
    const auto messages = decode_all(parse_admin_query("kill\x1b[2J" + std::string(200, 'x')).error);
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].message.find('\x1b'), std::string::npos);
    EXPECT_NE(messages[0].message.find("kill\\x1b[2J"), std::string::npos) << messages[0].message;
    EXPECT_LT(messages[0].message.size(), 120u);
}

AdminData sample_data(const rules::RuleSet* rules) {
    AdminData data;
    data.metrics.sessions_open = 3;
    data.metrics.statements = {5, 6, 7, 8};
    data.metrics.stale_writes = {{"public.accounts", 2}};
    data.metrics.statement_added.upper_bounds = {0.001};
    data.metrics.statement_added.counts = {4, 1};
    data.metrics.statement_added.sum = 0.25;
    data.sessions.push_back(AdminSessionRow{7, "127.0.0.1:5000", "app", "shop", "no", "idle",
                                            std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)) +
                                                std::chrono::microseconds(42),
                                            100, 2000, 3, 4});
    data.rules = rules;
    data.rules_path = "/etc/staleguard/rules.yaml";
    data.rules_generation = 2;
    data.version = "staleguard 9.9.9 (SQL parser: libpg_query for PostgreSQL 15.1)";
    return data;
}

rules::RuleSet sample_rules() {
    rules::RuleSet set;
    rules::TableRule accounts;
    accounts.table = {"public", "accounts"};
    rules::TableRule orders;
    orders.table = {"shop", "Orders"};
    orders.mode = rules::Mode::Client;
    orders.kind = rules::VersionKind::Timestamp;
    orders.version_column = "updated_at";
    orders.key = {"tenant", "id"};
    orders.unread = rules::UnreadPolicy::Reject;
    orders.on_delete = rules::DeletePolicy::Allow;
    orders.bumped_by = rules::BumpedBy::Trigger;
    orders.watch = {"total", "status"};
    orders.bypass_roles = {"migrator"};
    set.tables = {accounts, orders};
    set.sqlstate = "40P01";
    return set;
}

// Finds the DataRow whose first cells are `prefix`.
const Message* row_starting(const std::vector<Message>& messages, const std::vector<std::string>& prefix) {
    for (const auto& m : messages) {
        if (m.tag != 'D' || m.cells.size() < prefix.size()) continue;
        bool match = true;
        for (std::size_t i = 0; i < prefix.size(); ++i) match = match && m.cells[i] == prefix[i];
        if (match) return &m;
    }
    return nullptr;
}

struct ShowCase {
    const char* name;
    AdminCommand command;
    std::vector<std::string> columns;
    std::vector<std::uint32_t> type_oids;  // checked where not empty
    std::size_t rows;
    std::vector<std::string> row;  // one expected row (whole), if not empty
};

const ShowCase kShowCases[] = {
    {"Version", AdminCommand::ShowVersion, {"version"}, {25}, 1,
     {"staleguard 9.9.9 (SQL parser: libpg_query for PostgreSQL 15.1)"}},
    {"Sessions", AdminCommand::ShowSessions,
     {"id", "client_addr", "user", "database", "tls", "state", "connected_since", "bytes_in", "bytes_out", "statements",
      "tracked_rows"},
     {20, 25, 25, 25, 25, 25, 1184, 20, 20, 20, 20}, 1,
     {"7", "127.0.0.1:5000", "app", "shop", "no", "idle", "2023-11-14 22:13:20.000042+00", "100", "2000", "3", "4"}},
    {"Rules", AdminCommand::ShowRules,
     {"table", "mode", "kind", "version_column", "key", "unread", "delete", "bumped_by", "watch", "ignore", "bypass_roles"},
     {}, 2,
     {"shop.\"Orders\"", "client", "timestamp", "updated_at", "tenant, id", "reject", "allow", "trigger", "total, status", "",
      "migrator"}},
    {"StatsStaleWrite", AdminCommand::ShowStats, {"metric", "labels", "value"}, {25, 25, 1700}, 0,
     {"staleguard_stale_writes_total", "table=\"public.accounts\"", "2"}},
    {"StatsOutcome", AdminCommand::ShowStats, {"metric", "labels", "value"}, {}, 0,
     {"staleguard_statements_total", "outcome=\"rejected\"", "8"}},
    {"StatsGauge", AdminCommand::ShowStats, {"metric", "labels", "value"}, {}, 0, {"staleguard_sessions_open", "", "3"}},
    {"StatsInfBucket", AdminCommand::ShowStats, {"metric", "labels", "value"}, {}, 0,
     {"staleguard_statement_added_seconds_bucket", "le=\"+Inf\"", "5"}},
    {"StatsSum", AdminCommand::ShowStats, {"metric", "labels", "value"}, {}, 0,
     {"staleguard_statement_added_seconds_sum", "", "0.25"}},
};

class AdminShow : public ::testing::TestWithParam<ShowCase> {};

TEST_P(AdminShow, ResultSet) {
    const auto rules = sample_rules();
    const auto messages = decode_all(answer_show(GetParam().command, sample_data(&rules)));
    const Message* description = nullptr;
    std::size_t rows = 0;
    for (const auto& m : messages) {
        if (m.tag == 'T') description = &m;
        if (m.tag == 'D') {
            ++rows;
            ASSERT_TRUE(description != nullptr) << "DataRow before RowDescription";
            EXPECT_EQ(m.cells.size(), description->columns.size());
        }
    }
    ASSERT_TRUE(description != nullptr);
    EXPECT_EQ(description->columns, GetParam().columns);
    if (!GetParam().type_oids.empty()) {
        EXPECT_EQ(description->type_oids, GetParam().type_oids);
    }
    if (GetParam().rows != 0) {
        EXPECT_EQ(rows, GetParam().rows);
    }
    ASSERT_FALSE(messages.empty());
    EXPECT_EQ(messages.back().tag, 'C');
    EXPECT_EQ(messages.back().text, "SHOW");
    if (!GetParam().row.empty()) {
        const Message* row = row_starting(messages, {GetParam().row[0], GetParam().row.size() > 1 ? GetParam().row[1] : ""});
        if (GetParam().row.size() == 1) row = row_starting(messages, {GetParam().row[0]});
        ASSERT_TRUE(row != nullptr) << "no row starting " << GetParam().row[0];
        std::vector<std::optional<std::string>> expected(GetParam().row.begin(), GetParam().row.end());
        EXPECT_EQ(row->cells, expected);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, AdminShow, ::testing::ValuesIn(kShowCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AdminShowRules, NoticeNamesFileGenerationAndSetWideSettings) {
    const auto rules = sample_rules();
    const auto messages = decode_all(answer_show(AdminCommand::ShowRules, sample_data(&rules)));
    ASSERT_FALSE(messages.empty());
    EXPECT_EQ(messages.front().tag, 'N');
    EXPECT_EQ(messages.front().message,
              "rule file /etc/staleguard/rules.yaml (generation 2): sqlstate 40P01, unanalysable reject, max_tracked_rows 100000");
}

TEST(AdminShowRules, NoRuleFileGivesNoRows) {
    auto data = sample_data(nullptr);
    data.rules_path.clear();
    const auto messages = decode_all(answer_show(AdminCommand::ShowRules, data));
    ASSERT_EQ(messages.size(), 3u);  // Notice, RowDescription, CommandComplete
    EXPECT_EQ(messages[0].message, "no rule file (generation 2): every statement passes");
    EXPECT_EQ(messages[1].tag, 'T');
    EXPECT_EQ(messages[2].tag, 'C');
}

TEST(AdminReload, OkIsCommandComplete) {
    const auto messages = decode_all(answer_reload(true, {}, "/r.yaml"));
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].tag, 'C');
    EXPECT_EQ(messages[0].text, "RELOAD");
}

TEST(AdminReload, RefusedFileIsAnErrorWithEveryProblemInTheDetail) {
    const auto messages = decode_all(answer_reload(false, {"/r.yaml:3:11: unknown mode 'x'", "/r.yaml:5:1: duplicate table"}, "/r.yaml"));
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].tag, 'E');
    EXPECT_EQ(messages[0].text, "F0000");
    EXPECT_EQ(messages[0].message, "rule file /r.yaml refused (2 problem(s)); the rules in force are unchanged");
    EXPECT_EQ(messages[0].detail, "/r.yaml:3:11: unknown mode 'x'\n/r.yaml:5:1: duplicate table");
}

TEST(AdminProtocol, ExtendedProtocolIsFeatureNotSupported) {
    const auto messages = decode_all(admin_unsupported_protocol());
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].text, "0A000");
}

struct TimestampCase {
    const char* name;
    std::int64_t micros;
    std::string text;
};

const TimestampCase kTimestampCases[] = {
    {"Epoch", 0, "1970-01-01 00:00:00.000000+00"},
    {"WithMicros", 1700000000000042, "2023-11-14 22:13:20.000042+00"},
    {"LeapDay", 951782400123456, "2000-02-29 00:00:00.123456+00"},
};

class AdminTimestamp : public ::testing::TestWithParam<TimestampCase> {};

TEST_P(AdminTimestamp, Text) {
    const auto at = std::chrono::system_clock::time_point(std::chrono::microseconds(GetParam().micros));
    EXPECT_EQ(timestamptz_text(at), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(Cases, AdminTimestamp, ::testing::ValuesIn(kTimestampCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staleguard::session
