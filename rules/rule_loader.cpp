// Reads a YAML rule file into a RuleSet, or reports every problem in it with its position.
#include "rules/rule_loader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "rules/identifier.hpp"
#include "rules/rule_words.hpp"
#include "rules/yaml_source.hpp"

namespace staleguard::rules {
namespace {

constexpr std::array<std::string_view, 4> root_keys{"sqlstate", "unanalysable", "max_tracked_rows", "tables"};
constexpr std::array<std::string_view, 11> table_keys{"name",   "key",   "version", "kind",         "mode",     "unread",
                                                      "delete", "watch", "ignore",  "bypass_roles", "bumped_by"};


class RuleFileReader {
public:
    explicit RuleFileReader(std::string_view display_name) : source_(display_name, "rule file") {}

    RuleLoadResult read(std::string_view text) {
        RuleSet rules;
        source_.read(text, max_rule_file_bytes, [&](const YAML::Node& root) { read_root(root, rules); });
        RuleLoadResult result;
        result.problems = source_.take_sorted_problems();
        if (result.problems.empty()) {
            result.rules = std::move(rules);
        }
        return result;
    }

private:
    void add_problem(const YAML::Mark& mark, std::string message) { source_.add_problem(mark, std::move(message)); }

    void read_root(const YAML::Node& root, RuleSet& rules) {
        if (!root.IsDefined() || root.IsNull()) {
            add_problem(YAML::Mark::null_mark(), "rule file is empty; it needs at least a 'tables' list");
            return;
        }
        if (!root.IsMap()) {
            add_problem(root.Mark(), "rule file must be a map with a 'tables' key, got " + describe_type(root));
            return;
        }
        bool saw_tables = false;
        for (const YamlMapEntry& entry : source_.map_entries(root, root_keys, "")) {
            if (entry.key == "sqlstate") {
                read_sqlstate(entry, rules);
            } else if (entry.key == "unanalysable") {
                read_enum(entry, unanalysable_spellings, rules.unanalysable);
            } else if (entry.key == "max_tracked_rows") {
                read_max_tracked_rows(entry, rules);
            } else if (entry.key == "tables") {
                saw_tables = true;
                read_tables(entry, rules);
            }
        }
        if (!saw_tables) {
            add_problem(root.Mark(), "missing 'tables': list the tables to protect");
        }
    }

    template <class E, std::size_t N>
    bool read_enum(const YamlMapEntry& entry, const std::array<EnumSpelling<E>, N>& spellings, E& out) {
        const std::string* word = source_.scalar_of(entry);
        if (word == nullptr) {
            return false;
        }
        for (const auto& spelling : spellings) {
            if (spelling.word == *word) {
                out = spelling.value;
                return true;
            }
        }
        std::vector<std::string_view> words;
        for (const auto& spelling : spellings) {
            words.push_back(spelling.word);
        }
        add_problem(mark_of(entry), "unknown " + entry.key + " value " + quoted_text(*word) + "; valid values: " + join(words));
        return false;
    }

    void read_sqlstate(const YamlMapEntry& entry, RuleSet& rules) {
        const std::string* code = source_.scalar_of(entry);
        if (code == nullptr) {
            return;
        }
        const bool well_formed = code->size() == 5 && std::all_of(code->begin(), code->end(), [](char c) {
                                     return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
                                 });
        if (!well_formed) {
            add_problem(mark_of(entry), "sqlstate must be 5 characters from 0-9 and A-Z, got " + quoted_text(*code));
            return;
        }
        // Classes 00, 01 and 02 mean success, warning and no data: a client would not see a failure.
        if (code->starts_with("00") || code->starts_with("01") || code->starts_with("02")) {
            add_problem(mark_of(entry), "sqlstate " + quoted_text(*code) + " is not an error (classes 00, 01 and 02 are "
                                        "success, warning and no data)");
            return;
        }
        rules.sqlstate = *code;
    }

    void read_max_tracked_rows(const YamlMapEntry& entry, RuleSet& rules) {
        const std::string* text = source_.scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        std::size_t value = 0;
        const char* begin = text->data();
        const char* end = begin + text->size();
        const bool all_digits = !text->empty() && std::all_of(begin, end, [](char c) { return c >= '0' && c <= '9'; });
        const auto [stop, error] = std::from_chars(begin, end, value);
        if (!all_digits || error != std::errc{} || stop != end || value == 0) {
            const std::string why = error == std::errc::result_out_of_range ? "is too large" : "must be a positive integer";
            add_problem(mark_of(entry), "max_tracked_rows " + why + ", got " + quoted_text(*text));
            return;
        }
        rules.max_tracked_rows = value;
    }

    void read_tables(const YamlMapEntry& entry, RuleSet& rules) {
        if (!entry.value.IsSequence()) {
            add_problem(mark_of(entry), "'tables' must be a list, got " + describe_type(entry.value));
            return;
        }
        // Every valid name counts, even in an entry with other problems, so that a duplicate is
        // reported in the same run rather than after the first problem is fixed.
        std::vector<std::pair<QualifiedName, int>> first_line_of_table;
        for (const YAML::Node& table_node : entry.value) {
            if (!table_node.IsMap()) {
                add_problem(table_node.Mark().is_null() ? entry.key_node.Mark() : table_node.Mark(),
                            "each entry of 'tables' must be a map, got " + describe_type(table_node));
                continue;
            }
            TableEntry table = read_table(table_node);
            if (!table.valid_name) {
                continue;
            }
            const auto earlier = std::find_if(first_line_of_table.begin(), first_line_of_table.end(),
                                              [&table](const auto& seen) { return seen.first == *table.valid_name; });
            if (earlier != first_line_of_table.end()) {
                add_problem(table.name_mark, "duplicate table " + printable(table.valid_name->to_string()) +
                                                 " (first defined at line " + std::to_string(earlier->second) + ")");
                continue;
            }
            first_line_of_table.emplace_back(*table.valid_name, table.name_mark.line + 1);
            if (table.rule) {
                rules.tables.push_back(std::move(*table.rule));
            }
        }
    }

    // A list of identifiers: a list of scalars, each a valid single identifier, none repeated.
    // Returns false (after reporting) if anything is wrong; `marks` gets each element's position.
    bool read_identifier_list(const YamlMapEntry& entry, std::string_view what, std::vector<std::string>& out,
                              std::vector<YAML::Mark>* marks = nullptr) {
        if (!entry.value.IsSequence()) {
            add_problem(mark_of(entry), quoted_text(entry.key) + " must be a list, got " + describe_type(entry.value));
            return false;
        }
        bool all_valid = true;
        std::vector<std::string> names;
        for (const YAML::Node& element : entry.value) {
            const YAML::Mark mark = element.Mark().is_null() ? mark_of(entry) : element.Mark();
            if (!element.IsScalar()) {
                add_problem(mark, "entries of " + quoted_text(entry.key) + " must be scalars, got " + describe_type(element));
                all_valid = false;
                continue;
            }
            auto name = parse_identifier(element.Scalar());
            if (!name) {
                add_problem(mark, "invalid " + std::string(what) + " " + quoted_text(element.Scalar()) + ": " +
                                      name.error().message);
                all_valid = false;
                continue;
            }
            if (std::find(names.begin(), names.end(), name.value()) != names.end()) {
                add_problem(mark, "duplicate " + std::string(what) + " " + printable(quote_identifier(name.value())));
                all_valid = false;
                continue;
            }
            names.push_back(std::move(name).value());
            if (marks != nullptr) {
                marks->push_back(mark);
            }
        }
        out = std::move(names);
        return all_valid;
    }

    struct TableEntry {
        std::optional<TableRule> rule;  // present when the entry has no problem
        std::optional<QualifiedName> valid_name;
        YAML::Mark name_mark;
    };

    TableEntry read_table(const YAML::Node& table_node) {
        const std::size_t problems_before = source_.problem_count();
        TableEntry table;
        TableRule rule;
        std::optional<YamlMapEntry> name_entry, key_entry, version_entry, kind_entry, watch_entry, ignore_entry;
        std::vector<YAML::Mark> key_marks;
        std::optional<VersionKind> explicit_kind;
        std::optional<std::string> explicit_version;

        for (const YamlMapEntry& entry : source_.map_entries(table_node, table_keys, " in table entry")) {
            if (entry.key == "name") {
                name_entry = entry;
                if (const std::string* text = source_.scalar_of(entry)) {
                    auto name = parse_qualified_name(*text);
                    if (name) {
                        rule.table = name.value();
                        table.valid_name = std::move(name).value();
                    } else {
                        add_problem(mark_of(entry), "invalid table name " + quoted_text(*text) + ": " + name.error().message);
                    }
                }
            } else if (entry.key == "key") {
                key_entry = entry;
                if (read_identifier_list(entry, "key column", rule.key, &key_marks) && rule.key.empty()) {
                    add_problem(mark_of(entry), "'key' is empty; a table needs at least one key column");
                }
            } else if (entry.key == "version") {
                version_entry = entry;
                if (const std::string* text = source_.scalar_of(entry)) {
                    auto column = parse_identifier(*text);
                    if (column) {
                        explicit_version = std::move(column).value();
                    } else {
                        add_problem(mark_of(entry),
                                    "invalid version column " + quoted_text(*text) + ": " + column.error().message);
                    }
                }
            } else if (entry.key == "kind") {
                kind_entry = entry;
                VersionKind kind{};
                if (read_enum(entry, kind_spellings, kind)) {
                    explicit_kind = kind;
                }
            } else if (entry.key == "mode") {
                read_enum(entry, mode_spellings, rule.mode);
            } else if (entry.key == "unread") {
                read_enum(entry, unread_spellings, rule.unread);
            } else if (entry.key == "delete") {
                read_enum(entry, delete_spellings, rule.on_delete);
            } else if (entry.key == "bumped_by") {
                read_enum(entry, bumped_by_spellings, rule.bumped_by);
            } else if (entry.key == "watch") {
                watch_entry = entry;
                if (read_identifier_list(entry, "watch column", rule.watch) && rule.watch.empty()) {
                    add_problem(mark_of(entry), "'watch' is empty; leave it out to guard every UPDATE");
                }
            } else if (entry.key == "ignore") {
                ignore_entry = entry;
                if (read_identifier_list(entry, "ignore column", rule.ignore) && rule.ignore.empty()) {
                    add_problem(mark_of(entry), "'ignore' is empty; leave it out to guard every UPDATE");
                }
            } else if (entry.key == "bypass_roles") {
                read_identifier_list(entry, "bypass role", rule.bypass_roles);
            }
        }

        if (!name_entry) {
            add_problem(table_node.Mark(), "table entry has no 'name'");
        } else {
            table.name_mark = mark_of(*name_entry);
        }
        if (watch_entry && ignore_entry) {
            const YamlMapEntry& later =
                watch_entry->key_node.Mark().pos > ignore_entry->key_node.Mark().pos ? *watch_entry : *ignore_entry;
            add_problem(later.key_node.Mark(), "'watch' and 'ignore' cannot be used together");
        }
        resolve_version(rule, explicit_version, explicit_kind, version_entry, kind_entry);
        if (rule.kind != VersionKind::Xmin && key_entry) {
            for (std::size_t i = 0; i < rule.key.size() && i < key_marks.size(); ++i) {
                if (rule.key[i] == rule.version_column && !explicit_version) {
                    add_problem(key_marks[i], "key column " + printable(quote_identifier(rule.key[i])) +
                                                  " is also the (default) version column; name another 'version'");
                }
            }
        }
        if (explicit_version && version_entry && rule.kind != VersionKind::Xmin &&
            std::find(rule.key.begin(), rule.key.end(), rule.version_column) != rule.key.end()) {
            add_problem(mark_of(*version_entry),
                        "version column " + printable(quote_identifier(rule.version_column)) + " is also a key column");
        }
        if (source_.problem_count() == problems_before && name_entry) {
            table.rule = std::move(rule);
        }
        return table;
    }

    // `version: xmin` implies kind xmin; any other pairing of xmin with a real column is a contradiction.
    void resolve_version(TableRule& rule, const std::optional<std::string>& explicit_version,
                         const std::optional<VersionKind>& explicit_kind,
                         const std::optional<YamlMapEntry>& version_entry,
                         const std::optional<YamlMapEntry>& kind_entry) {
        const bool version_is_xmin = explicit_version && *explicit_version == "xmin";
        if (explicit_kind == VersionKind::Xmin) {
            if (explicit_version && !version_is_xmin) {
                add_problem(mark_of(*version_entry), "kind xmin uses the system column xmin, but version names column " +
                                                         printable(quote_identifier(*explicit_version)) +
                                                         "; leave 'version' out or set it to xmin");
                return;
            }
            rule.kind = VersionKind::Xmin;
            rule.version_column = "xmin";
            return;
        }
        if (version_is_xmin) {
            if (explicit_kind) {
                const std::string kind_word = *explicit_kind == VersionKind::Counter ? "counter" : "timestamp";
                add_problem(mark_of(*kind_entry), "kind " + kind_word +
                                                      " cannot use version xmin, which PostgreSQL maintains itself; "
                                                      "leave 'kind' out or set it to xmin");
                return;
            }
            rule.kind = VersionKind::Xmin;
            rule.version_column = "xmin";
            return;
        }
        if (explicit_kind) {
            rule.kind = *explicit_kind;
        }
        if (explicit_version) {
            rule.version_column = *explicit_version;
        }
    }

    YamlSource source_;
};

}  // namespace

std::string RuleProblem::to_string() const {
    if (line <= 0) {
        return file + ": " + message;
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

RuleLoadResult load_rule_file(const std::string& path) {
    FileText file = read_file_text(path, max_rule_file_bytes, "rule file");
    if (file.problem) {
        return RuleLoadResult{std::nullopt, {std::move(*file.problem)}};
    }
    return load_rule_text(file.text, path);
}

RuleLoadResult load_rule_text(std::string_view text, std::string_view display_name) {
    try {
        return RuleFileReader(display_name).read(text);
    } catch (const std::exception& error) {
        return RuleLoadResult{std::nullopt, {RuleProblem{std::string(display_name), 0, 0,
                                                         std::string("cannot load rule file: ") + error.what()}}};
    }
}

}  // namespace staleguard::rules
