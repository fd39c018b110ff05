// Reads a --config YAML file into the settings it gives, or every problem in it as FILE:LINE:COLUMN.
#include "proxy/config_file.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <utility>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "rules/identifier.hpp"

namespace staleguard::session {
namespace {

using rules::printable;

constexpr std::array<std::string_view, 7> top_level_keys{"listen", "upstream", "rules",   "threads",
                                                         "log",    "limits",   "timeouts"};
constexpr std::array<std::string_view, 3> log_keys{"level", "format", "statements"};
constexpr std::array<std::string_view, 2> boolean_words{"true", "false"};
constexpr std::array<std::string_view, 2> limit_keys{"max_connections", "max_message_bytes"};
constexpr std::array<std::string_view, 3> timeout_keys{"startup", "connect", "shutdown"};

// Keys an operator of a PostgreSQL proxy expects (pgbouncer has them) that this build cannot honour
// yet. Refused by name, so that nobody believes a setting took effect that did not.
struct UnsupportedKey {
    std::string_view key;
    std::string_view why;
};
constexpr std::array<UnsupportedKey, 2> unsupported_keys{{
    {"tls", "this staleguard cannot terminate or originate TLS yet"},
    {"metrics", "this staleguard has no metrics endpoint yet"},
}};

template <class Words>
std::string join(const Words& words) {
    std::string joined;
    for (const auto& word : words) {
        joined += (joined.empty() ? "" : ", ") + std::string(word);
    }
    return joined;
}

std::string describe_type(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar: return "a scalar";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined: break;
    }
    return "nothing";
}

std::string quoted_text(std::string_view text) { return "'" + printable(text) + "'"; }

// Keeps only where a document starts; the nodes themselves are built by YAML::Load.
class DocumentStartRecorder : public YAML::EventHandler {
public:
    YAML::Mark start = YAML::Mark::null_mark();

    void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

struct MapEntry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    std::string path;  // "timeouts.startup": how problems name the setting
};

class ConfigFileReader {
public:
    explicit ConfigFileReader(std::string_view display_name) : file_(display_name) {}

    ConfigLoadResult read(std::string_view text) {
        if (text.size() > max_config_file_bytes) {
            problems_.push_back(ConfigProblem{
                file_, 0, 0, "config file is larger than " + std::to_string(max_config_file_bytes) + " bytes"});
            return finish();
        }
        YAML::Node root;
        try {
            if (!has_single_document(text)) {
                return finish();
            }
            root = YAML::Load(std::string(text));
        } catch (const YAML::ParserException& error) {
            add_problem(error.mark, "YAML syntax error: " + printable(error.msg));
            return finish();
        } catch (const std::exception& error) {
            add_problem(YAML::Mark::null_mark(), "cannot read YAML: " + printable(error.what()));
            return finish();
        }
        try {
            read_root(root);
        } catch (const std::exception& error) {
            // yaml-cpp node access is not documented as nothrow; nothing may escape this reader.
            add_problem(YAML::Mark::null_mark(), "cannot read YAML: " + printable(error.what()));
        }
        return finish();
    }

private:
    ConfigLoadResult finish() {
        std::stable_sort(problems_.begin(), problems_.end(), [](const ConfigProblem& a, const ConfigProblem& b) {
            return std::pair(a.line, a.column) < std::pair(b.line, b.column);
        });
        ConfigLoadResult result;
        if (problems_.empty()) {
            result.settings = std::move(settings_);
        }
        result.problems = std::move(problems_);
        return result;
    }

    void add_problem(const YAML::Mark& mark, std::string message) {
        const int line = mark.is_null() ? 1 : mark.line + 1;
        const int column = mark.is_null() ? 1 : mark.column + 1;
        problems_.push_back(ConfigProblem{file_, line, column, std::move(message)});
    }

    // An empty value (`listen:`) takes the next token's position in yaml-cpp, often on another
    // line, so the key's position stands in for it.
    static YAML::Mark mark_of(const MapEntry& entry) {
        const YAML::Mark mark = entry.value.Mark();
        return mark.is_null() || entry.value.IsNull() ? entry.key_node.Mark() : mark;
    }

    // yaml-cpp 0.7's LoadAll loops forever on a stray top-level ',' (yaml-cpp issue #1040), and
    // Load silently ignores every document after the first: documents are counted by hand, as
    // the rule loader does.
    bool has_single_document(std::string_view text) {
        std::istringstream stream{std::string(text)};
        YAML::Parser parser(stream);
        std::vector<YAML::Mark> starts;
        while (starts.size() < 3) {
            DocumentStartRecorder recorder;
            if (!parser.HandleNextDocument(recorder)) {
                break;
            }
            if (!starts.empty() && recorder.start.pos == starts.back().pos) {
                const auto at = static_cast<std::size_t>(std::max(recorder.start.pos, 0));
                const std::string token = at < text.size() ? std::string(1, text[at]) : std::string("end of input");
                add_problem(recorder.start, "YAML syntax error: unexpected " + quoted_text(token));
                return false;
            }
            starts.push_back(recorder.start);
        }
        if (starts.size() > 1) {
            add_problem(starts[1], "config file has more than one YAML document");
            return false;
        }
        return true;
    }

    void read_root(const YAML::Node& root) {
        if (!root.IsDefined() || root.IsNull()) {
            return;  // comments only: nothing set, every default stands
        }
        if (!root.IsMap()) {
            add_problem(root.Mark(), "config file must be a map of settings, got " + describe_type(root));
            return;
        }
        for (const MapEntry& entry : map_entries(root, top_level_keys, "")) {
            if (entry.key == "listen") {
                read_endpoint(entry, settings_.listen);
            } else if (entry.key == "upstream") {
                read_endpoint(entry, settings_.upstream);
            } else if (entry.key == "rules") {
                read_path(entry, settings_.rules_file);
            } else if (entry.key == "threads") {
                read_unsigned(entry, 0, std::numeric_limits<unsigned>::max(), settings_.threads);
            } else if (entry.key == "log") {
                read_log(entry);
            } else if (entry.key == "limits") {
                read_limits(entry);
            } else if (entry.key == "timeouts") {
                read_timeouts(entry);
            }
        }
    }

    void read_log(const MapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const MapEntry& entry : map_entries(section.value, log_keys, section.path)) {
            if (entry.key == "level") {
                read_word(entry, log_level_words, settings_.log_level);
            } else if (entry.key == "format") {
                read_word(entry, log_format_words, settings_.log_format);
            } else if (entry.key == "statements") {
                std::optional<std::string> word;
                read_word(entry, boolean_words, word);
                if (word) settings_.log_statements = *word == "true";
            }
        }
    }

    void read_limits(const MapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const MapEntry& entry : map_entries(section.value, limit_keys, section.path)) {
            if (entry.key == "max_connections") {
                read_unsigned(entry, 1, std::numeric_limits<std::size_t>::max(), settings_.max_connections);
            } else if (entry.key == "max_message_bytes") {
                read_unsigned(entry, min_message_bytes_setting, max_message_bytes_setting, settings_.max_message_bytes);
            }
        }
    }

    void read_timeouts(const MapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const MapEntry& entry : map_entries(section.value, timeout_keys, section.path)) {
            if (entry.key == "startup") {
                read_seconds(entry, false, settings_.startup_timeout_seconds);
            } else if (entry.key == "connect") {
                read_seconds(entry, false, settings_.connect_timeout_seconds);
            } else if (entry.key == "shutdown") {
                read_seconds(entry, true, settings_.shutdown_timeout_seconds);
            }
        }
    }

    bool is_section(const MapEntry& section) {
        if (!section.value.IsMap()) {
            add_problem(mark_of(section), quoted_text(section.path) + " must be a map, got " + describe_type(section.value));
            return false;
        }
        return true;
    }

    // The entries of `map` with known keys; unknown, unsupported, duplicate and non-scalar keys are
    // problems. `section` is the dotted path of the map ("" at the top).
    template <class Keys>
    std::vector<MapEntry> map_entries(const YAML::Node& map, const Keys& valid_keys, std::string_view section) {
        std::vector<MapEntry> entries;
        std::map<std::string, int> first_line_of_key;
        const std::string where = section.empty() ? "" : " in " + quoted_text(section);
        for (auto it = map.begin(); it != map.end(); ++it) {
            const YAML::Node key_node = it->first;
            if (!key_node.IsScalar()) {
                add_problem(key_node.Mark(), "keys must be plain names, got " + describe_type(key_node));
                continue;
            }
            const std::string& key = key_node.Scalar();
            const std::string path = section.empty() ? key : std::string(section) + "." + key;
            if (std::find(valid_keys.begin(), valid_keys.end(), key) == valid_keys.end()) {
                const auto unsupported = std::find_if(unsupported_keys.begin(), unsupported_keys.end(),
                                                      [&key](const UnsupportedKey& known) { return known.key == key; });
                if (section.empty() && unsupported != unsupported_keys.end()) {
                    add_problem(key_node.Mark(),
                                quoted_text(key) + " is not supported yet: " + std::string(unsupported->why));
                } else {
                    add_problem(key_node.Mark(),
                                "unknown key " + quoted_text(key) + where + "; valid keys: " + join(valid_keys));
                }
                continue;
            }
            const auto [first, inserted] = first_line_of_key.emplace(key, key_node.Mark().line + 1);
            if (!inserted) {
                add_problem(key_node.Mark(), "duplicate key " + quoted_text(path) + " (first at line " +
                                                 std::to_string(first->second) + ")");
                continue;
            }
            entries.push_back(MapEntry{key, key_node, it->second, path});
        }
        return entries;
    }

    const std::string* scalar_of(const MapEntry& entry) {
        if (!entry.value.IsScalar()) {
            // `listen: [::1]:6432` is a YAML list; the address needs quotes.
            const std::string hint = entry.value.IsSequence() && (entry.key == "listen" || entry.key == "upstream")
                                         ? " (quote an IPv6 address: \"[::1]:5432\")"
                                         : "";
            add_problem(mark_of(entry),
                        quoted_text(entry.path) + " must be a scalar, got " + describe_type(entry.value) + hint);
            return nullptr;
        }
        return &entry.value.Scalar();
    }

    void read_endpoint(const MapEntry& entry, std::optional<Endpoint>& out) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        auto endpoint = Endpoint::parse(*text);
        if (!endpoint) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " expects HOST:PORT, got " + quoted_text(*text));
            return;
        }
        out = std::move(endpoint);
    }

    void read_path(const MapEntry& entry, std::optional<std::string>& out) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        if (text->empty() || text->find('\0') != std::string::npos) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be a file name, got " + quoted_text(*text));
            return;
        }
        out = *text;
    }

    template <std::size_t N>
    void read_word(const MapEntry& entry, const std::array<std::string_view, N>& words, std::optional<std::string>& out) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        if (std::find(words.begin(), words.end(), *text) == words.end()) {
            add_problem(mark_of(entry), "unknown " + entry.path + " value " + quoted_text(*text) +
                                            "; valid values: " + join(words));
            return;
        }
        out = *text;
    }

    template <class Integer>
    void read_unsigned(const MapEntry& entry, std::type_identity_t<Integer> minimum, std::type_identity_t<Integer> maximum,
                       std::optional<Integer>& out) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        const char* begin = text->data();
        const char* end = begin + text->size();
        const bool all_digits = !text->empty() && std::all_of(begin, end, [](char c) { return c >= '0' && c <= '9'; });
        Integer value{};
        const auto [stop, error] = std::from_chars(begin, end, value);
        if (!all_digits || (error != std::errc{} && error != std::errc::result_out_of_range) || stop != end) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be a whole number, got " + quoted_text(*text));
            return;
        }
        if (error == std::errc::result_out_of_range || value < minimum || value > maximum) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be between " + std::to_string(minimum) +
                                            " and " + std::to_string(maximum) + ", got " + quoted_text(*text));
            return;
        }
        out = value;
    }

    // Seconds as a plain decimal number ("60", "0.5"); no units, no exponents, no inf or nan.
    void read_seconds(const MapEntry& entry, bool zero_allowed, std::optional<double>& out) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        const char* begin = text->data();
        const char* end = begin + text->size();
        const bool plain = !text->empty() && std::all_of(begin, end, [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
        double value = 0;
        const auto [stop, error] = std::from_chars(begin, end, value, std::chars_format::fixed);
        if (!plain || error != std::errc{} || stop != end || !std::isfinite(value)) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be a number of seconds, got " + quoted_text(*text));
            return;
        }
        // A day is far beyond any sensible timeout and keeps the millisecond conversion exact.
        constexpr double max_seconds = 24 * 60 * 60;
        if ((!zero_allowed && value <= 0) || value > max_seconds) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be " + (zero_allowed ? "at least 0" : "above 0") +
                                            " and at most " + std::to_string(static_cast<int>(max_seconds)) +
                                            " seconds, got " + quoted_text(*text));
            return;
        }
        out = value;
    }

    std::string file_;
    ConfigFileSettings settings_;
    std::vector<ConfigProblem> problems_;
};

}  // namespace

ConfigLoadResult load_config_text(std::string_view text, std::string_view display_name) {
    try {
        return ConfigFileReader(display_name).read(text);
    } catch (const std::exception& error) {
        return ConfigLoadResult{std::nullopt, {ConfigProblem{std::string(display_name), 0, 0,
                                                             std::string("cannot load config file: ") + error.what()}}};
    }
}

ConfigLoadResult load_config_file(const std::string& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        const std::error_code cause(errno, std::generic_category());
        return ConfigLoadResult{std::nullopt, {ConfigProblem{path, 0, 0, "cannot open config file: " + cause.message()}}};
    }
    // One byte past the limit is enough to refuse a huge file without reading it all.
    std::string text(max_config_file_bytes + 1, '\0');
    stream.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (stream.bad()) {
        return ConfigLoadResult{std::nullopt, {ConfigProblem{path, 0, 0, "cannot read config file"}}};
    }
    text.resize(static_cast<std::size_t>(stream.gcount()));
    ConfigLoadResult result = load_config_text(text, path);
    if (result.settings && result.settings->rules_file) {
        const std::filesystem::path rules_path(*result.settings->rules_file);
        if (rules_path.is_relative()) {
            result.settings->rules_file = (std::filesystem::path(path).parent_path() / rules_path).string();
        }
    }
    return result;
}

}  // namespace staleguard::session
