// Loading and swapping the rule set in force.
#include "proxy/rule_runtime.hpp"

#include <spdlog/spdlog.h>

#include "parser/track_planner.hpp"
#include "rules/rule_loader.hpp"

namespace staleguard::session {

namespace {

parser::RewriteCacheStats lookups_of(const parser::Rewriter& rewriter) {
    const auto rewrite = rewriter.cache_stats();
    const auto track = rewriter.tracker().cache_stats();
    return parser::RewriteCacheStats{rewrite.hits + track.hits, rewrite.misses + track.misses, 0, 0};
}

}  // namespace

RuleLoadOutcome RuleRuntime::load() {
    RuleLoadOutcome outcome;
    std::shared_ptr<const parser::Rewriter> next;
    if (path_.empty()) {
        next = std::make_shared<parser::Rewriter>(std::make_shared<rules::RuleSet>());
    } else {
        auto loaded = rules::load_rule_file(path_);
        if (!loaded) {
            for (const auto& problem : loaded.problems) {
                spdlog::error("{}", problem.to_string());
                outcome.problems.push_back(problem.to_string());
            }
            spdlog::error("rule file {} refused ({} problem(s)); the rules in force are unchanged", path_,
                          loaded.problems.size());
            ++reloads_failed_;
            return outcome;
        }
        auto rules = std::make_shared<rules::RuleSet>(std::move(*loaded.rules));
        spdlog::info("rules loaded from {}: {} protected table(s)", path_, rules->tables.size());
        next = std::make_shared<parser::Rewriter>(std::move(rules));
    }
    {
        std::lock_guard lock(mutex_);
        if (rewriter_) {
            const auto retired = lookups_of(*rewriter_);
            retired_cache_hits_ += retired.hits;
            retired_cache_misses_ += retired.misses;
        }
        rewriter_ = std::move(next);
        generation_.fetch_add(1, std::memory_order_release);
    }
    ++reloads_ok_;
    outcome.ok = true;
    return outcome;
}

parser::RewriteCacheStats RuleRuntime::cache_lookups() const {
    std::lock_guard lock(mutex_);
    parser::RewriteCacheStats out{retired_cache_hits_, retired_cache_misses_, 0, 0};
    if (rewriter_) {
        const auto current = lookups_of(*rewriter_);
        out.hits += current.hits;
        out.misses += current.misses;
    }
    return out;
}

std::shared_ptr<const parser::Rewriter> RuleRuntime::current() const {
    std::lock_guard lock(mutex_);
    return rewriter_;
}

}  // namespace staleguard::session
