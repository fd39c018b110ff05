// libFuzzer target: arbitrary bytes as a rule file must give rules or problems, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rules/identifier.hpp"
#include "rules/rule_loader.hpp"

namespace {

// Real rule files are tiny; larger inputs only slow the search down.
constexpr std::size_t max_fuzz_input_bytes = 64 * 1024;

void require(bool condition) {
    if (!condition) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_fuzz_input_bytes) {
        return -1;
    }
    using namespace staleguard::rules;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const RuleLoadResult result = load_rule_text(text, "fuzz.yaml");

    require(result.ok() == result.problems.empty());
    for (std::size_t i = 0; i < result.problems.size(); ++i) {
        const RuleProblem& problem = result.problems[i];
        require(problem.to_string().find('\n') == std::string::npos);
        require(problem.line >= 0 && problem.column >= 0);
        if (i > 0) {
            const RuleProblem& previous = result.problems[i - 1];
            require(previous.line < problem.line || (previous.line == problem.line && previous.column <= problem.column));
        }
    }
    if (!result.ok()) {
        return 0;
    }
    for (const TableRule& rule : result.rules->tables) {
        // What we print for a table must read back as the same table.
        const auto reread = parse_qualified_name(rule.table.to_string());
        require(reread.ok() && reread.value() == rule.table);
        require(result.rules->find(rule.table) == &rule);
        require(result.rules->protects_name(rule.table.name));
        require(!rule.key.empty());
        require(rule.watch.empty() || rule.ignore.empty());
        require((rule.kind == VersionKind::Xmin) == (rule.version_column == "xmin"));
    }
    return 0;
}
