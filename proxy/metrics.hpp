// Proxy-wide counters (updated lock-free from every worker), their snapshot, and its Prometheus text rendering.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace staleguard::session {

// What staleguard did with one Query or Parse message (counted once per message).
enum class StatementOutcome : std::size_t {
    Passed,     // forwarded as the client sent it
    Rewritten,  // version bump or client-mode check added
    Tracked,    // track mode: a read whose versions are remembered, or a checked keyed write
    Rejected,   // refused by staleguard: stale write, unanalysable statement, unread write
};
inline constexpr std::size_t statement_outcome_count = 4;
inline constexpr std::array<std::string_view, statement_outcome_count> statement_outcome_names{
    "passed", "rewritten", "tracked", "rejected"};

// Upper bounds (seconds) of the added-time histogram: 10 µs to 100 ms, about three per decade.
inline constexpr std::array<double, 13> statement_added_bounds{0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                               0.0005,  0.001,    0.0025,  0.005,  0.01,
                                                               0.025,   0.05,     0.1};

struct HistogramSnapshot {
    std::vector<double> upper_bounds;   // ascending, without +Inf
    std::vector<std::uint64_t> counts;  // per bucket, NOT cumulative; one more than upper_bounds (+Inf)
    double sum = 0;                     // seconds
};

struct MetricsSnapshot {
    std::uint64_t sessions_open = 0;
    std::uint64_t sessions_total = 0;
    std::array<std::uint64_t, statement_outcome_count> statements{};
    std::vector<std::pair<std::string, std::uint64_t>> stale_writes;  // by table, sorted by name
    std::uint64_t rule_reloads_ok = 0;
    std::uint64_t rule_reloads_failed = 0;
    std::uint64_t upstream_connect_failures = 0;
    std::uint64_t bytes_client_to_server = 0;
    std::uint64_t bytes_server_to_client = 0;
    std::uint64_t parse_cache_hits = 0;
    std::uint64_t parse_cache_misses = 0;
    HistogramSnapshot statement_added;
};

// Owned by the Server; every method is thread-safe. Counters use relaxed atomics: a scrape may see
// one counter a statement ahead of another, never a torn or lost update.
class ProxyMetrics {
public:
    void session_opened() {
        sessions_open_.fetch_add(1, std::memory_order_relaxed);
        sessions_total_.fetch_add(1, std::memory_order_relaxed);
    }
    void session_closed() { sessions_open_.fetch_sub(1, std::memory_order_relaxed); }
    void statement(StatementOutcome outcome) {
        statements_[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
    }
    // Rare (one per refused write): a map behind a mutex is cheaper than anything clever.
    void stale_write(std::string_view table);
    void rule_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed); }
    void upstream_connect_failed() { upstream_connect_failures_.fetch_add(1, std::memory_order_relaxed); }
    void bytes_from_client(std::uint64_t n) { bytes_client_to_server_.fetch_add(n, std::memory_order_relaxed); }
    void bytes_from_server(std::uint64_t n) { bytes_server_to_client_.fetch_add(n, std::memory_order_relaxed); }
    void statement_added(std::chrono::nanoseconds elapsed);

    // Everything but the parse-cache counters, which live with the rules (the Server adds them).
    MetricsSnapshot snapshot() const;

private:
    std::atomic<std::uint64_t> sessions_open_{0};
    std::atomic<std::uint64_t> sessions_total_{0};
    std::array<std::atomic<std::uint64_t>, statement_outcome_count> statements_{};
    std::atomic<std::uint64_t> reloads_ok_{0};
    std::atomic<std::uint64_t> reloads_failed_{0};
    std::atomic<std::uint64_t> upstream_connect_failures_{0};
    std::atomic<std::uint64_t> bytes_client_to_server_{0};
    std::atomic<std::uint64_t> bytes_server_to_client_{0};
    std::array<std::atomic<std::uint64_t>, statement_added_bounds.size() + 1> added_buckets_{};
    std::atomic<std::uint64_t> added_sum_ns_{0};
    mutable std::mutex stale_mutex_;
    std::map<std::string, std::uint64_t, std::less<>> stale_writes_;
};

// A label value as the exposition format wants it between double quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view value);
// HELP text: \ and newline escaped (quotes stay).
std::string escape_help_text(std::string_view text);
// A sample value: integers without a fraction, +Inf/-Inf/NaN spelt as Prometheus does.
std::string format_sample_value(double value);

// Pure: the whole /metrics body (text exposition format 0.0.4), HELP and TYPE for every family.
std::string render_prometheus(const MetricsSnapshot& snapshot);

}  // namespace staleguard::session
