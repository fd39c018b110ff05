// Reads a --config YAML file into the settings it gives, or every problem in it as FILE:LINE:COLUMN.
#include "proxy/config_file.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <filesystem>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "rules/yaml_source.hpp"

namespace staleguard::session {
namespace {

using rules::describe_type;
using rules::join;
using rules::mark_of;
using rules::quoted_text;
using rules::UnsupportedKey;
using rules::YamlMapEntry;

constexpr std::array<std::string_view, 14> top_level_keys{
    "listen", "unix_socket_dir", "unix_socket_mode", "unix_socket_group", "upstream", "rules",   "threads",
    "log",    "limits",          "timeouts",         "tls",               "upstream_tls", "metrics", "admin_users"};
constexpr std::array<std::string_view, 3> log_keys{"level", "format", "statements"};
constexpr std::array<std::string_view, 2> boolean_words{"true", "false"};
constexpr std::array<std::string_view, 2> limit_keys{"max_connections", "max_message_bytes"};
constexpr std::array<std::string_view, 3> timeout_keys{"startup", "connect", "shutdown"};
constexpr std::array<std::string_view, 4> tls_keys{"cert", "key", "ca", "mode"};
constexpr std::array<std::string_view, 2> upstream_tls_keys{"mode", "ca"};

class ConfigFileReader {
public:
    explicit ConfigFileReader(std::string_view display_name) : source_(display_name, "config file") {}

    ConfigLoadResult read(std::string_view text) {
        source_.read(text, max_config_file_bytes, [this](const YAML::Node& root) { read_root(root); });
        ConfigLoadResult result;
        result.problems = source_.take_sorted_problems();
        if (result.problems.empty()) {
            result.settings = std::move(settings_);
        }
        return result;
    }

private:
    void add_problem(const YAML::Mark& mark, std::string message) { source_.add_problem(mark, std::move(message)); }

    void read_root(const YAML::Node& root) {
        if (!root.IsDefined() || root.IsNull()) {
            return;  // comments only: nothing set, every default stands
        }
        if (!root.IsMap()) {
            add_problem(root.Mark(), "config file must be a map of settings, got " + describe_type(root));
            return;
        }
        for (const YamlMapEntry& entry : source_.map_entries(root, top_level_keys, "", "")) {
            if (entry.key == "listen") {
                read_endpoint(entry, settings_.listen);
            } else if (entry.key == "unix_socket_dir") {
                read_socket_dir(entry);
            } else if (entry.key == "unix_socket_mode") {
                read_socket_mode(entry);
            } else if (entry.key == "unix_socket_group") {
                read_socket_group(entry);
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
            } else if (entry.key == "tls") {
                read_tls(entry);
            } else if (entry.key == "upstream_tls") {
                read_upstream_tls(entry);
            } else if (entry.key == "metrics") {
                read_endpoint(entry, settings_.metrics);
            } else if (entry.key == "admin_users") {
                read_role_list(entry, settings_.admin_users);
            }
        }
    }

    void read_log(const YamlMapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const YamlMapEntry& entry : section_entries(section, log_keys)) {
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

    void read_limits(const YamlMapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const YamlMapEntry& entry : section_entries(section, limit_keys)) {
            if (entry.key == "max_connections") {
                read_unsigned(entry, 1, std::numeric_limits<std::size_t>::max(), settings_.max_connections);
            } else if (entry.key == "max_message_bytes") {
                read_unsigned(entry, min_message_bytes_setting, max_message_bytes_setting, settings_.max_message_bytes);
            }
        }
    }

    void read_timeouts(const YamlMapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const YamlMapEntry& entry : section_entries(section, timeout_keys)) {
            if (entry.key == "startup") {
                read_seconds(entry, false, settings_.startup_timeout_seconds);
            } else if (entry.key == "connect") {
                read_seconds(entry, false, settings_.connect_timeout_seconds);
            } else if (entry.key == "shutdown") {
                read_seconds(entry, true, settings_.shutdown_timeout_seconds);
            }
        }
    }

    void read_tls(const YamlMapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const YamlMapEntry& entry : section_entries(section, tls_keys)) {
            if (entry.key == "cert") {
                read_path(entry, settings_.tls_cert_file);
            } else if (entry.key == "key") {
                read_path(entry, settings_.tls_key_file);
            } else if (entry.key == "ca") {
                read_path(entry, settings_.tls_ca_file);
            } else if (entry.key == "mode") {
                read_word(entry, client_tls_mode_words, settings_.tls_mode);
            }
        }
    }

    void read_upstream_tls(const YamlMapEntry& section) {
        if (!is_section(section)) {
            return;
        }
        for (const YamlMapEntry& entry : section_entries(section, upstream_tls_keys)) {
            if (entry.key == "mode") {
                read_word(entry, upstream_tls_mode_words, settings_.upstream_tls_mode);
            } else if (entry.key == "ca") {
                read_path(entry, settings_.upstream_tls_ca_file);
            }
        }
    }

    bool is_section(const YamlMapEntry& section) {
        if (!section.value.IsMap()) {
            add_problem(mark_of(section), quoted_text(section.path) + " must be a map, got " + describe_type(section.value));
            return false;
        }
        return true;
    }

    // The entries of a section such as `log:`; its keys are named "log.level" in problems.
    std::vector<YamlMapEntry> section_entries(const YamlMapEntry& section,
                                              std::span<const std::string_view> keys) {
        return source_.map_entries(section.value, keys, " in " + quoted_text(section.path), section.path);
    }

    const std::string* scalar_of(const YamlMapEntry& entry) {
        // `listen: [::1]:6432` is a YAML list; the address needs quotes.
        const bool endpoint_as_list = entry.value.IsSequence() && (entry.key == "listen" || entry.key == "upstream");
        return source_.scalar_of(entry, endpoint_as_list ? " (quote an IPv6 address: \"[::1]:5432\")" : "");
    }

    void read_endpoint(const YamlMapEntry& entry, std::optional<Endpoint>& out) {
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

    void read_path(const YamlMapEntry& entry, std::optional<std::string>& out) {
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

    // Absolute, unlike rules: a client has to name the same directory to connect.
    void read_socket_dir(const YamlMapEntry& entry) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        if (text->empty() || text->front() != '/' || text->find('\0') != std::string::npos) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be an absolute directory path, got " +
                                            quoted_text(*text));
            return;
        }
        settings_.unix_socket_dir = *text;
    }

    void read_socket_mode(const YamlMapEntry& entry) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        // YAML 1.2 reads an unquoted 0770 as the text "0770", which is what we want; 770 as well.
        if (auto mode = parse_socket_mode(*text)) {
            settings_.unix_socket_mode = *mode;
            return;
        }
        add_problem(mark_of(entry), quoted_text(entry.path) + " must be permission bits in octal, such as \"0770\", got " +
                                        quoted_text(*text));
    }

    void read_socket_group(const YamlMapEntry& entry) {
        const std::string* text = scalar_of(entry);
        if (text == nullptr) {
            return;
        }
        if (text->empty() || text->find('\0') != std::string::npos) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be a group name or id, got " + quoted_text(*text));
            return;
        }
        settings_.unix_socket_group = *text;
    }

    template <std::size_t N>
    void read_word(const YamlMapEntry& entry, const std::array<std::string_view, N>& words,
                   std::optional<std::string>& out) {
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
    void read_unsigned(const YamlMapEntry& entry, std::type_identity_t<Integer> minimum,
                       std::type_identity_t<Integer> maximum, std::optional<Integer>& out) {
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
    void read_seconds(const YamlMapEntry& entry, bool zero_allowed, std::optional<double>& out) {
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

    // A list of role names as PostgreSQL compares them (exact, case-sensitive), none empty or repeated.
    void read_role_list(const YamlMapEntry& entry, std::optional<std::vector<std::string>>& out) {
        if (!entry.value.IsSequence()) {
            add_problem(mark_of(entry), quoted_text(entry.path) + " must be a list of role names, got " +
                                            describe_type(entry.value));
            return;
        }
        std::vector<std::string> roles;
        bool valid = true;
        for (const YAML::Node& element : entry.value) {
            const YAML::Mark mark = element.Mark().is_null() ? mark_of(entry) : element.Mark();
            if (!element.IsScalar() || element.Scalar().empty() || element.Scalar().find('\0') != std::string::npos) {
                add_problem(mark, "entries of " + quoted_text(entry.path) + " must be role names, got " +
                                      (element.IsScalar() ? quoted_text(element.Scalar()) : describe_type(element)));
                valid = false;
                continue;
            }
            if (std::find(roles.begin(), roles.end(), element.Scalar()) != roles.end()) {
                add_problem(mark, "role " + quoted_text(element.Scalar()) + " appears twice in " + quoted_text(entry.path));
                valid = false;
                continue;
            }
            roles.push_back(element.Scalar());
        }
        if (valid) out = std::move(roles);
    }

    rules::YamlSource source_;
    ConfigFileSettings settings_;
};

}  // namespace

std::optional<unsigned> parse_socket_mode(std::string_view text) {
    if (text.size() == 4 && text.front() == '0') text.remove_prefix(1);
    if (text.size() != 3) return std::nullopt;
    unsigned mode = 0;
    for (const char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        mode = mode * 8 + static_cast<unsigned>(c - '0');
    }
    return mode;
}

ConfigLoadResult load_config_text(std::string_view text, std::string_view display_name) {
    try {
        return ConfigFileReader(display_name).read(text);
    } catch (const std::exception& error) {
        return ConfigLoadResult{std::nullopt, {ConfigProblem{std::string(display_name), 0, 0,
                                                             std::string("cannot load config file: ") + error.what()}}};
    }
}

ConfigLoadResult load_config_file(const std::string& path) {
    rules::FileText file = rules::read_file_text(path, max_config_file_bytes, "config file");
    if (file.problem) {
        return ConfigLoadResult{std::nullopt, {std::move(*file.problem)}};
    }
    ConfigLoadResult result = load_config_text(file.text, path);
    if (!result.settings) {
        return result;
    }
    const auto next_to_config = [&path](std::optional<std::string>& file_name) {
        if (!file_name) {
            return;
        }
        const std::filesystem::path given(*file_name);
        if (given.is_relative()) {
            file_name = (std::filesystem::path(path).parent_path() / given).string();
        }
    };
    ConfigFileSettings& settings = *result.settings;
    next_to_config(settings.rules_file);
    next_to_config(settings.tls_cert_file);
    next_to_config(settings.tls_key_file);
    next_to_config(settings.tls_ca_file);
    next_to_config(settings.upstream_tls_ca_file);
    return result;
}

}  // namespace staleguard::session
