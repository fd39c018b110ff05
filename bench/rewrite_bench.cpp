// Micro-benchmarks of the rewrite path: precheck miss, parse, full rewrite of a short UPDATE, cache hit.
#include <benchmark/benchmark.h>

#include <memory>
#include <optional>
#include <string>

#include "parser/pg_query_handle.hpp"
#include "parser/rewrite.hpp"
#include "rules/table_rule.hpp"

namespace {

using namespace staleguard;

std::shared_ptr<const rules::RuleSet> bench_rules() {
    auto rules = std::make_shared<rules::RuleSet>();
    for (const char* name : {"accounts", "orders", "invoices", "customers"}) {
        rules::TableRule rule;
        rule.table = {"public", name};
        rule.mode = rules::Mode::Client;
        rules->tables.push_back(rule);
    }
    return rules;
}

parser::RewriteContext bench_context() {
    parser::RewriteContext context;
    context.resolve_schema = [](std::string_view) -> std::optional<std::string> { return "public"; };
    context.role = "app";
    return context;
}

const std::string unprotected_select =
    "SELECT u.id, u.name, u.email FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.token = $1";
const std::string short_update = "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND version = $3";

void BM_PrecheckMiss(benchmark::State& state) {
    const parser::Rewriter rewriter(bench_rules());
    const auto context = bench_context();
    for (auto _ : state) {
        auto result = rewriter.rewrite(unprotected_select, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_PrecheckMiss);

void BM_ParseShortUpdate(benchmark::State& state) {
    for (auto _ : state) {
        auto tree = parser::parse(short_update);
        benchmark::DoNotOptimize(tree);
    }
}
BENCHMARK(BM_ParseShortUpdate);

void BM_ScanShortUpdate(benchmark::State& state) {
    for (auto _ : state) {
        auto tokens = parser::scan(short_update);
        benchmark::DoNotOptimize(tokens);
    }
}
BENCHMARK(BM_ScanShortUpdate);

// Cache disabled: parse, analyse, edit, deparse and the read-back check, every time.
void BM_RewriteShortUpdateUncached(benchmark::State& state) {
    const parser::Rewriter rewriter(bench_rules(), 0);
    const auto context = bench_context();
    for (auto _ : state) {
        auto result = rewriter.rewrite(short_update, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_RewriteShortUpdateUncached);

void BM_RewriteShortUpdateCacheHit(benchmark::State& state) {
    const parser::Rewriter rewriter(bench_rules());
    const auto context = bench_context();
    (void)rewriter.rewrite(short_update, context);
    for (auto _ : state) {
        auto result = rewriter.rewrite(short_update, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_RewriteShortUpdateCacheHit);

}  // namespace
