// PostgreSQL's text form of a one-dimensional array, read as array_in reads it.
#include "parser/array_text.hpp"

#include "parser/ascii_case.hpp"

namespace staleguard::parser {

std::optional<std::vector<std::string>> text_array_elements(std::string_view text) {
    auto is_blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') return std::nullopt;
    text = text.substr(1, text.size() - 2);
    std::vector<std::string> out;
    std::size_t i = 0;
    auto skip_blanks = [&] {
        while (i < text.size() && is_blank(text[i])) ++i;
    };
    skip_blanks();
    if (i == text.size()) return out;
    for (;;) {
        skip_blanks();
        std::string element;
        bool quoted = false;
        bool escaped_any = false;
        if (i < text.size() && text[i] == '"') {
            quoted = true;
            ++i;
            bool closed = false;
            while (i < text.size()) {
                const char c = text[i++];
                if (c == '\\') {
                    if (i == text.size()) return std::nullopt;
                    element += text[i++];
                } else if (c == '"') {
                    closed = true;
                    break;
                } else {
                    element += c;
                }
            }
            if (!closed) return std::nullopt;
            skip_blanks();
        } else {
            std::size_t kept = 0;  // length of element up to its last non-blank or escaped character
            while (i < text.size() && text[i] != ',') {
                const char c = text[i++];
                if (c == '{' || c == '}' || c == '"') return std::nullopt;  // nested or malformed
                if (c == '\\') {
                    if (i == text.size()) return std::nullopt;
                    element += text[i++];
                    escaped_any = true;
                    kept = element.size();
                } else {
                    element += c;
                    if (!is_blank(c)) kept = element.size();
                }
            }
            element.resize(kept);
            if (element.empty()) return std::nullopt;  // {1,,2}
        }
        if (!quoted && !escaped_any && equals_ignoring_ascii_case(element, "null")) {
            return std::nullopt;  // a null key matches no row
        }
        out.push_back(std::move(element));
        if (i == text.size()) return out;
        if (text[i] != ',') return std::nullopt;  // {"a"b}
        ++i;
    }
}

}  // namespace staleguard::parser
