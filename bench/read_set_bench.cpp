// Micro-benchmarks of ReadSet: remember/seen throughput at 100000 rows, and bytes per row (estimated and RSS).
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "proxy/read_set.hpp"

namespace {

using staleguard::session::ReadSet;

constexpr std::size_t kRows = 100000;

std::vector<std::string> make_keys(std::size_t count, std::size_t first = 0) {
    std::vector<std::string> keys;
    keys.reserve(count);
    for (std::size_t n = first; n < first + count; ++n) {
        char text[24];
        std::snprintf(text, sizeof text, "%08zu", n);
        keys.emplace_back(text);
    }
    return keys;
}

// 2..10 decimal digits, like a version counter's text.
std::string version_for(std::size_t n) { return std::to_string(10 + n % 9).append(n % 9, '7'); }

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t total_pages = 0;
    std::size_t resident_pages = 0;
    statm >> total_pages >> resident_pages;
    return resident_pages * 4096;
}

void fill(ReadSet& read_set, const std::vector<std::string>& keys, const std::vector<std::string>& versions) {
    for (std::size_t n = 0; n < keys.size(); ++n) {
        const std::string_view parts[] = {keys[n]};
        read_set.remember("public.pgbench_accounts", parts, versions[n % versions.size()]);
    }
}

std::vector<std::string> make_versions() {
    std::vector<std::string> versions;
    for (std::size_t n = 0; n < 9; ++n) versions.push_back(version_for(n));
    return versions;
}

// Rows that are new each time: the set is full, so every remember also evicts.
void BM_ReadSetRememberNew(benchmark::State& state) {
    const auto keys = make_keys(2 * kRows);
    const auto versions = make_versions();
    ReadSet read_set(kRows);
    std::size_t n = 0;
    for (auto _ : state) {
        const std::string_view parts[] = {keys[n]};
        read_set.remember("public.pgbench_accounts", parts, versions[n % versions.size()]);
        n = n + 1 == keys.size() ? 0 : n + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadSetRememberNew);

// Re-reading rows already tracked: a refresh of the version in place.
void BM_ReadSetRememberRefresh(benchmark::State& state) {
    const auto keys = make_keys(kRows);
    const auto versions = make_versions();
    ReadSet read_set(kRows);
    fill(read_set, keys, versions);
    std::size_t n = 0;
    for (auto _ : state) {
        const std::string_view parts[] = {keys[n]};
        read_set.remember("public.pgbench_accounts", parts, versions[n % versions.size()]);
        n = n + 1 == keys.size() ? 0 : n + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadSetRememberRefresh);

void BM_ReadSetSeenHit(benchmark::State& state) {
    const auto keys = make_keys(kRows);
    ReadSet read_set(kRows);
    fill(read_set, keys, make_versions());
    std::size_t n = 0;
    for (auto _ : state) {
        const std::string_view parts[] = {keys[n]};
        auto version = read_set.seen("public.pgbench_accounts", parts);
        benchmark::DoNotOptimize(version);
        n = n + 1 == keys.size() ? 0 : n + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadSetSeenHit);

void BM_ReadSetSeenMiss(benchmark::State& state) {
    const auto keys = make_keys(kRows);
    const auto absent = make_keys(kRows, kRows);
    ReadSet read_set(kRows);
    fill(read_set, keys, make_versions());
    std::size_t n = 0;
    for (auto _ : state) {
        const std::string_view parts[] = {absent[n]};
        auto version = read_set.seen("public.pgbench_accounts", parts);
        benchmark::DoNotOptimize(version);
        n = n + 1 == absent.size() ? 0 : n + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ReadSetSeenMiss);

// Fills 100000 rows (8-byte keys, 2..10-byte versions) from empty. Counters: memory_bytes() per
// row, and the process's resident-set growth per row, before and after malloc_trim (before, it
// includes freed growth buffers that malloc keeps for reuse). The RSS figures are cleanest when this runs
// alone (--benchmark_filter=ReadSetFill): other benchmarks leave freed memory that malloc reuses.
void BM_ReadSetFill(benchmark::State& state) {
    const auto keys = make_keys(kRows);
    const auto versions = make_versions();
    double estimated_per_row = 0;
    double rss_per_row = 0;
    double rss_trimmed_per_row = 0;
    for (auto _ : state) {
        state.PauseTiming();
        malloc_trim(0);
        const std::size_t before = resident_bytes();
        state.ResumeTiming();
        ReadSet read_set(kRows);
        fill(read_set, keys, versions);
        state.PauseTiming();
        const std::size_t after = resident_bytes();
        // Trimming hands back what malloc kept of the buffers that growth and compaction freed,
        // leaving the pages the set really holds.
        malloc_trim(0);
        const std::size_t after_trim = resident_bytes();
        estimated_per_row = static_cast<double>(read_set.memory_bytes()) / kRows;
        rss_per_row = after > before ? static_cast<double>(after - before) / kRows : 0.0;
        rss_trimmed_per_row = after_trim > before ? static_cast<double>(after_trim - before) / kRows : 0.0;
        state.ResumeTiming();
    }
    state.counters["bytes_per_row"] = estimated_per_row;
    state.counters["rss_bytes_per_row"] = rss_per_row;
    state.counters["rss_trimmed_bytes_per_row"] = rss_trimmed_per_row;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRows));
}
BENCHMARK(BM_ReadSetFill)->Unit(benchmark::kMillisecond);

}  // namespace
