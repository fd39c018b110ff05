// Helpers for the parser tests: rule sets from one-line specs and printable checks and effects.
#pragma once

#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "parser/rewrite.hpp"
#include "rules/identifier.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::parser::testing {

inline std::vector<std::string> split_on(std::string_view text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    for (char c : text) {
        if (c == separator) {
            parts.push_back(part);
            part.clear();
        } else {
            part += c;
        }
    }
    parts.push_back(part);
    return parts;
}

// "public.accounts mode=client key=id,org version=v kind=timestamp delete=allow watch=a
// ignore=b bypass=admin bumped_by=trigger; app.events ...; unanalysable=pass"
inline std::shared_ptr<rules::RuleSet> rule_set(std::string_view spec) {
    auto rules = std::make_shared<rules::RuleSet>();
    for (const std::string& table_spec : split_on(spec, ';')) {
        std::istringstream words(table_spec);
        std::string word;
        if (!(words >> word)) continue;
        if (word == "unanalysable=pass") {
            rules->unanalysable = rules::UnanalysablePolicy::Pass;
            continue;
        }
        auto name = rules::parse_qualified_name(word);
        if (!name.ok()) throw std::invalid_argument("bad table in spec: " + word);
        rules::TableRule rule;
        rule.table = name.value();
        while (words >> word) {
            const auto equals = word.find('=');
            const std::string key = word.substr(0, equals);
            const std::string value = equals == std::string::npos ? "" : word.substr(equals + 1);
            if (key == "mode") {
                rule.mode = value == "client" ? rules::Mode::Client
                            : value == "track" ? rules::Mode::Track
                                               : rules::Mode::Increment;
            } else if (key == "kind") {
                rule.kind = value == "timestamp" ? rules::VersionKind::Timestamp
                            : value == "xmin"    ? rules::VersionKind::Xmin
                                                 : rules::VersionKind::Counter;
                if (rule.kind == rules::VersionKind::Xmin) rule.version_column = "xmin";
            } else if (key == "key") {
                rule.key = split_on(value, ',');
            } else if (key == "version") {
                auto column = rules::parse_identifier(value);
                if (!column.ok()) throw std::invalid_argument("bad version column in spec: " + value);
                rule.version_column = column.value();
            } else if (key == "delete") {
                rule.on_delete = value == "allow" ? rules::DeletePolicy::Allow : rules::DeletePolicy::Check;
            } else if (key == "watch") {
                rule.watch = split_on(value, ',');
            } else if (key == "ignore") {
                rule.ignore = split_on(value, ',');
            } else if (key == "bypass") {
                rule.bypass_roles = split_on(value, ',');
            } else if (key == "bumped_by") {
                rule.bumped_by = value == "trigger" ? rules::BumpedBy::Trigger : rules::BumpedBy::Staleguard;
            } else {
                throw std::invalid_argument("bad option in spec: " + word);
            }
        }
        rules->tables.push_back(rule);
    }
    return rules;
}

inline std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string joined;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) joined += separator;
        joined += parts[i];
    }
    return joined;
}

// "public.accounts update rows=1 keys=[1] version=3 params=[]"
inline std::string describe(const StaleCheck& check) {
    std::vector<std::string> parameters;
    for (int parameter : check.key_parameters) parameters.push_back(std::to_string(parameter));
    return check.rule->table.to_string() + (check.is_delete ? " delete" : " update") +
           " rows=" + std::to_string(check.expected_rows) + " keys=[" + join(check.key_values, "|") +
           "] version=" + check.version_value + " params=[" + join(parameters, ",") + "]";
}

inline std::string describe(const SessionEffect& effect) {
    static constexpr const char* kinds[] = {"SetSearchPath",    "ResetSearchPath",    "SearchPathUnknown",
                                            "SetChecksEnabled", "ResetChecksEnabled", "ResetAll"};
    std::string text = kinds[static_cast<int>(effect.kind)];
    if (!effect.value.empty()) text += " " + effect.value;
    if (effect.local) text += " local";
    return text;
}

inline std::vector<std::string> all_checks(const RewriteResult& result) {
    std::vector<std::string> checks;
    for (const StatementRewrite& statement : result.statements) {
        for (const StaleCheck& check : statement.checks) checks.push_back(describe(check));
    }
    return checks;
}

inline std::vector<std::string> all_effects(const RewriteResult& result) {
    std::vector<std::string> effects;
    for (const StatementRewrite& statement : result.statements) {
        for (const SessionEffect& effect : statement.effects) effects.push_back(describe(effect));
    }
    return effects;
}

}  // namespace staleguard::parser::testing
