// A YAML text read with positions: one-document check, map entries with their key marks, problems as FILE:LINE:COLUMN.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "rules/identifier.hpp"
#include "rules/rule_loader.hpp"

namespace staleguard::rules {

// One `key: value` pair of a YAML map whose key is known.
struct YamlMapEntry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    std::string path;  // how problems name the setting: "timeouts.startup" in a section, else the key
};

// A key that a file may not use yet, refused by name so that nobody believes it took effect.
struct UnsupportedKey {
    std::string_view key;
    std::string_view why;
};

// "a scalar", "a list", "a map" or "nothing", for "must be X, got Y" messages.
std::string describe_type(const YAML::Node& node);
// Text from the file as a message shows it: quoted, non-printable bytes escaped.
std::string quoted_text(std::string_view text);
std::string join(std::span<const std::string_view> words);

// An empty value (`mode:`) has no position of its own: yaml-cpp gives it the next token's,
// often on another line, so the key's position stands in.
YAML::Mark mark_of(const YamlMapEntry& entry);

struct [[nodiscard]] FileText {
    std::string text;                    // at most max_bytes + 1 bytes: enough for the size check to refuse
    std::optional<RuleProblem> problem;  // "cannot open rule file: ...": the file could not be read
};

// Reads `path` without loading all of a huge file; `noun` ("rule file") names it in problems.
FileText read_file_text(const std::string& path, std::size_t max_bytes, std::string_view noun);

// Collects the problems of one YAML file; `noun` ("rule file") names the file in messages.
class YamlSource {
public:
    YamlSource(std::string_view display_name, std::string_view noun) : file_(display_name), noun_(noun) {}

    // Parses `text` (at most `max_bytes`) as exactly one YAML document and hands its root to
    // `read_root`. Syntax errors and whatever yaml-cpp throws while `read_root` walks the nodes
    // become problems; nothing escapes.
    template <class ReadRoot>
    void read(std::string_view text, std::size_t max_bytes, ReadRoot&& read_root) {
        const std::optional<YAML::Node> root = load(text, max_bytes);
        if (!root) {
            return;
        }
        try {
            read_root(*root);
        } catch (const std::exception& error) {
            // yaml-cpp node access is not documented as nothrow.
            add_problem(YAML::Mark::null_mark(), "cannot read YAML: " + printable(error.what()));
        }
    }

    void add_problem(const YAML::Mark& mark, std::string message);
    std::size_t problem_count() const { return problems_.size(); }
    // Every problem so far, sorted by position (ties keep the order they were found in).
    std::vector<RuleProblem> take_sorted_problems();

    // The entries of `map` with known keys; unknown, unsupported, duplicate and non-scalar keys
    // are problems. `where` follows "unknown key 'x'" (" in table entry"); `section` is the dotted
    // path of the map ("" at the top) that entries' paths start with.
    std::vector<YamlMapEntry> map_entries(const YAML::Node& map, std::span<const std::string_view> valid_keys,
                                          std::string_view where, std::string_view section = {},
                                          std::span<const UnsupportedKey> unsupported_keys = {});

    // The entry's scalar, or nullptr after a problem ("'path' must be a scalar, got a list" + hint).
    const std::string* scalar_of(const YamlMapEntry& entry, std::string_view hint = {});

private:
    std::optional<YAML::Node> load(std::string_view text, std::size_t max_bytes);
    bool has_single_document(std::string_view text);

    std::string file_;
    std::string noun_;
    std::vector<RuleProblem> problems_;
};

}  // namespace staleguard::rules
