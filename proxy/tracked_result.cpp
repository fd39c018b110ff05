// Track mode's write verdicts and errors, and reading key arrays out of Bind parameters.
#include "proxy/tracked_result.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "parser/array_text.hpp"
#include "parser/track_planner.hpp"
#include "proxy/codec/binary_values.hpp"
#include "proxy/statement_guard.hpp"
#include "rules/identifier.hpp"

namespace staleguard::session {

namespace {

std::uint32_t read_u32(wire::Bytes bytes, std::size_t at) {
    return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
           (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

std::optional<std::vector<std::string>> binary_array_elements(wire::Bytes value, const wire::ValueTextSettings& settings) {
    if (value.size() < 12) return std::nullopt;
    const std::uint32_t dimensions = read_u32(value, 0);
    const std::uint32_t element_type = read_u32(value, 8);
    std::vector<std::string> out;
    if (dimensions == 0) return out;
    if (dimensions != 1 || value.size() < 20) return std::nullopt;
    const std::uint32_t count = read_u32(value, 12);
    std::size_t at = 20;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (at + 4 > value.size()) return std::nullopt;
        const std::uint32_t length = read_u32(value, at);
        at += 4;
        if (length == 0xffffffff || at + length > value.size()) return std::nullopt;
        auto text = wire::binary_value_text(value.subspan(at, length), element_type, settings);
        if (!text) return std::nullopt;
        out.push_back(std::move(*text));
        at += length;
    }
    return out;
}

}  // namespace

std::vector<SeenRow> stale_rows(const TrackCheck& check, const std::vector<ReturnedRow>& returned) {
    if (check.assigns_key) return returned.empty() ? check.seen : std::vector<SeenRow>{};
    // Sets, not scans: a write of tens of thousands of read rows must not take minutes.
    std::set<std::vector<std::string>> written;
    for (const ReturnedRow& back : returned) written.insert(back.keys);
    std::vector<SeenRow> stale;
    for (const SeenRow& row : check.seen) {
        if (!written.contains(row.keys)) stale.push_back(row);
    }
    return stale;
}

std::string current_versions_query(const rules::TableRule& rule, const std::vector<SeenRow>& rows) {
    std::vector<std::string> columns;
    for (const auto& column : rule.key) columns.push_back(rules::quote_identifier(column));
    // "xmin" for kind xmin; a timestamp as seconds since 1970 (version_text_sql)
    const std::string version = parser::version_text_sql(rule, rules::quote_identifier(rule.version_column));
    std::vector<std::string> tuples;
    for (const SeenRow& row : rows) {
        std::vector<std::string> values;
        for (const auto& key : row.keys) values.push_back(parser::escaped_string_literal(key));
        tuples.push_back(columns.size() == 1 ? values.front() : fmt::format("({})", fmt::join(values, ", ")));
    }
    // Untyped literals take the key columns' types, so the key's index serves the lookup.
    return fmt::format("SELECT {}::pg_catalog.text, {} FROM {} WHERE {} IN ({})",
                       fmt::join(columns, "::pg_catalog.text, "), version, rule.table.to_string(),
                       columns.size() == 1 ? columns.front() : fmt::format("({})", fmt::join(columns, ", ")),
                       fmt::join(tuples, ", "));
}

std::vector<SeenRow> changed_rows(const std::vector<SeenRow>& candidates, const std::vector<ReturnedRow>& current) {
    std::set<std::pair<std::vector<std::string>, std::string>> now;
    for (const ReturnedRow& row : current) now.emplace(row.keys, row.version);
    std::vector<SeenRow> changed;
    for (const SeenRow& row : candidates) {
        if (!now.contains({row.keys, row.version})) changed.push_back(row);
    }
    return changed;
}

std::string key_list_text(const std::vector<std::vector<std::string>>& rows) {
    if (rows.size() == 1) return fmt::format("{}", fmt::join(rows.front(), ", "));
    const bool composite = !rows.empty() && rows.front().size() > 1;
    std::vector<std::string> parts;
    for (const auto& row : rows) {
        parts.push_back(composite ? fmt::format("({})", fmt::join(row, ", ")) : fmt::format("{}", fmt::join(row, ", ")));
    }
    return composite ? fmt::format("{}", fmt::join(parts, ", ")) : fmt::format("({})", fmt::join(parts, ", "));
}

wire::ErrorResponse track_stale_error(const TrackCheck& check, const std::vector<SeenRow>& stale,
                                      std::size_t still_current) {
    WriteCheck described;
    described.table = check.rule ? check.rule->table.to_string() : std::string("?");
    described.key_columns = check.rule ? fmt::format("{}", fmt::join(check.rule->key, ", ")) : std::string();
    std::vector<std::vector<std::string>> keys;
    for (const SeenRow& row : stale) keys.push_back(row.keys);
    described.key_values = key_list_text(keys);
    if (stale.size() == 1)
        described.expected_version =
            check.rule ? parser::displayed_version(*check.rule, stale.front().version) : stale.front().version;
    described.expected_rows = check.seen.size();
    described.is_delete = check.is_delete;
    described.sqlstate = check.sqlstate;
    return stale_write_error(described, still_current);
}

wire::ErrorResponse unread_write_error(const rules::TableRule& rule, std::string_view sqlstate,
                                       const std::vector<std::vector<std::string>>& unread) {
    const std::string columns = fmt::format("{}", fmt::join(rule.key, ", "));
    const std::string values = key_list_text(unread);
    const bool list = !values.empty() && values.front() == '(' && rule.key.size() == 1;
    std::string message = "stale write to " + rule.table.to_string() +
                          (list ? " (" + columns + ") in " + values : " (" + columns + ")=(" + values + ")") +
                          (unread.size() > 1 ? ": rows not read by this session" : ": row not read by this session");
    auto error = wire::ErrorResponse::make(
        sqlstate, message,
        "The rule for " + rule.table.to_string() + " says unread: reject, so a write must follow a read of "
        "the same row in the same session; nothing was written.");
    error.fields.emplace_back(wire::field::Hint, "Read the row, then retry the change.");
    return error;
}

std::optional<std::vector<std::string>> array_parameter_elements(wire::Bytes value, std::int16_t format,
                                                                 const wire::ValueTextSettings& settings) {
    if (format == 0) return parser::text_array_elements(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
    return binary_array_elements(value, settings);
}

}  // namespace staleguard::session
