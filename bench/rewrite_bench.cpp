// Micro-benchmarks of the rewrite path: precheck miss, parse, scan, full rewrites without cache, cache hits.
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

// pgbench tpcb-like with pgbench_accounts protected: what the proxy sees under `-M simple`,
// where every text is new and the cache never hits.
std::shared_ptr<const rules::RuleSet> pgbench_rules() {
    auto rules = std::make_shared<rules::RuleSet>();
    rules::TableRule rule;
    rule.table = {"public", "pgbench_accounts"};
    rule.key = {"aid"};
    rule.mode = rules::Mode::Increment;
    rules->tables.push_back(rule);
    return rules;
}

const std::string pgbench_update = "UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 12345;";
const std::string pgbench_select = "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;";

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

void BM_ParsePgbenchUpdate(benchmark::State& state) {
    for (auto _ : state) {
        auto tree = parser::parse(pgbench_update);
        benchmark::DoNotOptimize(tree);
    }
}
BENCHMARK(BM_ParsePgbenchUpdate);

void BM_ScanPgbenchSelect(benchmark::State& state) {
    for (auto _ : state) {
        auto tokens = parser::scan(pgbench_select);
        benchmark::DoNotOptimize(tokens);
    }
}
BENCHMARK(BM_ScanPgbenchSelect);

// The pieces of a rewrite: deparsing a tree and comparing two trees, as the read-back check does.
void BM_DeparsePgbenchUpdate(benchmark::State& state) {
    auto tree = parser::parse(pgbench_update);
    for (auto _ : state) {
        auto sql = parser::deparse_statement(tree.value(), 0);
        benchmark::DoNotOptimize(sql);
    }
}
BENCHMARK(BM_DeparsePgbenchUpdate);

void BM_CompareStatementsPgbenchUpdate(benchmark::State& state) {
    auto left = parser::parse(pgbench_update);
    auto right = parser::parse(" update pgbench_accounts set abalance=abalance+-2345 where aid=12345");
    for (auto _ : state) {
        bool same = parser::same_statement(left.value(), 0, right.value(), 0);
        benchmark::DoNotOptimize(same);
    }
}
BENCHMARK(BM_CompareStatementsPgbenchUpdate);

void BM_RewritePgbenchUpdateUncached(benchmark::State& state) {
    const parser::Rewriter rewriter(pgbench_rules(), 0);
    const auto context = bench_context();
    for (auto _ : state) {
        auto result = rewriter.rewrite(pgbench_update, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_RewritePgbenchUpdateUncached);

void BM_RewritePgbenchSelectUncached(benchmark::State& state) {
    const parser::Rewriter rewriter(pgbench_rules(), 0);
    const auto context = bench_context();
    for (auto _ : state) {
        auto result = rewriter.rewrite(pgbench_select, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_RewritePgbenchSelectUncached);

void BM_RewritePgbenchUpdateCacheHit(benchmark::State& state) {
    const parser::Rewriter rewriter(pgbench_rules());
    const auto context = bench_context();
    (void)rewriter.rewrite(pgbench_update, context);
    for (auto _ : state) {
        auto result = rewriter.rewrite(pgbench_update, context);
        benchmark::DoNotOptimize(result);
    }
}
BENCHMARK(BM_RewritePgbenchUpdateCacheHit);

}  // namespace
