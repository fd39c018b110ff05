// Log line formats: spdlog set up for text or JSON lines, with messages escaped for JSON.
#include "proxy/log_format.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace staleguard::session {

void append_json_escaped(std::string_view text, std::string& out) {
    constexpr std::string_view hex = "0123456789abcdef";
    const auto append = [&out](std::string_view piece) { out.append(piece); };
    // Length of the well-formed UTF-8 sequence at `at` (RFC 3629), 0 when there is none.
    const auto sequence_length = [&text](std::size_t at) -> std::size_t {
        const auto byte = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
        const unsigned char lead = byte(at);
        std::size_t length = 0;
        unsigned char second_min = 0x80, second_max = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) second_min = 0xA0;  // overlong
            if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) second_min = 0x90;  // overlong
            if (lead == 0xF4) second_max = 0x8F;  // beyond U+10FFFF
        } else {
            return 0;
        }
        if (at + length > text.size()) return 0;
        if (byte(at + 1) < second_min || byte(at + 1) > second_max) return 0;
        for (std::size_t i = 2; i < length; ++i) {
            if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
        }
        return length;
    };
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            const std::size_t length = sequence_length(i);
            if (length == 0) {
                append("\\ufffd");
                ++i;
            } else {
                append(text.substr(i, length));
                i += length;
            }
            continue;
        }
        switch (c) {
            case '"': append("\\\""); break;
            case '\\': append("\\\\"); break;
            case '\n': append("\\n"); break;
            case '\r': append("\\r"); break;
            case '\t': append("\\t"); break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                    append(std::string_view(escaped, sizeof escaped));
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
        ++i;
    }
}

namespace {

// %* in a pattern: the log message as the inside of a JSON string.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
        std::string escaped;
        append_json_escaped(std::string_view(message.payload.data(), message.payload.size()), escaped);
        out.append(escaped.data(), escaped.data() + escaped.size());
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonEscapedMessage>(); }
};

}  // namespace

// text: "2024-05-01 12:00:00.123 info  message" (what tests and people read);
// json: one object per line with time (ISO 8601 with offset), level and message.
void set_up_logging(const std::string& level, const std::string& format) {
    auto logger = spdlog::stderr_color_mt("staleguard");
    spdlog::set_default_logger(logger);
    if (format == "json") {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":"%*"})");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    }
    spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace staleguard::session
