// libFuzzer target: arbitrary bytes as a query string through analyse → rewrite → deparse, literal templating and track mode's read and write analysis, never a crash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "parser/keyed_write.hpp"
#include "parser/literal_template.hpp"
#include "parser/read_tracking.hpp"
#include "parser/pg_query_handle.hpp"
#include "parser/rewrite.hpp"
#include "rules/table_rule.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace {

// Client query strings worth searching are short; huge inputs only slow the search down.
constexpr std::size_t max_fuzz_input_bytes = 16 * 1024;

std::shared_ptr<const staleguard::rules::RuleSet> fuzz_rules() {
    using namespace staleguard::rules;
    auto rules = std::make_shared<RuleSet>();
    TableRule accounts;
    accounts.table = {"public", "accounts"};
    accounts.mode = Mode::Increment;
    TableRule orders;
    orders.table = {"public", "orders"};
    orders.mode = Mode::Client;
    TableRule events;
    events.table = {"app", "events"};
    events.mode = Mode::Client;
    events.kind = VersionKind::Timestamp;
    events.version_column = "updated_at";
    events.key = {"tenant", "id"};
    TableRule lines;
    lines.table = {"public", "order_lines"};
    lines.mode = Mode::Track;
    lines.key = {"order_id", "line_no"};
    lines.ignore = {"note"};
    rules->tables = {accounts, orders, events, lines};
    return rules;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_fuzz_input_bytes) return -1;
    using namespace staleguard::parser;
    // Built once per process: the rule set is fixed; no cache, so every input is fully analysed.
    static const std::shared_ptr<const staleguard::rules::RuleSet> rules = fuzz_rules();
    static const Rewriter rewriter(rules, 0);
    const std::string_view sql(reinterpret_cast<const char*>(data), size);

    RewriteContext context;
    context.resolve_schema = [](std::string_view name) -> std::optional<std::string> {
        if (name == "events") return "app";
        return "public";
    };
    context.role = "app";
    // The quick scanner, where it answers, answers what PostgreSQL's scanner makes of the string.
    if (const auto quick = quick_literal_template(sql)) FUZZ_REQUIRE(scanned_literal_template(sql) == quick);
    // A shape filled with its own literals is the string again.
    if (const auto shape = make_literal_template(sql)) {
        const auto filled = fill_sql(shape->shape, shape->literals);
        FUZZ_REQUIRE(filled.has_value() && *filled == sql);
    }
    // A keyed write names whole key tuples and leaves a slot that sits in a WHERE.
    const SchemaResolver resolve = context.resolve_schema;
    const KeyedWrite keyed = analyse_keyed_write(sql, *rules, resolve);
    if (keyed.outcome == KeyedWrite::Outcome::Keyed) {
        FUZZ_REQUIRE(keyed.target.rule != nullptr && !keyed.target.key_tuples.empty());
        for (const auto& tuple : keyed.target.key_tuples) FUZZ_REQUIRE(tuple.size() == keyed.target.rule->key.size());
        FUZZ_REQUIRE(parse(keyed.sql_before_slot + "true" + keyed.sql_after_slot).ok());
    } else {
        FUZZ_REQUIRE(!keyed.reason.empty());
    }
    // A tracked read is a statement again, carrying as many hidden columns as its tables need.
    const ReadTracking read = plan_read_tracking(sql, *rules, resolve);
    if (read.outcome == ReadTracking::Outcome::Tracked) {
        FUZZ_REQUIRE(!read.tables.empty() && parse(read.sql).ok());
        std::size_t hidden = 0;
        for (const TrackedTable& table : read.tables) hidden += table.key_count + 1;
        FUZZ_REQUIRE(hidden == read.hidden_count);
        FUZZ_REQUIRE(plan_read_tracking(read.sql, *rules, resolve).outcome == ReadTracking::Outcome::NotTracked);
    } else {
        FUZZ_REQUIRE(!read.reason.empty());
    }
    // A write's hidden RETURNING is a statement again, for one table, its rows for the client
    // only when the client asked for some.
    const ReadTracking written = plan_write_returning(sql, *rules, resolve);
    if (written.outcome == ReadTracking::Outcome::Tracked) {
        FUZZ_REQUIRE(written.tables.size() == 1 && parse(written.sql).ok());
        FUZZ_REQUIRE(written.hidden_count == written.tables.front().key_count + 1);
        FUZZ_REQUIRE(plan_write_returning(written.sql, *rules, resolve).outcome == ReadTracking::Outcome::NotTracked);
    } else {
        FUZZ_REQUIRE(!written.reason.empty());
    }
    (void)rewriter.names_to_resolve(sql);
    const RewriteResult result = rewriter.rewrite(sql, context);
    switch (result.outcome) {
        case RewriteResult::Outcome::Untouched:
            FUZZ_REQUIRE(result.sql == sql);
            break;
        case RewriteResult::Outcome::Rejected:
            FUZZ_REQUIRE(result.sql == sql && !result.error_sqlstate.empty() && !result.error_message.empty());
            break;
        case RewriteResult::Outcome::Rewritten: {
            FUZZ_REQUIRE(parse(result.sql).ok());
            // Idempotence: the rewritten text, rewritten again, is unchanged.
            const RewriteResult again = rewriter.rewrite(result.sql, context);
            FUZZ_REQUIRE(again.sql == result.sql);
            break;
        }
    }
    return 0;
}
