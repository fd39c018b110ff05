// Decisions a loaded rule set answers for the parser and the session.
#include "rules/table_rule.hpp"

#include <algorithm>

#include "rules/identifier.hpp"

namespace staleguard::rules {
namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string QualifiedName::to_string() const { return quote_identifier(schema) + "." + quote_identifier(name); }

bool TableRule::bypasses(std::string_view role) const { return contains(bypass_roles, role); }

bool TableRule::update_is_guarded(const std::vector<std::string>& assigned_columns) const {
    if (!watch.empty()) {
        return std::any_of(assigned_columns.begin(), assigned_columns.end(),
                           [this](const std::string& column) { return contains(watch, column); });
    }
    if (!ignore.empty()) {
        return std::any_of(assigned_columns.begin(), assigned_columns.end(),
                           [this](const std::string& column) { return !contains(ignore, column); });
    }
    return true;
}

const TableRule* RuleSet::find(const QualifiedName& name) const {
    const auto found = std::find_if(tables.begin(), tables.end(),
                                    [&name](const TableRule& rule) { return rule.table == name; });
    return found == tables.end() ? nullptr : &*found;
}

bool RuleSet::protects_name(std::string_view name) const {
    return std::any_of(tables.begin(), tables.end(), [name](const TableRule& rule) { return rule.table.name == name; });
}

}  // namespace staleguard::rules
