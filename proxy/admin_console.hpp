// The admin console's pure part: a Query's text in, the backend messages that answer it out.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/metrics.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::session {

enum class AdminCommand { ShowStats, ShowSessions, ShowRules, ShowVersion, Reload };

// The commands of one Query string, or the error that refuses all of them (nothing runs then,
// as PostgreSQL runs nothing of a string with a syntax error). No commands and no error: an
// empty query.
struct [[nodiscard]] AdminQuery {
    std::vector<AdminCommand> commands;
    std::vector<std::uint8_t> error;  // an encoded ErrorResponse; empty when the string is valid
};

// Commands are case-insensitive words separated by blanks; statements are separated by ';'.
AdminQuery parse_admin_query(std::string_view sql);

// One live session as SHOW SESSIONS lists it.
struct AdminSessionRow {
    std::uint64_t id = 0;
    std::string client_address;
    std::string user;
    std::string database;
    std::string tls;    // "no", or the protocol once TLS is in
    std::string state;  // "idle", "in transaction", "failed transaction", "active", "startup"
    std::chrono::system_clock::time_point connected_at;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t statements = 0;
    std::uint64_t tracked_rows = 0;
};

// What the SHOW commands read; gathered by the session just before it answers.
struct AdminData {
    MetricsSnapshot metrics;
    std::vector<AdminSessionRow> sessions;
    const rules::RuleSet* rules = nullptr;  // the rules in force (kept alive by the caller)
    std::string rules_path;                 // empty: no rule file
    std::uint64_t rules_generation = 0;     // 1 after the load at start, +1 per successful reload
    std::string version;                    // as `staleguard --version` prints it
};

// RowDescription, DataRows and CommandComplete (a NoticeResponse first for SHOW RULES) for one
// SHOW command; no ReadyForQuery. RELOAD is answered by answer_reload.
std::vector<std::uint8_t> answer_show(AdminCommand command, const AdminData& data);
// CommandComplete "RELOAD", or an ErrorResponse whose detail lists the file's problems.
std::vector<std::uint8_t> answer_reload(bool ok, const std::vector<std::string>& problems, std::string_view path);
// The ErrorResponse for a message of the extended (or any other unsupported) protocol.
std::vector<std::uint8_t> admin_unsupported_protocol();

// "2024-05-01 12:00:00.123456+00", as PostgreSQL prints a timestamptz with TimeZone UTC.
std::string timestamptz_text(std::chrono::system_clock::time_point at);

}  // namespace staleguard::session
