// PostgreSQL identifier rules for names written in rule files: folding, validation, quoting.
#include "rules/identifier.hpp"

#include <algorithm>
#include <iterator>
#include <cstdio>
#include <vector>

namespace staleguard::rules {
namespace {

// Sorted, so lookup is a binary search. Unreserved keywords are absent on purpose: PostgreSQL
// accepts them bare as names.
constexpr std::string_view quoted_keywords[] = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
    "authorization", "between", "bigint", "binary", "bit", "boolean", "both", "case", "cast",
    "char", "character", "check", "coalesce", "collate", "collation", "column", "concurrently",
    "constraint", "create", "cross", "current_catalog", "current_date", "current_role",
    "current_schema", "current_time", "current_timestamp", "current_user", "dec", "decimal",
    "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "exists",
    "extract", "false", "fetch", "float", "for", "foreign", "freeze", "from", "full", "grant",
    "greatest", "group", "grouping", "having", "ilike", "in", "initially", "inner", "inout",
    "int", "integer", "intersect", "interval", "into", "is", "isnull", "join", "json_array",
    "json_arrayagg", "json_object", "json_objectagg", "lateral", "leading", "least", "left",
    "like", "limit", "localtime", "localtimestamp", "national", "natural", "nchar", "none",
    "normalize", "not", "notnull", "null", "nullif", "numeric", "offset", "on", "only", "or",
    "order", "out", "outer", "overlaps", "overlay", "placing", "position", "precision",
    "primary", "real", "references", "returning", "right", "row", "select", "session_user",
    "setof", "similar", "smallint", "some", "substring", "symmetric", "system_user", "table",
    "tablesample", "then", "time", "timestamp", "to", "trailing", "treat", "trim", "true",
    "union", "unique", "user", "using", "values", "varchar", "variadic", "verbose", "when",
    "where", "window", "with", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists",
    "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable",
};
static_assert(std::is_sorted(std::begin(quoted_keywords), std::end(quoted_keywords)));

bool is_ascii_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
// PostgreSQL's scanner takes every byte >= 0x80 as a letter, which admits UTF-8 names.
bool is_identifier_start(unsigned char c) { return is_ascii_letter(c) || c == '_' || c >= 0x80; }
bool is_identifier_continue(unsigned char c) { return is_identifier_start(c) || is_digit(c) || c == '$'; }

std::string describe_byte(unsigned char c) {
    if (c < 0x20 || c == 0x7f) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
        return buffer;
    }
    return std::string(1, static_cast<char>(c));
}

// Splits on dots outside quotes and applies folding/unquoting to each part.
IdentifierResult<std::vector<std::string>> split_identifier_path(std::string_view text) {
    if (text.empty()) {
        return IdentifierError{"is empty"};
    }
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (true) {
        std::string part;
        if (i >= text.size() || text[i] == '.') {
            return IdentifierError{"has an empty part"};
        }
        if (text[i] == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                const char c = text[i];
                if (c == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        part.push_back('"');
                        i += 2;
                        continue;
                    }
                    closed = true;
                    ++i;
                    break;
                }
                if (c == '\0') {
                    return IdentifierError{"contains a NUL byte"};
                }
                part.push_back(c);
                ++i;
            }
            if (!closed) {
                return IdentifierError{"has an unterminated quoted part"};
            }
            if (part.empty()) {
                return IdentifierError{"has an empty quoted part"};
            }
            if (i < text.size() && text[i] != '.') {
                return IdentifierError{"has characters after a closing quote"};
            }
        } else {
            const auto first = static_cast<unsigned char>(text[i]);
            if (is_digit(first)) {
                return IdentifierError{"starts with a digit"};
            }
            if (first == '$') {
                return IdentifierError{"starts with '$'"};
            }
            while (i < text.size() && text[i] != '.') {
                const auto c = static_cast<unsigned char>(text[i]);
                if (c == '"') {
                    return IdentifierError{"has a quote inside an unquoted part"};
                }
                if (!is_identifier_continue(c)) {
                    return IdentifierError{"contains invalid character '" + describe_byte(c) + "'"};
                }
                part.push_back(is_ascii_letter(c) ? static_cast<char>(c | 0x20) : static_cast<char>(c));
                ++i;
            }
        }
        if (part.size() > max_identifier_bytes) {
            return IdentifierError{"is longer than " + std::to_string(max_identifier_bytes) + " bytes"};
        }
        parts.push_back(std::move(part));
        if (i >= text.size()) {
            return parts;
        }
        ++i;  // the dot
    }
}

}  // namespace

IdentifierResult<std::string> parse_identifier(std::string_view text) {
    auto parts = split_identifier_path(text);
    if (!parts) {
        return parts.error();
    }
    if (parts.value().size() != 1) {
        return IdentifierError{"must be a single name, not a dotted path"};
    }
    return std::move(parts).value().front();
}

IdentifierResult<QualifiedName> parse_qualified_name(std::string_view text, std::string_view default_schema) {
    auto parts = split_identifier_path(text);
    if (!parts) {
        return parts.error();
    }
    auto names = std::move(parts).value();
    if (names.size() > 2) {
        return IdentifierError{"has more than 2 dot-separated parts"};
    }
    if (names.size() == 1) {
        return QualifiedName{std::string(default_schema), std::move(names[0])};
    }
    return QualifiedName{std::move(names[0]), std::move(names[1])};
}

bool is_reserved_keyword(std::string_view lower_case_word) {
    return std::binary_search(std::begin(quoted_keywords), std::end(quoted_keywords), lower_case_word);
}

std::string quote_identifier(std::string_view identifier) {
    bool plain = !identifier.empty();
    if (plain) {
        const auto first = static_cast<unsigned char>(identifier.front());
        plain = (first >= 'a' && first <= 'z') || first == '_';
    }
    for (std::size_t i = 1; plain && i < identifier.size(); ++i) {
        const auto c = static_cast<unsigned char>(identifier[i]);
        plain = (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '$';
    }
    if (plain && !is_reserved_keyword(identifier)) {
        return std::string(identifier);
    }
    std::string quoted = "\"";
    for (const char c : identifier) {
        if (c == '"') {
            quoted.push_back('"');
        }
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            out += describe_byte(byte);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace staleguard::rules
