// Micro-benchmarks of stripping track mode's hidden columns from a DataRow: 10 columns, 2 of them hidden.
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/hidden_columns.hpp"

namespace {

using namespace staleguard;

wire::Bytes bytes_of(const std::string& text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// A pgbench-like row: ints, short texts, a timestamp, a NULL; then id::text and version::text.
struct BenchRow {
    std::vector<std::string> values = {"48213",  "7",         "-2711",  "alice@example.com",
                                       "",       "2024-03-01 12:00:00+00", "filler text of a few words",
                                       "48213",  "12"};
    std::vector<std::uint8_t> bytes;
    wire::Frame frame;
    session::HiddenLayout layout{{{"public.pgbench_accounts", 1}}};

    BenchRow() {
        wire::DataRow row;
        for (std::size_t i = 0; i < 7; ++i) row.columns.emplace_back(bytes_of(values[i]));
        row.columns.emplace_back(std::nullopt);  // the 8th visible column is NULL
        row.columns.emplace_back(bytes_of(values[7]));
        row.columns.emplace_back(bytes_of(values[8]));
        bytes = row.encode();
        frame.tag = 'D';
        frame.bytes = bytes;
        frame.payload = wire::Bytes(bytes).subspan(5);
    }
};

void BM_StripDataRow(benchmark::State& state) {
    const BenchRow row;
    std::vector<session::TrackedRow> tracked;
    for (auto _ : state) {
        auto stripped = session::strip_data_row(row.frame, row.layout, tracked);
        benchmark::DoNotOptimize(stripped);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * row.bytes.size()));
}
BENCHMARK(BM_StripDataRow);

// The same without building a frame: a 7-byte header and a view of the visible columns.
void BM_SplitDataRow(benchmark::State& state) {
    const BenchRow row;
    std::vector<session::TrackedRow> tracked;
    for (auto _ : state) {
        auto split = session::split_data_row(row.frame, row.layout, tracked);
        benchmark::DoNotOptimize(split);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * row.bytes.size()));
}
BENCHMARK(BM_SplitDataRow);

// What stripping would cost through the codec's typed DataRow: the baseline the above beat.
void BM_DecodeEncodeDataRow(benchmark::State& state) {
    const BenchRow row;
    for (auto _ : state) {
        auto decoded = wire::DataRow::decode(row.frame);
        decoded->columns.resize(decoded->columns.size() - 2);
        auto encoded = decoded->encode();
        benchmark::DoNotOptimize(encoded);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * row.bytes.size()));
}
BENCHMARK(BM_DecodeEncodeDataRow);

}  // namespace
