// Tests for the Prometheus rendering of the proxy's counters: escaping, families, cumulative histogram buckets.
#include "proxy/metrics.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace staleguard::session {
namespace {

struct EscapeCase {
    const char* name;
    std::string input;
    std::string label_escaped;
    std::string help_escaped;
};

const EscapeCase kEscapeCases[] = {
    {"Plain", "public.accounts", "public.accounts", "public.accounts"},
    {"Backslash", R"(a\b)", R"(a\\b)", R"(a\\b)"},
    {"DoubleQuote", R"(public."Odd")", R"(public.\"Odd\")", R"(public."Odd")"},
    {"Newline", "a\nb", R"(a\nb)", R"(a\nb)"},
    {"AllThree", "\"\\\n", R"(\"\\\n)", "\"\\\\\\n"},
    {"TabAndUtf8Kept", "caf\xc3\xa9\t", "caf\xc3\xa9\t", "caf\xc3\xa9\t"},
    {"Empty", "", "", ""},
};

class MetricsEscape : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(MetricsEscape, LabelValue) { EXPECT_EQ(escape_label_value(GetParam().input), GetParam().label_escaped); }
TEST_P(MetricsEscape, HelpText) { EXPECT_EQ(escape_help_text(GetParam().input), GetParam().help_escaped); }

INSTANTIATE_TEST_SUITE_P(Cases, MetricsEscape, ::testing::ValuesIn(kEscapeCases),
                         [](const auto& info) { return std::string(info.param.name); });

struct ValueCase {
    const char* name;
    double value;
    std::string text;
};

const ValueCase kValueCases[] = {
    {"Zero", 0, "0"},
    {"Integer", 42, "42"},
    {"TenMicroseconds", 0.00001, "0.00001"},
    {"QuarterMillisecond", 0.00025, "0.00025"},
    {"Tenth", 0.1, "0.1"},
    {"Tiny", 1e-9, "1e-09"},
    {"Infinity", std::numeric_limits<double>::infinity(), "+Inf"},
    {"MinusInfinity", -std::numeric_limits<double>::infinity(), "-Inf"},
    {"NotANumber", std::numeric_limits<double>::quiet_NaN(), "NaN"},
};

class MetricsValue : public ::testing::TestWithParam<ValueCase> {};

TEST_P(MetricsValue, Formats) { EXPECT_EQ(format_sample_value(GetParam().value), GetParam().text); }

INSTANTIATE_TEST_SUITE_P(Cases, MetricsValue, ::testing::ValuesIn(kValueCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Lines of the rendering that contain `needle`, in order.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        if (line.find(needle) != std::string::npos) out.push_back(line);
        start = end + 1;
    }
    return out;
}

struct RenderCase {
    const char* name;
    std::string expected_line;  // must appear as a whole line
};

MetricsSnapshot sample_snapshot() {
    MetricsSnapshot s;
    s.sessions_open = 2;
    s.sessions_total = 7;
    s.statements = {10, 3, 4, 1};
    s.stale_writes = {{"public.accounts", 1}, {"public.\"Odd\\name\"", 2}};
    s.rule_reloads_ok = 5;
    s.rule_reloads_failed = 1;
    s.upstream_connect_failures = 9;
    s.bytes_client_to_server = 1234;
    s.bytes_server_to_client = 56789;
    s.parse_cache_hits = 11;
    s.parse_cache_misses = 12;
    s.statement_added.upper_bounds = {0.00001, 0.0001, 0.001};
    s.statement_added.counts = {1, 2, 3, 4};
    s.statement_added.sum = 0.5;
    return s;
}

const RenderCase kRenderCases[] = {
    {"SessionsOpenType", "# TYPE staleguard_sessions_open gauge"},
    {"SessionsOpen", "staleguard_sessions_open 2"},
    {"SessionsTotalType", "# TYPE staleguard_sessions_total counter"},
    {"SessionsTotal", "staleguard_sessions_total 7"},
    {"Passed", "staleguard_statements_total{outcome=\"passed\"} 10"},
    {"Rewritten", "staleguard_statements_total{outcome=\"rewritten\"} 3"},
    {"Tracked", "staleguard_statements_total{outcome=\"tracked\"} 4"},
    {"Rejected", "staleguard_statements_total{outcome=\"rejected\"} 1"},
    {"StaleWrite", "staleguard_stale_writes_total{table=\"public.accounts\"} 1"},
    {"StaleWriteEscaped", "staleguard_stale_writes_total{table=\"public.\\\"Odd\\\\name\\\"\"} 2"},
    {"ReloadsOk", "staleguard_rule_reloads_total{result=\"ok\"} 5"},
    {"ReloadsFailed", "staleguard_rule_reloads_total{result=\"failed\"} 1"},
    {"ConnectFailures", "staleguard_upstream_connect_failures_total 9"},
    {"BytesIn", "staleguard_bytes_total{direction=\"client_to_server\"} 1234"},
    {"BytesOut", "staleguard_bytes_total{direction=\"server_to_client\"} 56789"},
    {"CacheHits", "staleguard_parse_cache_lookups_total{result=\"hit\"} 11"},
    {"CacheMisses", "staleguard_parse_cache_lookups_total{result=\"miss\"} 12"},
    {"HistogramType", "# TYPE staleguard_statement_added_seconds histogram"},
    {"BucketFirst", "staleguard_statement_added_seconds_bucket{le=\"0.00001\"} 1"},
    {"BucketCumulative", "staleguard_statement_added_seconds_bucket{le=\"0.0001\"} 3"},
    {"BucketLast", "staleguard_statement_added_seconds_bucket{le=\"0.001\"} 6"},
    {"BucketInf", "staleguard_statement_added_seconds_bucket{le=\"+Inf\"} 10"},
    {"HistogramSum", "staleguard_statement_added_seconds_sum 0.5"},
    {"HistogramCount", "staleguard_statement_added_seconds_count 10"},
};

class MetricsRender : public ::testing::TestWithParam<RenderCase> {};

TEST_P(MetricsRender, HasLine) {
    const std::string text = render_prometheus(sample_snapshot());
    const auto found = lines_with(text, GetParam().expected_line);
    EXPECT_NE(std::find(found.begin(), found.end(), GetParam().expected_line), found.end()) << text;
}

INSTANTIATE_TEST_SUITE_P(Cases, MetricsRender, ::testing::ValuesIn(kRenderCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MetricsRenderShape, EveryFamilyHasHelpThenTypeAndTextEndsWithNewline) {
    const std::string text = render_prometheus(sample_snapshot());
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    const auto help = lines_with(text, "# HELP ");
    const auto type = lines_with(text, "# TYPE ");
    EXPECT_EQ(help.size(), 9u);
    ASSERT_EQ(help.size(), type.size());
    for (std::size_t i = 0; i < help.size(); ++i) {
        const std::string name = help[i].substr(7, help[i].find(' ', 7) - 7);
        EXPECT_EQ(type[i].rfind("# TYPE " + name + " ", 0), 0u) << type[i];
    }
}

TEST(MetricsRenderShape, EmptySnapshotStillHasInfBucket) {
    const std::string text = render_prometheus(MetricsSnapshot{});
    EXPECT_EQ(lines_with(text, "le=\"+Inf\"").size(), 1u);
    EXPECT_EQ(lines_with(text, "staleguard_stale_writes_total{").size(), 0u);
    EXPECT_EQ(lines_with(text, "staleguard_statement_added_seconds_count 0").size(), 1u);
}

TEST(ProxyMetricsCounting, HistogramBucketsAndStaleTablesFromManyThreads) {
    ProxyMetrics metrics;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&metrics] {
            for (int i = 0; i < 1000; ++i) {
                metrics.statement_added(std::chrono::microseconds(5));    // first bucket (<= 10 µs)
                metrics.statement_added(std::chrono::milliseconds(200));  // beyond 100 ms: +Inf only
                metrics.statement(StatementOutcome::Tracked);
                metrics.bytes_from_client(3);
            }
            metrics.stale_write("public.accounts");
        });
    }
    for (auto& thread : threads) thread.join();
    metrics.session_opened();
    metrics.session_opened();
    metrics.session_closed();
    const auto s = metrics.snapshot();
    EXPECT_EQ(s.sessions_open, 1u);
    EXPECT_EQ(s.sessions_total, 2u);
    EXPECT_EQ(s.statements[static_cast<std::size_t>(StatementOutcome::Tracked)], 4000u);
    EXPECT_EQ(s.bytes_client_to_server, 12000u);
    ASSERT_EQ(s.stale_writes.size(), 1u);
    EXPECT_EQ(s.stale_writes[0].second, 4u);
    ASSERT_EQ(s.statement_added.counts.size(), statement_added_bounds.size() + 1);
    EXPECT_EQ(s.statement_added.counts.front(), 4000u);
    EXPECT_EQ(s.statement_added.counts.back(), 4000u);
    EXPECT_NEAR(s.statement_added.sum, 4000 * (0.000005 + 0.2), 1e-6);
    // An exact bound falls into its own bucket (le means less than or equal).
    ProxyMetrics exact;
    exact.statement_added(std::chrono::microseconds(100));
    EXPECT_EQ(exact.snapshot().statement_added.counts[3], 1u);
}

}  // namespace
}  // namespace staleguard::session
