// Loading and swapping the rule set in force.
#include "proxy/rule_runtime.hpp"

#include <spdlog/spdlog.h>

#include "rules/rule_loader.hpp"

namespace staleguard::session {

bool RuleRuntime::load() {
    std::shared_ptr<const parser::Rewriter> next;
    if (path_.empty()) {
        next = std::make_shared<parser::Rewriter>(std::make_shared<rules::RuleSet>());
    } else {
        auto loaded = rules::load_rule_file(path_);
        if (!loaded) {
            for (const auto& problem : loaded.problems) spdlog::error("{}", problem.to_string());
            spdlog::error("rule file {} refused ({} problem(s)); the rules in force are unchanged", path_,
                          loaded.problems.size());
            ++reloads_failed_;
            return false;
        }
        auto rules = std::make_shared<rules::RuleSet>(std::move(*loaded.rules));
        spdlog::info("rules loaded from {}: {} protected table(s)", path_, rules->tables.size());
        next = std::make_shared<parser::Rewriter>(std::move(rules));
    }
    {
        std::lock_guard lock(mutex_);
        rewriter_ = std::move(next);
        generation_.fetch_add(1, std::memory_order_release);
    }
    ++reloads_ok_;
    return true;
}

std::shared_ptr<const parser::Rewriter> RuleRuntime::current() const {
    std::lock_guard lock(mutex_);
    return rewriter_;
}

}  // namespace staleguard::session
