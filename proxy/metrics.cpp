// Proxy counters and the Prometheus text exposition format (version 0.0.4).
#include "proxy/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace staleguard::session {

void ProxyMetrics::stale_write(std::string_view table) {
    std::lock_guard lock(stale_mutex_);
    auto found = stale_writes_.find(table);
    if (found == stale_writes_.end()) found = stale_writes_.emplace(std::string(table), 0).first;
    ++found->second;
}

void ProxyMetrics::statement_added(std::chrono::nanoseconds elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(statement_added_bounds.begin(), statement_added_bounds.end(), seconds) -
        statement_added_bounds.begin());
    added_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    added_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())),
                            std::memory_order_relaxed);
}

MetricsSnapshot ProxyMetrics::snapshot() const {
    MetricsSnapshot out;
    out.sessions_open = sessions_open_.load(std::memory_order_relaxed);
    out.sessions_total = sessions_total_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < statement_outcome_count; ++i) out.statements[i] = statements_[i].load(std::memory_order_relaxed);
    out.rule_reloads_ok = reloads_ok_.load(std::memory_order_relaxed);
    out.rule_reloads_failed = reloads_failed_.load(std::memory_order_relaxed);
    out.upstream_connect_failures = upstream_connect_failures_.load(std::memory_order_relaxed);
    out.bytes_client_to_server = bytes_client_to_server_.load(std::memory_order_relaxed);
    out.bytes_server_to_client = bytes_server_to_client_.load(std::memory_order_relaxed);
    out.statement_added.upper_bounds.assign(statement_added_bounds.begin(), statement_added_bounds.end());
    for (const auto& bucket : added_buckets_) out.statement_added.counts.push_back(bucket.load(std::memory_order_relaxed));
    out.statement_added.sum = static_cast<double>(added_sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    {
        std::lock_guard lock(stale_mutex_);
        out.stale_writes.assign(stale_writes_.begin(), stale_writes_.end());
    }
    return out;
}

namespace {

// The exposition format escapes \ and newline everywhere, and " inside label values only.
std::string escaped(std::string_view text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\') out += "\\\\";
        else if (c == '"' && quotes) out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

}  // namespace

std::string escape_label_value(std::string_view value) { return escaped(value, true); }

std::string escape_help_text(std::string_view text) { return escaped(text, false); }

std::string format_sample_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{:.0f}", value);
    // Fixed notation where it stays short ("0.00001" rather than "1e-05"), as client libraries print bounds.
    if (std::fabs(value) >= 1e-6 && std::fabs(value) < 1e15) {
        std::string fixed = fmt::format("{:.9f}", value);
        while (fixed.back() == '0') fixed.pop_back();
        if (fixed.back() == '.') fixed.pop_back();
        if (std::stod(fixed) == value) return fixed;
    }
    return fmt::format("{}", value);
}

namespace {

class Exposition {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help_text(help), name, type);
    }
    void sample(std::string_view name, std::uint64_t value) { fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value); }
    void sample(std::string_view name, std::string_view label, std::string_view label_value, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out_), "{}{{{}=\"{}\"}} {}\n", name, label, escape_label_value(label_value), value);
    }
    void sample_text(std::string_view name, std::string_view value) {
        fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

}  // namespace

std::string render_prometheus(const MetricsSnapshot& s) {
    Exposition out;
    out.family("staleguard_sessions_open", "gauge", "Client sessions open now (admin console sessions excluded).");
    out.sample("staleguard_sessions_open", s.sessions_open);
    out.family("staleguard_sessions_total", "counter", "Client sessions opened since start (admin console sessions excluded).");
    out.sample("staleguard_sessions_total", s.sessions_total);

    out.family("staleguard_statements_total", "counter",
               "Query and Parse messages by what staleguard did with them, counted once per message "
               "(a Query string of several statements counts once; a stale write found at a later Execute "
               "is counted in staleguard_stale_writes_total only).");
    for (std::size_t i = 0; i < statement_outcome_count; ++i)
        out.sample("staleguard_statements_total", "outcome", statement_outcome_names[i], s.statements[i]);

    out.family("staleguard_stale_writes_total", "counter", "Writes refused because the row changed since it was read, by table.");
    for (const auto& [table, count] : s.stale_writes) out.sample("staleguard_stale_writes_total", "table", table, count);

    out.family("staleguard_rule_reloads_total", "counter", "Rule file reloads (SIGHUP or RELOAD) by result; the load at start is not counted.");
    out.sample("staleguard_rule_reloads_total", "result", "ok", s.rule_reloads_ok);
    out.sample("staleguard_rule_reloads_total", "result", "failed", s.rule_reloads_failed);

    out.family("staleguard_upstream_connect_failures_total", "counter", "Connections to the upstream server that failed or timed out.");
    out.sample("staleguard_upstream_connect_failures_total", s.upstream_connect_failures);

    out.family("staleguard_bytes_total", "counter", "Bytes read from clients (client_to_server) and from the server (server_to_client).");
    out.sample("staleguard_bytes_total", "direction", "client_to_server", s.bytes_client_to_server);
    out.sample("staleguard_bytes_total", "direction", "server_to_client", s.bytes_server_to_client);

    out.family("staleguard_parse_cache_lookups_total", "counter",
               "Lookups in the rewrite and track-plan caches by result (a miss parses the statement).");
    out.sample("staleguard_parse_cache_lookups_total", "result", "hit", s.parse_cache_hits);
    out.sample("staleguard_parse_cache_lookups_total", "result", "miss", s.parse_cache_misses);

    constexpr std::string_view histogram = "staleguard_statement_added_seconds";
    out.family(histogram, "histogram",
               "Time staleguard spends on one Query or Parse message before it goes upstream, including its "
               "own schema lookups and excluding the server's execution.");
    const auto& h = s.statement_added;
    std::uint64_t cumulative = 0;
    // Always through +Inf, whatever the snapshot holds: the format requires that bucket.
    for (std::size_t i = 0; i <= h.upper_bounds.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        const std::string le = i < h.upper_bounds.size() ? format_sample_value(h.upper_bounds[i]) : "+Inf";
        out.sample("staleguard_statement_added_seconds_bucket", "le", le, cumulative);
    }
    out.sample_text("staleguard_statement_added_seconds_sum", format_sample_value(h.sum));
    out.sample("staleguard_statement_added_seconds_count", cumulative);
    return out.take();
}

}  // namespace staleguard::session
