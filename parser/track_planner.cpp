// Track mode's plan for each statement of a query string: reads that get hidden columns, keyed writes that get a version slot.
#include "parser/track_planner.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "parser/lru_cache.hpp"
#include "parser/pg_query_handle.hpp"
#include "rules/identifier.hpp"

namespace staleguard::parser {

namespace {

// As for the rewriter's cache: a few huge statements must not pin megabytes.
constexpr std::size_t max_cached_statement_bytes = 64 * 1024;

// PostgreSQL tries a CASE's WHENs one by one for every row a write scans, so a check of
// thousands of seen rows as WHENs took minutes. Beyond this many, the check is two
// `= ANY (array constant)` tests instead, which PostgreSQL (14 and later) answers from a hash
// table once the array has 9 elements.
constexpr std::size_t max_rows_in_case = 8;

// What the scanner alone tells about a statement: the largest $n, and whether it may be a write
// (so that a SELECT, the common case, is parsed once rather than once more for the write side).
struct ScannedStatement {
    int highest_parameter = 0;
    bool may_write = true;
};

ScannedStatement scan_statement(std::string_view sql) {
    ScannedStatement out;
    auto tokens = scan_numbered(sql);
    if (!tokens.ok()) return out;
    bool first = true;
    for (const NumberedToken& token : tokens.value()) {
        if (token.token.kind == TokenKind::Comment) continue;
        if (first) {
            out.may_write = token.number == PG_QUERY__TOKEN__UPDATE || token.number == PG_QUERY__TOKEN__DELETE_P ||
                            token.number == PG_QUERY__TOKEN__INSERT || token.number == PG_QUERY__TOKEN__WITH;
            first = false;
        }
        if (token.number != PG_QUERY__TOKEN__PARAM) continue;
        const std::string_view text = sql.substr(token.token.start, token.token.end - token.token.start);
        int number = 0;
        if (text.size() > 1 && text[0] == '$') {
            std::from_chars(text.data() + 1, text.data() + text.size(), number);
        }
        out.highest_parameter = std::max(out.highest_parameter, number);
    }
    return out;
}

TrackedStatement plan_statement(std::string_view sql, const rules::RuleSet& rules, const SchemaResolver& resolve) {
    TrackedStatement out;
    const ScannedStatement scanned = scan_statement(sql);
    out.highest_parameter = scanned.highest_parameter;
    ReadTracking returning;
    if (scanned.may_write) returning = plan_write_returning(sql, rules, resolve);
    if (returning.outcome == ReadTracking::Outcome::Tracked) {
        KeyedWrite keyed = analyse_keyed_write(returning.sql, rules, resolve);
        if (keyed.outcome == KeyedWrite::Outcome::Keyed) {
            out.kind = TrackedStatement::Kind::KeyedWrite;
            out.keyed = std::move(keyed);
        } else {
            out.kind = TrackedStatement::Kind::UnkeyedWrite;
            out.reason = "write not checked: " + keyed.reason;
        }
        out.tracking = std::move(returning);
        return out;
    }
    ReadTracking read = plan_read_tracking(sql, rules, resolve);
    if (read.outcome == ReadTracking::Outcome::Tracked) {
        out.kind = TrackedStatement::Kind::Read;
        out.tracking = std::move(read);
        return out;
    }
    if (out.reason.empty()) out.reason = read.reason;
    return out;
}

}  // namespace

std::optional<std::vector<std::string_view>> split_statements(std::string_view sql) {
    auto tokens = scan(sql);
    if (!tokens.ok()) return std::nullopt;
    // The statement between two positions: from its first token to its last, without the
    // comments and blanks around it.
    auto trimmed = [&](std::size_t begin, std::size_t end) -> std::optional<std::string_view> {
        std::optional<std::size_t> first;
        std::size_t last = 0;
        for (const Token& token : tokens.value()) {
            if (token.kind != TokenKind::Other || token.start < begin || token.end > end) continue;
            if (!first) first = token.start;
            last = token.end;
        }
        if (!first) return std::nullopt;
        return sql.substr(*first, last - *first);
    };
    std::vector<std::string_view> statements;
    std::size_t begin = 0;
    for (const Token& token : tokens.value()) {
        if (token.kind != TokenKind::Semicolon) continue;
        if (auto statement = trimmed(begin, token.start)) statements.push_back(*statement);
        begin = token.end;
    }
    if (auto statement = trimmed(begin, sql.size())) statements.push_back(*statement);
    if (statements.size() <= 1) return statements;
    // Semicolons do not always end statements (a BEGIN ATOMIC function body): with several
    // candidates, the parser decides.
    auto parsed = parse(sql);
    if (!parsed.ok()) return std::nullopt;
    statements.clear();
    for (const StatementSlice& slice : statement_slices(parsed.value(), sql.size())) {
        if (auto statement = trimmed(slice.location, slice.location + slice.length)) statements.push_back(*statement);
    }
    return statements;
}

bool copies_from_client(std::string_view statement) {
    auto tokens = scan_numbered(statement);
    if (!tokens.ok()) return false;
    bool first = true;
    for (const NumberedToken& token : tokens.value()) {
        if (token.token.kind == TokenKind::Comment) continue;
        if (first && token.number != PG_QUERY__TOKEN__COPY) return false;
        first = false;
        if (token.number == PG_QUERY__TOKEN__STDIN) return true;
    }
    return false;
}

std::string text_array_value(const std::vector<std::string>& elements) {
    std::string out = "{";
    for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i > 0) out += ',';
        out += '"';
        for (char c : elements[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

std::string escaped_string_literal(std::string_view value) {
    std::string out = "E'";
    out.reserve(value.size() + 3);
    for (char c : value) {
        if (c == '\\' || c == '\'') out += c;
        out += c;
    }
    out += '\'';
    return out;
}

std::string encoded_key(const std::vector<std::string>& key_values) {
    if (key_values.size() == 1) return key_values.front();
    std::string out;
    for (std::size_t i = 0; i < key_values.size(); ++i) {
        if (i > 0) out += ',';
        for (char c : key_values[i]) {
            if (c == '\\' || c == ',') out += '\\';
            out += c;
        }
    }
    return out;
}

namespace {

// The row's key as the one text encoded_key() spells.
std::string row_key_text(const rules::TableRule& rule, const std::string& qualifier) {
    std::string key;
    for (const std::string& column : rule.key) {
        const std::string text = qualifier + "." + rules::quote_identifier(column) + "::pg_catalog.text";
        if (rule.key.size() == 1) return text;
        if (!key.empty()) key += " || ',' || ";
        key += "pg_catalog.replace(pg_catalog.replace(" + text + R"(, E'\\', E'\\\\'), ',', E'\\,'))";
    }
    return key;
}

std::string row_version_text(const rules::TableRule& rule, const std::string& qualifier) {
    return version_text_sql(rule, qualifier + "." + rules::quote_identifier(rule.version_column));
}

}  // namespace

std::string version_text_sql(const rules::TableRule& rule, std::string_view column_reference) {
    if (rule.kind == rules::VersionKind::Timestamp)
        return "pg_catalog.extract('epoch', " + std::string(column_reference) + ")::pg_catalog.text";
    return std::string(column_reference) + "::pg_catalog.text";
}

std::string displayed_version(const rules::TableRule& rule, std::string_view version) {
    if (rule.kind != rules::VersionKind::Timestamp) return std::string(version);
    // "1764277800.693394", "-1.500000": seconds with six decimals (numeric's text, scale 6).
    const std::size_t point = version.find('.');
    const std::string_view whole = version.substr(0, point);
    const std::string_view fraction = point == std::string_view::npos ? "" : version.substr(point + 1);
    long long whole_seconds = 0;
    long long fraction_micros = 0;
    const auto [end, error] = std::from_chars(whole.data(), whole.data() + whole.size(), whole_seconds);
    const auto [fraction_end, fraction_error] =
        std::from_chars(fraction.data(), fraction.data() + fraction.size(), fraction_micros);
    if (error != std::errc{} || end != whole.data() + whole.size() || fraction.size() != 6 ||
        fraction_error != std::errc{} || fraction_end != fraction.data() + fraction.size() ||
        whole_seconds < -62135596800LL || whole_seconds > 253402300799LL)  // years 1 to 9999
        return std::string(version);
    const long long micros = whole_seconds * 1000000 + (whole.starts_with('-') ? -fraction_micros : fraction_micros);
    long long seconds = micros / 1000000;
    long long micro = micros % 1000000;
    if (micro < 0) {
        micro += 1000000;
        --seconds;
    }
    const std::chrono::sys_seconds instant{std::chrono::seconds{seconds}};
    const std::chrono::sys_days day_point = std::chrono::floor<std::chrono::days>(instant);
    const std::chrono::year_month_day date{day_point};
    const long long rest = (instant - day_point).count();
    const int year = static_cast<int>(date.year());
    const unsigned month = static_cast<unsigned>(date.month());
    const unsigned day = static_cast<unsigned>(date.day());
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u %02lld:%02lld:%02lld.%06lld+00", year, month, day, rest / 3600,
                  rest / 60 % 60, rest % 60, micro);
    return text;
}

std::string version_predicate(const rules::TableRule& rule, std::string_view qualifier, std::string_view keys_array,
                              std::string_view pairs_array) {
    const std::string q(qualifier);
    const std::string key = "(" + row_key_text(rule, q) + ")";
    const std::string pair = row_version_text(rule, q) + " || ':' || " + key;
    return "CASE WHEN " + key + " = ANY (" + std::string(keys_array) + ") THEN " + pair + " = ANY (" +
           std::string(pairs_array) + ") ELSE true END";
}

std::string seen_pair(const SeenVersion& row) {
    return row.version + ":" + row.key;
}

std::string literal_version_predicate(const rules::TableRule& rule, std::string_view qualifier,
                                      const std::vector<SeenVersion>& seen, bool one_key_tuple) {
    if (seen.empty()) return "true";
    const std::string q(qualifier);
    if (one_key_tuple && seen.size() == 1) {
        return row_version_text(rule, q) + " = " + escaped_string_literal(seen.front().version);
    }
    if (seen.size() > max_rows_in_case) {
        std::vector<std::string> keys;
        std::vector<std::string> pairs;
        for (const SeenVersion& row : seen) {
            keys.push_back(row.key);
            pairs.push_back(seen_pair(row));
        }
        return version_predicate(rule, q, escaped_string_literal(text_array_value(keys)) + "::pg_catalog.text[]",
                                 escaped_string_literal(text_array_value(pairs)) + "::pg_catalog.text[]");
    }
    std::string out = "CASE " + row_key_text(rule, q);
    const std::string version = row_version_text(rule, q);
    for (const SeenVersion& row : seen) {
        out += " WHEN ";
        out += escaped_string_literal(row.key);
        out += " THEN ";
        out += version;
        out += " = ";
        out += escaped_string_literal(row.version);
    }
    out += " ELSE true END";
    return out;
}

struct TrackPlanner::Cache {
    explicit Cache(std::size_t capacity) : plans(capacity) {}
    // A plan and the answers it was made with: a bare name resolving elsewhere now (a changed
    // search_path) makes it stale.
    struct Entry {
        std::shared_ptr<const TrackedStatement> plan;
        Resolutions resolutions;
    };
    LruCache<std::shared_ptr<const Entry>> plans;
};

RewriteCacheStats TrackPlanner::cache_stats() const {
    const auto stats = cache_->plans.stats();
    return RewriteCacheStats{stats.hits, stats.misses, stats.size, stats.capacity};
}

TrackPlanner::TrackPlanner(std::shared_ptr<const rules::RuleSet> rules, std::size_t cache_capacity)
    : rules_(rules ? std::move(rules) : std::make_shared<const rules::RuleSet>()),
      cache_(std::make_unique<Cache>(cache_capacity)) {
    active_ = std::any_of(rules_->tables.begin(), rules_->tables.end(),
                          [](const rules::TableRule& rule) { return rule.mode == rules::Mode::Track; });
}

TrackPlanner::~TrackPlanner() = default;

std::shared_ptr<const TrackedStatement> TrackPlanner::plan(std::string_view statement,
                                                          const SchemaResolver& resolve) const {
    const bool cacheable = statement.size() <= max_cached_statement_bytes;
    if (cacheable) {
        if (auto cached = cache_->plans.get(statement)) {
            if (still_current((*cached)->resolutions, resolve)) return (*cached)->plan;
        }
    }
    auto entry = std::make_shared<Cache::Entry>();
    TrackedStatement planned = plan_statement(statement, *rules_, recording_resolver(resolve, entry->resolutions));
    planned.rules = rules_;
    entry->plan = std::make_shared<const TrackedStatement>(std::move(planned));
    if (cacheable) cache_->plans.put(std::string(statement), entry);
    return entry->plan;
}

}  // namespace staleguard::parser
