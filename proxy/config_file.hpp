// Reads a --config YAML file into the settings it gives, or every problem in it as FILE:LINE:COLUMN.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/endpoint.hpp"
#include "proxy/tls_settings.hpp"
#include "rules/rule_loader.hpp"

namespace staleguard::session {

// A config file is a screenful; anything far larger is a mistake.
inline constexpr std::size_t max_config_file_bytes = 256 * 1024;

// The accepted values of the settings that are words, shared with the command-line flags so that
// file and flags accept exactly the same.
inline constexpr std::array<std::string_view, 5> log_level_words{"trace", "debug", "info", "warn", "error"};
inline constexpr std::array<std::string_view, 2> log_format_words{"text", "json"};
// --max-message-bytes: a message needs a tag and a length (5 bytes); PostgreSQL's own cap is 1 GiB - 1.
inline constexpr std::uint32_t min_message_bytes_setting = 5;
inline constexpr std::uint32_t max_message_bytes_setting = 0x3fffffff;

// A socket file's permission bits written in octal as chmod takes them, "0770" or "770" (YAML
// needs the quotes for a leading 0); nullopt for anything else. Shared with --unix-socket-mode.
std::optional<unsigned> parse_socket_mode(std::string_view text);

// What a config file says. Every setting is optional: an absent one keeps the flag's default,
// and a flag given on the command line wins over the file.
struct ConfigFileSettings {
    std::optional<Endpoint> listen;
    std::optional<std::string> unix_socket_dir;  // unix_socket_dir: /abs/dir
    std::optional<unsigned> unix_socket_mode;       // unix_socket_mode: "0770"
    std::optional<std::string> unix_socket_group;   // unix_socket_group: name or id
    std::optional<Endpoint> upstream;
    std::optional<std::string> rules_file;  // as written; load_config_file resolves it (see there)
    std::optional<unsigned> threads;
    std::optional<std::string> log_level;   // one of log_level_words
    std::optional<std::string> log_format;  // one of log_format_words
    std::optional<bool> log_statements;     // log.statements: true | false
    std::optional<std::size_t> max_connections;
    std::optional<std::uint32_t> max_message_bytes;
    std::optional<double> startup_timeout_seconds;
    std::optional<double> connect_timeout_seconds;
    std::optional<double> shutdown_timeout_seconds;
    // tls: (clients → staleguard) and upstream_tls: (staleguard → server). File names as written;
    // load_config_file resolves them like rules:.
    std::optional<std::string> tls_cert_file;
    std::optional<std::string> tls_key_file;
    std::optional<std::string> tls_ca_file;
    std::optional<std::string> tls_mode;           // one of client_tls_mode_words
    std::optional<std::string> upstream_tls_mode;  // one of upstream_tls_mode_words
    std::optional<std::string> upstream_tls_ca_file;
    std::optional<Endpoint> metrics;                     // metrics: HOST:PORT
    std::optional<std::vector<std::string>> admin_users;  // admin_users: [name, ...]
};

// Same shape and printing as a rule file's problems: `FILE:LINE:COLUMN: message`.
using ConfigProblem = rules::RuleProblem;

struct [[nodiscard]] ConfigLoadResult {
    std::optional<ConfigFileSettings> settings;  // present exactly when problems is empty
    std::vector<ConfigProblem> problems;         // sorted by position; any problem refuses the whole file

    bool ok() const { return settings.has_value(); }
    explicit operator bool() const { return ok(); }
};

// Never throws. `display_name` stands for the file in problems. A file of comments only (or
// empty) is valid and sets nothing.
ConfigLoadResult load_config_text(std::string_view text, std::string_view display_name);

// Reads and parses `path`. A relative `rules:` path (and TLS file) is taken relative to the config
// file's own directory, so that a service started from / finds the rule file next to its config.
ConfigLoadResult load_config_file(const std::string& path);

}  // namespace staleguard::session
