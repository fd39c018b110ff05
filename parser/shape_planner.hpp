// Plans a query string once per shape (literals aside) and fills each string's own literals into that plan.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/literal_template.hpp"
#include "parser/rewrite.hpp"
#include "parser/track_planner.hpp"

namespace staleguard::parser {

// What a session plans for one query string: the rewriter's result and, in track mode, the
// tracker's plan of its statement.
struct TextPlan {
    RewriteResult rewrite;
    std::shared_ptr<const TrackedStatement> tracked;  // null: the tracker was not asked
    std::string tracked_text;  // the statement the tracker planned, without blanks and comments around it
};

// Why: apps that paste literals into SQL (psql, scripts, many ORMs' simple-protocol paths) send a
// new text for every row, and planning one costs several parses and deparses in libpg_query. The
// plan of a shape is trusted only after it was checked against the plan of a real string: filled
// with that string's literals, it must equal what planning the string itself gave. A shape whose
// plan reads literal values (client-mode checks, session effects, rejections) is never trusted.
class ShapePlanner {
public:
    explicit ShapePlanner(std::size_t capacity = 4096);
    ~ShapePlanner();
    ShapePlanner(const ShapePlanner&) = delete;
    ShapePlanner& operator=(const ShapePlanner&) = delete;

    using PlanText = std::function<TextPlan(std::string_view sql, const SchemaResolver& resolve)>;

    // `plan_text` plans a string as written; `context_key` holds everything else its answer
    // depends on (which checks are on, which rules the role bypasses). The first string of a
    // shape is planned as written; the second also plans the shape and decides whether to trust
    // it; from then on strings of that shape are filled in without a parse.
    TextPlan plan(std::string_view sql, const LiteralTemplate* shape, std::string_view context_key,
                  const SchemaResolver& resolve, const PlanText& plan_text) const;

    // Whether a plan of this shape is trusted: then analysing the shape tells what analysing any
    // string of it would (the bare names to resolve, say), and the rewriter has the shape cached.
    bool trusts(const LiteralTemplate& shape, std::string_view context_key) const;

    struct Stats {
        std::uint64_t filled = 0;  // strings answered from a trusted shape
        std::size_t trusted = 0;   // shapes cached
    };
    Stats stats() const;

private:
    struct Cache;
    std::unique_ptr<Cache> cache_;
};

// The plan of a shape with each sentinel replaced by its literal; nullopt when a sentinel sits
// where it cannot be put back.
std::optional<TextPlan> fill_text_plan(const TextPlan& shaped, const std::vector<TemplateLiteral>& literals);
// Whether two plans would send and check the same.
bool same_text_plan(const TextPlan& left, const TextPlan& right);
// Whether a plan may stand for every string of its shape: it must not depend on literal values.
bool shape_independent(const TextPlan& plan);

}  // namespace staleguard::parser
