// Admin console commands: parsing the Query text and encoding result sets as PostgreSQL would.
#include "proxy/admin_console.hpp"

#include <fmt/format.h>

#include <ctime>
#include <optional>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/type_oids.hpp"
#include "rules/rule_words.hpp"

namespace staleguard::session {

namespace {


constexpr std::string_view kCommandList = "SHOW STATS, SHOW SESSIONS, SHOW RULES, SHOW VERSION, RELOAD";

struct Column {
    std::string_view name;
    std::uint32_t type_oid;
};

std::int16_t type_size(std::uint32_t oid) {
    switch (oid) {
        case wire::type_oid::boolean: return 1;
        case wire::type_oid::int8:
        case wire::type_oid::timestamptz: return 8;
        default: return -1;
    }
}

// One result set being built: its rows as text cells (nullopt = NULL).
class ResultSet {
public:
    explicit ResultSet(std::vector<Column> columns) : columns_(std::move(columns)) {}

    void row(std::vector<std::optional<std::string>> cells) { rows_.push_back(std::move(cells)); }

    void encode_into(std::vector<std::uint8_t>& out, std::string_view tag) const {
        wire::RowDescription description;
        for (const auto& column : columns_)
            description.fields.push_back(wire::FieldDescription{column.name, 0, 0, column.type_oid, type_size(column.type_oid), -1, 0});
        append(out, description.encode());
        for (const auto& cells : rows_) {
            wire::DataRow row;
            for (const auto& cell : cells) {
                if (cell) row.columns.emplace_back(wire::Bytes(reinterpret_cast<const std::uint8_t*>(cell->data()), cell->size()));
                else row.columns.emplace_back(std::nullopt);
            }
            append(out, row.encode());
        }
        append(out, wire::CommandComplete{tag}.encode());
    }

    static void append(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& message) {
        out.insert(out.end(), message.begin(), message.end());
    }

private:
    std::vector<Column> columns_;
    std::vector<std::vector<std::optional<std::string>>> rows_;
};

std::string upper_words(std::string_view text) {
    std::string out;
    bool blank = false;
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            blank = true;
            continue;
        }
        if (blank && !out.empty()) out += ' ';
        blank = false;
        out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    return out;
}

std::optional<AdminCommand> command_of(std::string_view words) {
    if (words == "SHOW STATS") return AdminCommand::ShowStats;
    if (words == "SHOW SESSIONS") return AdminCommand::ShowSessions;
    if (words == "SHOW RULES") return AdminCommand::ShowRules;
    if (words == "SHOW VERSION") return AdminCommand::ShowVersion;
    if (words == "RELOAD") return AdminCommand::Reload;
    return std::nullopt;
}

// A statement as the message quotes it: control bytes and overlong text do not reach the client's
// terminal as they came.
std::string quoted_statement(std::string_view text) {
    constexpr std::size_t max_quoted = 60;
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < max_quoted; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += static_cast<char>(c);
    }
    if (text.size() > max_quoted) out += "...";
    return out + "\"";
}

std::string trimmed(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t\r\n\f\v");
    if (begin == std::string_view::npos) return {};
    const auto end = text.find_last_not_of(" \t\r\n\f\v");
    return std::string(text.substr(begin, end - begin + 1));
}

std::string joined(const std::vector<std::string>& items) { return fmt::format("{}", fmt::join(items, ", ")); }

std::vector<std::uint8_t> show_stats(const AdminData& data) {
    // The very lines /metrics serves, one row per sample: both views always agree.
    ResultSet result({{"metric", wire::type_oid::text}, {"labels", wire::type_oid::text}, {"value", wire::type_oid::numeric}});
    const std::string text = render_prometheus(data.metrics);
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        if (line.empty() || line.front() == '#') continue;
        const auto space = line.rfind(' ');
        if (space == std::string_view::npos) continue;
        std::string_view series = line.substr(0, space);
        std::string value(line.substr(space + 1));
        if (value == "+Inf" || value == "-Inf" || value == "NaN") value = value == "+Inf" ? "Infinity" : value == "-Inf" ? "-Infinity" : "NaN";
        std::string labels;
        if (auto brace = series.find('{'); brace != std::string_view::npos && series.back() == '}') {
            labels = std::string(series.substr(brace + 1, series.size() - brace - 2));
            series = series.substr(0, brace);
        }
        result.row({std::string(series), std::move(labels), std::move(value)});
    }
    std::vector<std::uint8_t> out;
    result.encode_into(out, "SHOW");
    return out;
}

std::vector<std::uint8_t> show_sessions(const AdminData& data) {
    ResultSet result({{"id", wire::type_oid::int8},
                      {"client_addr", wire::type_oid::text},
                      {"user", wire::type_oid::text},
                      {"database", wire::type_oid::text},
                      {"tls", wire::type_oid::text},
                      {"state", wire::type_oid::text},
                      {"connected_since", wire::type_oid::timestamptz},
                      {"bytes_in", wire::type_oid::int8},
                      {"bytes_out", wire::type_oid::int8},
                      {"statements", wire::type_oid::int8},
                      {"tracked_rows", wire::type_oid::int8}});
    for (const auto& s : data.sessions) {
        result.row({std::to_string(s.id), s.client_address, s.user, s.database, s.tls, s.state,
                    timestamptz_text(s.connected_at), std::to_string(s.bytes_in), std::to_string(s.bytes_out),
                    std::to_string(s.statements), std::to_string(s.tracked_rows)});
    }
    std::vector<std::uint8_t> out;
    result.encode_into(out, "SHOW");
    return out;
}

std::vector<std::uint8_t> show_rules(const AdminData& data) {
    std::vector<std::uint8_t> out;
    // The file and what applies to all of its tables: a NOTICE above the table, as psql shows it.
    wire::NoticeResponse notice;
    notice.fields.emplace_back(wire::field::Severity, "NOTICE");
    notice.fields.emplace_back(wire::field::SeverityNonLocalized, "NOTICE");
    notice.fields.emplace_back(wire::field::Code, "00000");
    if (data.rules_path.empty()) {
        notice.fields.emplace_back(wire::field::Message,
                                   fmt::format("no rule file (generation {}): every statement passes", data.rules_generation));
    } else if (data.rules) {
        notice.fields.emplace_back(
            wire::field::Message,
            fmt::format("rule file {} (generation {}): sqlstate {}, unanalysable {}, max_tracked_rows {}", data.rules_path,
                        data.rules_generation, data.rules->sqlstate,
                        rules::word_of(data.rules->unanalysable),
                        data.rules->max_tracked_rows));
    }
    ResultSet::append(out, notice.encode());
    ResultSet result({{"table", wire::type_oid::text},
                      {"mode", wire::type_oid::text},
                      {"kind", wire::type_oid::text},
                      {"version_column", wire::type_oid::text},
                      {"key", wire::type_oid::text},
                      {"unread", wire::type_oid::text},
                      {"delete", wire::type_oid::text},
                      {"bumped_by", wire::type_oid::text},
                      {"watch", wire::type_oid::text},
                      {"ignore", wire::type_oid::text},
                      {"bypass_roles", wire::type_oid::text}});
    if (data.rules) {
        for (const auto& rule : data.rules->tables) {
            result.row({rule.table.to_string(), std::string(rules::word_of(rule.mode)), std::string(rules::word_of(rule.kind)),
                        rule.version_column, joined(rule.key),
                        std::string(rules::word_of(rule.unread)),
                        std::string(rules::word_of(rule.on_delete)),
                        std::string(rules::word_of(rule.bumped_by)),
                        joined(rule.watch), joined(rule.ignore), joined(rule.bypass_roles)});
        }
    }
    result.encode_into(out, "SHOW");
    return out;
}

std::vector<std::uint8_t> show_version(const AdminData& data) {
    ResultSet result({{"version", wire::type_oid::text}});
    result.row({data.version});
    std::vector<std::uint8_t> out;
    result.encode_into(out, "SHOW");
    return out;
}

}  // namespace

AdminQuery parse_admin_query(std::string_view sql) {
    AdminQuery query;
    std::size_t start = 0;
    while (start <= sql.size()) {
        std::size_t end = sql.find(';', start);
        if (end == std::string_view::npos) end = sql.size();
        const std::string statement = trimmed(sql.substr(start, end - start));
        start = end + 1;
        if (statement.empty()) continue;  // `;;` and a trailing `;` hold empty statements, as in psql
        if (auto command = command_of(upper_words(statement))) {
            query.commands.push_back(*command);
            continue;
        }
        auto error = wire::ErrorResponse::make("42601", "unrecognized admin console command: " + quoted_statement(statement));
        error.fields.emplace_back(wire::field::Hint, "The admin console knows " + std::string(kCommandList) + ".");
        query.commands.clear();
        query.error = error.encode();
        return query;
    }
    return query;
}

std::vector<std::uint8_t> answer_show(AdminCommand command, const AdminData& data) {
    switch (command) {
        case AdminCommand::ShowStats: return show_stats(data);
        case AdminCommand::ShowSessions: return show_sessions(data);
        case AdminCommand::ShowRules: return show_rules(data);
        case AdminCommand::ShowVersion: return show_version(data);
        case AdminCommand::Reload: break;
    }
    return wire::ErrorResponse::make("XX000", "RELOAD is not a SHOW command").encode();
}

std::vector<std::uint8_t> answer_reload(bool ok, const std::vector<std::string>& problems, std::string_view path) {
    if (ok) return wire::CommandComplete{"RELOAD"}.encode();
    std::string detail;
    for (const auto& problem : problems) {
        if (!detail.empty()) detail += '\n';
        detail += problem;
    }
    return wire::ErrorResponse::make("F0000",
                                     fmt::format("rule file {} refused ({} problem(s)); the rules in force are unchanged",
                                                 path, problems.size()),
                                     detail)
        .encode();
}

std::vector<std::uint8_t> admin_unsupported_protocol() {
    auto error = wire::ErrorResponse::make("0A000", "the admin console supports the simple query protocol only");
    error.fields.emplace_back(wire::field::Hint, "Send the command as a simple Query (psql does; in psycopg, use no parameters "
                                                 "and no prepared statements).");
    return error.encode();
}

std::string timestamptz_text(std::chrono::system_clock::time_point at) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
    long fraction = static_cast<long>(micros % 1000000);
    if (fraction < 0) {
        fraction += 1000000;
        --seconds;
    }
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec, fraction);
}

}  // namespace staleguard::session
