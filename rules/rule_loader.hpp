// Reads a YAML rule file into a RuleSet, or reports every problem in it with its position.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

// A rule file is a few hundred lines at most; anything far larger is a mistake (or hostile).
inline constexpr std::size_t max_rule_file_bytes = 1024 * 1024;

struct RuleProblem {
    std::string file;
    int line = 0;    // 1-based; 0 when the problem has no position (the file cannot be read)
    int column = 0;  // 1-based; 0 together with line
    std::string message;

    // `FILE:LINE:COLUMN: message`, or `FILE: message` when there is no position.
    std::string to_string() const;
    friend bool operator==(const RuleProblem&, const RuleProblem&) = default;
};

struct [[nodiscard]] RuleLoadResult {
    std::optional<RuleSet> rules;       // present exactly when problems is empty
    std::vector<RuleProblem> problems;  // sorted by position; a file with any problem is refused whole

    bool ok() const { return rules.has_value(); }
    explicit operator bool() const { return ok(); }
};

// Never throws: unreadable files and YAML syntax errors come back as problems.
RuleLoadResult load_rule_file(const std::string& path);
// `display_name` stands for the file name in problems.
RuleLoadResult load_rule_text(std::string_view text, std::string_view display_name);

}  // namespace staleguard::rules
