// Plans a query string once per shape (literals aside) and fills each string's own literals into that plan.
#include "parser/shape_planner.hpp"

#include <algorithm>
#include <atomic>

#include "parser/lru_cache.hpp"

namespace staleguard::parser {
namespace {

// Reasons and other prose must not carry a literal at all: there is no telling where it went.
bool free_of_sentinels(std::string_view text, const std::vector<TemplateLiteral>& literals) {
    auto same = fill_value(text, literals);
    return same && *same == text;
}

bool same_read_tracking(const ReadTracking& left, const ReadTracking& right) {
    if (left.outcome != right.outcome || left.reason != right.reason || left.sql != right.sql ||
        left.hidden_count != right.hidden_count || left.client_sees_rows != right.client_sees_rows ||
        left.rows_deleted != right.rows_deleted ||
        left.tables.size() != right.tables.size())
        return false;
    for (std::size_t i = 0; i < left.tables.size(); ++i) {
        const auto& a = left.tables[i];
        const auto& b = right.tables[i];
        if (!(a.table == b.table) || a.rule != b.rule || a.key_count != b.key_count) return false;
    }
    return true;
}

bool same_keyed(const KeyedWrite& left, const KeyedWrite& right) {
    return left.outcome == right.outcome && left.reason == right.reason && left.target.rule == right.target.rule &&
           left.target.key_tuples == right.target.key_tuples &&
           left.target.from_array_parameter == right.target.from_array_parameter &&
           left.target.array_parameter == right.target.array_parameter && left.is_delete == right.is_delete &&
           left.qualifier == right.qualifier && left.sql_before_slot == right.sql_before_slot &&
           left.sql_after_slot == right.sql_after_slot;
}

bool same_statement_rewrite(const StatementRewrite& left, const StatementRewrite& right) {
    return left.sql == right.sql && left.rewritten == right.rewritten && left.checks.empty() && right.checks.empty() &&
           left.effects == right.effects && left.protected_tables == right.protected_tables &&
           left.prepared_name == right.prepared_name;
}

std::optional<ReadTracking> fill_read_tracking(const ReadTracking& shaped, const std::vector<TemplateLiteral>& literals) {
    ReadTracking filled = shaped;
    if (!free_of_sentinels(shaped.reason, literals)) return std::nullopt;
    auto sql = fill_sql(shaped.sql, literals);
    if (!sql) return std::nullopt;
    filled.sql = std::move(*sql);
    return filled;
}

std::optional<KeyedWrite> fill_keyed(const KeyedWrite& shaped, const std::vector<TemplateLiteral>& literals) {
    KeyedWrite filled = shaped;
    if (!free_of_sentinels(shaped.reason, literals) || !free_of_sentinels(shaped.qualifier, literals))
        return std::nullopt;
    auto before = fill_sql(shaped.sql_before_slot, literals);
    auto after = fill_sql(shaped.sql_after_slot, literals);
    if (!before || !after) return std::nullopt;
    filled.sql_before_slot = std::move(*before);
    filled.sql_after_slot = std::move(*after);
    // Distinct sentinels can stand for equal literals (`id IN (1, 1)`): analysis of the string
    // itself keeps the first of equal tuples, and so does this.
    filled.target.key_tuples.clear();
    for (const auto& tuple : shaped.target.key_tuples) {
        std::vector<std::string> values;
        values.reserve(tuple.size());
        for (const auto& value : tuple) {
            auto literal = fill_value(value, literals);
            if (!literal) return std::nullopt;
            values.push_back(std::move(*literal));
        }
        if (std::find(filled.target.key_tuples.begin(), filled.target.key_tuples.end(), values) ==
            filled.target.key_tuples.end())
            filled.target.key_tuples.push_back(std::move(values));
    }
    return filled;
}

}  // namespace

std::optional<TextPlan> fill_text_plan(const TextPlan& shaped, const std::vector<TemplateLiteral>& literals) {
    TextPlan filled;
    const RewriteResult& rewrite = shaped.rewrite;
    filled.rewrite.outcome = rewrite.outcome;
    filled.rewrite.error_sqlstate = rewrite.error_sqlstate;
    if (!free_of_sentinels(rewrite.error_message, literals)) return std::nullopt;
    filled.rewrite.error_message = rewrite.error_message;
    auto sql = fill_sql(rewrite.sql, literals);
    if (!sql) return std::nullopt;
    filled.rewrite.sql = std::move(*sql);
    for (const StatementRewrite& statement : rewrite.statements) {
        StatementRewrite copy = statement;
        auto text = fill_sql(statement.sql, literals);
        if (!text) return std::nullopt;
        copy.sql = std::move(*text);
        filled.rewrite.statements.push_back(std::move(copy));
    }
    if (auto text = fill_sql(shaped.tracked_text, literals)) {
        filled.tracked_text = std::move(*text);
    } else {
        return std::nullopt;
    }
    if (shaped.tracked) {
        const TrackedStatement& tracked = *shaped.tracked;
        auto copy = std::make_shared<TrackedStatement>();
        copy->kind = tracked.kind;
        copy->highest_parameter = tracked.highest_parameter;
        copy->rules = tracked.rules;
        if (!free_of_sentinels(tracked.reason, literals)) return std::nullopt;
        copy->reason = tracked.reason;
        auto tracking = fill_read_tracking(tracked.tracking, literals);
        auto keyed = fill_keyed(tracked.keyed, literals);
        if (!tracking || !keyed) return std::nullopt;
        copy->tracking = std::move(*tracking);
        copy->keyed = std::move(*keyed);
        filled.tracked = std::move(copy);
    }
    return filled;
}

bool same_text_plan(const TextPlan& left, const TextPlan& right) {
    const RewriteResult& a = left.rewrite;
    const RewriteResult& b = right.rewrite;
    if (a.outcome != b.outcome || a.sql != b.sql || a.error_sqlstate != b.error_sqlstate ||
        a.error_message != b.error_message || a.statements.size() != b.statements.size())
        return false;
    for (std::size_t i = 0; i < a.statements.size(); ++i) {
        if (!same_statement_rewrite(a.statements[i], b.statements[i])) return false;
    }
    if (left.tracked_text != right.tracked_text) return false;
    if (!left.tracked || !right.tracked) return !left.tracked && !right.tracked;
    const TrackedStatement& x = *left.tracked;
    const TrackedStatement& y = *right.tracked;
    return x.kind == y.kind && x.reason == y.reason && x.highest_parameter == y.highest_parameter &&
           same_read_tracking(x.tracking, y.tracking) && same_keyed(x.keyed, y.keyed);
}

bool shape_independent(const TextPlan& plan) {
    if (plan.rewrite.outcome == RewriteResult::Outcome::Rejected || plan.rewrite.statements.size() > 1) return false;
    return std::all_of(plan.rewrite.statements.begin(), plan.rewrite.statements.end(), [](const StatementRewrite& s) {
        return s.checks.empty() && s.effects.empty() && s.prepared_name.empty();
    });
}

struct ShapePlanner::Cache {
    explicit Cache(std::size_t capacity) : entries(capacity) {}
    struct Entry {
        enum class State { SeenOnce, Trusted, Refused };
        State state = State::SeenOnce;
        TextPlan plan;            // Trusted: the shape's plan, sentinels and all
        Resolutions resolutions;  // Trusted: what planning the shape asked, and the answers
    };
    LruCache<std::shared_ptr<const Entry>> entries;
    std::atomic<std::uint64_t> filled{0};
};

ShapePlanner::ShapePlanner(std::size_t capacity) : cache_(std::make_unique<Cache>(capacity)) {}
ShapePlanner::~ShapePlanner() = default;

namespace {

std::string cache_key(const LiteralTemplate& shape, std::string_view context_key) {
    std::string key;
    key.reserve(shape.shape.size() + 1 + context_key.size());
    key.append(shape.shape);
    key += '\0';
    key.append(context_key);
    return key;
}

}  // namespace

TextPlan ShapePlanner::plan(std::string_view sql, const LiteralTemplate* shape, std::string_view context_key,
                            const SchemaResolver& resolve, const PlanText& plan_text) const {
    if (shape == nullptr || sql.size() > Rewriter::max_cached_statement_bytes) return plan_text(sql, resolve);
    std::string key = cache_key(*shape, context_key);
    using State = Cache::Entry::State;
    const auto cached = cache_->entries.get(key);
    const Cache::Entry* entry = cached ? cached->get() : nullptr;
    if (entry != nullptr && entry->state == State::Trusted && still_current(entry->resolutions, resolve)) {
        if (auto filled = fill_text_plan(entry->plan, shape->literals)) {
            cache_->filled.fetch_add(1, std::memory_order_relaxed);
            return std::move(*filled);
        }
    }
    TextPlan original = plan_text(sql, resolve);
    if (entry == nullptr) {
        cache_->entries.put(std::move(key), std::make_shared<const Cache::Entry>());
        return original;
    }
    if (entry->state == State::Refused) return original;
    // Seen before (or trusted under other resolutions): plan the shape and check it against this string.
    auto next = std::make_shared<Cache::Entry>();
    next->plan = plan_text(shape->shape, recording_resolver(resolve, next->resolutions));
    next->state = State::Refused;
    if (shape_independent(original) && shape_independent(next->plan)) {
        if (auto filled = fill_text_plan(next->plan, shape->literals); filled && same_text_plan(*filled, original))
            next->state = State::Trusted;
    }
    cache_->entries.put(std::move(key), std::move(next));
    return original;
}

bool ShapePlanner::trusts(const LiteralTemplate& shape, std::string_view context_key) const {
    const auto cached = cache_->entries.get(cache_key(shape, context_key));
    return cached && (*cached)->state == Cache::Entry::State::Trusted;
}

ShapePlanner::Stats ShapePlanner::stats() const {
    return Stats{cache_->filled.load(std::memory_order_relaxed), cache_->entries.stats().size};
}

}  // namespace staleguard::parser
