// Checks a loaded rule set against a live database: tables, columns, version types, key uniqueness.
#pragma once

#include <string>
#include <vector>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

struct [[nodiscard]] SchemaCheckReport {
    std::vector<std::string> problems;  // the rules cannot work against this database
    std::vector<std::string> warnings;  // they can, but something looks wrong

    bool ok() const { return problems.empty(); }
};

// Connects with libpq using `conninfo` (a keyword/value string or a postgresql:// URI), reads
// the catalogs with parameterised queries only, and never throws.
SchemaCheckReport check_rules_against_database(const RuleSet& rules, const std::string& conninfo);

}  // namespace staleguard::rules
