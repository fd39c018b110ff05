// Rewrites UPDATE/DELETE on protected tables: version bumps in every mode, row-count checks in client mode.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/statement_analysis.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::parser {

// Bare relation names are resolved by the caller, who knows the session's search_path.
using SchemaResolver = std::function<std::optional<std::string>(std::string_view bare_name)>;

// The schema `resolve` gives a bare name; without a resolver, "public" (PostgreSQL's default path).
std::optional<std::string> resolve_bare_name(const SchemaResolver& resolve, std::string_view bare_name);

// The bare names a plan asked about and the answers it got: a cached plan stays valid while every
// name still resolves as it did (a changed search_path makes it stale).
using Resolutions = std::vector<std::pair<std::string, std::optional<std::string>>>;
// `resolve`, recording each name's first answer in `asked` (and answering repeats from there).
// `resolve` and `asked` must outlive the resolver.
SchemaResolver recording_resolver(const SchemaResolver& resolve, Resolutions& asked);
bool still_current(const Resolutions& asked, const SchemaResolver& resolve);

struct RewriteContext {
    SchemaResolver resolve_schema;  // bare name → schema it resolves to now; nullopt = no such table
    std::string_view role;          // session user, for bypass_roles
    bool checks_enabled = true;     // false after SET staleguard.enabled = off
};

struct StaleCheck {  // client mode: what the CommandComplete must show
    const rules::TableRule* rule = nullptr;
    bool is_delete = false;
    std::size_t expected_rows = 0;        // number of distinct key tuples the WHERE gives
    // Per key column, in key order: its literal ("1"), "$n", or for an IN list all of its
    // distinct values in parentheses ("(1, 2, 3)").
    std::vector<std::string> key_values;
    std::vector<int> key_parameters;      // $n numbers that carry key values (known at Bind), ascending
    std::string version_value;            // literal expected version, or "$n"
};

struct StatementRewrite {
    std::string sql;  // this statement (without blanks, comments and `;` around it), rewritten or as written
    bool rewritten = false;
    std::vector<StaleCheck> checks;
    std::vector<SessionEffect> effects;
    std::vector<rules::QualifiedName> protected_tables;  // protected tables it writes
    // PREPARE name AS ...: the checks apply to each EXECUTE name(...) rather than to this statement.
    std::string prepared_name;
};

// The SQLSTATE of a statement on a protected table that staleguard cannot analyse (under
// unanalysable: reject): feature_not_supported.
inline constexpr std::string_view unanalysable_sqlstate = "0A000";

struct RewriteResult {
    enum class Outcome { Untouched, Rewritten, Rejected };
    Outcome outcome = Outcome::Untouched;
    std::string sql;                            // the whole string: untouched statements byte for byte
    std::vector<StatementRewrite> statements;   // one per statement; empty when Untouched by precheck
    std::string error_sqlstate;                 // when Rejected (unanalysable_sqlstate, or 22023)
    std::string error_message;
};

struct RewriteCacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t size = 0;
    std::size_t capacity = 0;
};

class TrackPlanner;
class ShapePlanner;

class Rewriter {
public:
    // Statements longer than this are rewritten every time rather than cached: the cache key
    // holds the whole text, and a few huge statements must not pin megabytes.
    static constexpr std::size_t max_cached_statement_bytes = 64 * 1024;

    explicit Rewriter(std::shared_ptr<const rules::RuleSet> rules, std::size_t cache_capacity = 4096);
    ~Rewriter();
    Rewriter(const Rewriter&) = delete;
    Rewriter& operator=(const Rewriter&) = delete;

    // The bare relation names in `sql` that some rule protects: the session resolves these
    // (asking the server if needed) before calling rewrite().
    std::vector<std::string> names_to_resolve(std::string_view sql) const;
    RewriteResult rewrite(std::string_view sql, const RewriteContext& context) const;
    const rules::RuleSet& rules() const;
    RewriteCacheStats cache_stats() const;
    // What besides the text a rewrite depends on: whether checks are on, and which rules the
    // context's role bypasses. Part of every cache key made for the context.
    std::string context_key(const RewriteContext& context) const;

    // True when `sql` could touch a protected table or session state we follow; false means
    // rewrite() returns it untouched without parsing.
    bool may_need_rewrite(std::string_view sql) const;

    // Track mode's planner for the same rules.
    const TrackPlanner& tracker() const { return *tracker_; }
    // Plans reused across strings that differ only in their literals.
    const ShapePlanner& shapes() const { return *shapes_; }

private:
    struct Caches;
    std::shared_ptr<const rules::RuleSet> rules_;
    std::vector<std::string> needles_;  // lower-case words whose absence proves a string harmless
    // needles_ indices by the needle's first byte, so the precheck looks at each byte once.
    std::array<std::vector<std::size_t>, 256> needles_by_first_byte_;
    std::unique_ptr<Caches> caches_;
    std::unique_ptr<TrackPlanner> tracker_;
    std::unique_ptr<ShapePlanner> shapes_;
};

}  // namespace staleguard::parser
