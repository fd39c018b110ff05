// libFuzzer target: arbitrary bytes as a rule file must give rules or problems, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rules/identifier.hpp"
#include "rules/rule_loader.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace {

// Real rule files are tiny; larger inputs only slow the search down.
constexpr std::size_t max_fuzz_input_bytes = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_fuzz_input_bytes) {
        return -1;
    }
    using namespace staleguard::rules;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const RuleLoadResult result = load_rule_text(text, "fuzz.yaml");

    FUZZ_REQUIRE(result.ok() == result.problems.empty());
    for (std::size_t i = 0; i < result.problems.size(); ++i) {
        const RuleProblem& problem = result.problems[i];
        FUZZ_REQUIRE(problem.to_string().find('\n') == std::string::npos);
        FUZZ_REQUIRE(problem.line >= 0 && problem.column >= 0);
        if (i > 0) {
            const RuleProblem& previous = result.problems[i - 1];
            FUZZ_REQUIRE(previous.line < problem.line || (previous.line == problem.line && previous.column <= problem.column));
        }
    }
    if (!result.ok()) {
        return 0;
    }
    for (const TableRule& rule : result.rules->tables) {
        // What we print for a table must read back as the same table.
        const auto reread = parse_qualified_name(rule.table.to_string());
        FUZZ_REQUIRE(reread.ok() && reread.value() == rule.table);
        FUZZ_REQUIRE(result.rules->find(rule.table) == &rule);
        FUZZ_REQUIRE(result.rules->protects_name(rule.table.name));
        FUZZ_REQUIRE(!rule.key.empty());
        FUZZ_REQUIRE(rule.watch.empty() || rule.ignore.empty());
        FUZZ_REQUIRE((rule.kind == VersionKind::Xmin) == (rule.version_column == "xmin"));
    }
    return 0;
}
