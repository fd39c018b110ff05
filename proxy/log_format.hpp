// Log line formats: spdlog set up for text or JSON lines, with messages escaped for JSON.
#pragma once

#include <string>
#include <string_view>

namespace staleguard::session {

// Appends `text` as the inside of a JSON string. Log messages carry client-supplied text (SQL,
// user and database names), so every control byte is escaped and bytes that are not valid
// UTF-8 become U+FFFD: each line stays one valid JSON object.
void append_json_escaped(std::string_view text, std::string& out);

// Installs the process's logger on stderr. level: trace|debug|info|warn|error; format: text
// ("2024-05-01 12:00:00.123 info  message") or json (one object per line: time, level, message).
void set_up_logging(const std::string& level, const std::string& format);

}  // namespace staleguard::session
