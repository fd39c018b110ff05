// The rules in force, shared by every session: loaded at start, swapped whole on reload (SIGHUP).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parser/rewrite.hpp"

namespace staleguard::session {

// What one load gave: on refusal, every problem as FILE:LINE:COLUMN: message.
struct [[nodiscard]] RuleLoadOutcome {
    bool ok = false;
    std::vector<std::string> problems;
    explicit operator bool() const { return ok; }
};

class RuleRuntime {
public:
    // An empty path means no rules: every statement passes through untouched.
    explicit RuleRuntime(std::string path) : path_(std::move(path)) {}

    // Loads the file. On any problem the rules in force stay as they were, every problem is
    // logged as FILE:LINE:COLUMN: message, and false comes back.
    RuleLoadOutcome load();

    // The rules for statements that arrive from now on; a session keeps its snapshot for the
    // statement (and its prepared statements) it is working on.
    std::shared_ptr<const parser::Rewriter> current() const;
    // Bumped by every successful load: a session compares it (one atomic load per statement)
    // and takes the mutex for a new snapshot only when it changed.
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    const std::string& path() const { return path_; }
    std::uint64_t reloads_ok() const { return reloads_ok_; }
    std::uint64_t reloads_failed() const { return reloads_failed_; }
    // Rewrite and track-plan cache lookups over every rule set loaded so far: a reload retires
    // the caches of the old rules, whose counts stay in the totals so that they never go back.
    // (Lookups a session still makes in an old snapshot after its retirement are not counted.)
    parser::RewriteCacheStats cache_lookups() const;

private:
    std::string path_;
    mutable std::mutex mutex_;
    std::shared_ptr<const parser::Rewriter> rewriter_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> reloads_ok_{0};
    std::atomic<std::uint64_t> reloads_failed_{0};
    std::uint64_t retired_cache_hits_ = 0;    // under mutex_
    std::uint64_t retired_cache_misses_ = 0;  // under mutex_
};

}  // namespace staleguard::session
