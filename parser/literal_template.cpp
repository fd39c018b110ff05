// A query string's shape: its integer and string literals replaced by sentinels, so that one plan serves every string of that shape.
#include "parser/literal_template.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <charconv>
#include <cstdint>

#include "parser/pg_query_handle.hpp"
#include "parser/token_prefilter.hpp"

namespace staleguard::parser {
namespace {

// Sentinels must survive the deparser unchanged and never meet a user's text: a query string
// containing either spelling gets no shape at all.
constexpr std::string_view string_marker = "staleguard_literal_";
// Integer sentinels are integer_base + index: ten digits, still an int4 (an ICONST) for the parser.
constexpr std::int64_t integer_base = 2146000000;
constexpr std::string_view integer_prefix = "214600";

bool opens_shapeable_statement(int number) {
    switch (number) {
        case PG_QUERY__TOKEN__SELECT:
        case PG_QUERY__TOKEN__INSERT:
        case PG_QUERY__TOKEN__UPDATE:
        case PG_QUERY__TOKEN__DELETE_P:
        case PG_QUERY__TOKEN__WITH:
            return true;
        default:
            return false;
    }
}

std::optional<std::string> integer_value(std::string_view written) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(written.data(), written.data() + written.size(), value);
    if (error != std::errc() || end != written.data() + written.size()) return std::nullopt;
    return std::to_string(value);
}

// The contents of a plain '...' or dollar-quoted string as the scanner read it. Others (E'',
// U&'', adjacent literals joined across a newline) are left in the shape as written.
std::optional<std::string> string_value(std::string_view written) {
    if (written.size() >= 2 && written.front() == '\'' && written.back() == '\'') {
        const std::string_view inner = written.substr(1, written.size() - 2);
        std::string value;
        value.reserve(inner.size());
        for (std::size_t i = 0; i < inner.size(); ++i) {
            if (inner[i] == '\'') {
                if (i + 1 >= inner.size() || inner[i + 1] != '\'') return std::nullopt;
                ++i;
            }
            value += inner[i];
        }
        return value;
    }
    if (written.size() >= 2 && written.front() == '$') {
        const std::size_t tag_end = written.find('$', 1);
        if (tag_end == std::string_view::npos) return std::nullopt;
        const std::string_view tag = written.substr(0, tag_end + 1);
        if (written.size() < 2 * tag.size() || written.substr(written.size() - tag.size()) != tag) return std::nullopt;
        return std::string(written.substr(tag.size(), written.size() - 2 * tag.size()));
    }
    return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_word_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}

// The index a sentinel spelling stands for, when `text` is exactly one.
std::optional<std::size_t> sentinel_index(std::string_view text, TemplateLiteral::Kind kind) {
    std::string_view digits = text;
    if (kind == TemplateLiteral::Kind::String) {
        if (!text.starts_with(string_marker)) return std::nullopt;
        digits = text.substr(string_marker.size());
    } else if (!text.starts_with(integer_prefix)) {
        return std::nullopt;
    }
    std::int64_t number = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
    if (kind == TemplateLiteral::Kind::Integer) number -= integer_base;
    if (number < 0 || static_cast<std::size_t>(number) >= max_template_literals) return std::nullopt;
    // One spelling per index: `0012` is not sentinel 12.
    const auto index = static_cast<std::size_t>(number);
    const std::string canonical = kind == TemplateLiteral::Kind::String ? string_sentinel(index) : integer_sentinel(index);
    if (canonical != text) return std::nullopt;
    return index;
}

}  // namespace

std::string integer_sentinel(std::size_t index) { return std::to_string(integer_base + static_cast<std::int64_t>(index)); }

std::string string_sentinel(std::size_t index) {
    std::string sentinel(string_marker);
    sentinel += std::to_string(index);
    return sentinel;
}

std::optional<LiteralTemplate> make_literal_template(std::string_view sql) {
    if (sql.find(string_marker) != std::string_view::npos || sql.find(integer_prefix) != std::string_view::npos)
        return std::nullopt;
    auto scanned = scan_numbered(sql);
    if (!scanned.ok()) return std::nullopt;
    LiteralTemplate shaped;
    shaped.shape.reserve(sql.size() + 16);
    std::size_t copied = 0;
    bool opened = false;
    bool ended = false;
    for (const NumberedToken& token : scanned.value()) {
        if (token.token.kind == TokenKind::Comment) continue;
        if (ended) return std::nullopt;  // a second statement
        if (token.token.kind == TokenKind::Semicolon) {
            ended = true;
            continue;
        }
        if (token.token.start > token.token.end || token.token.end > sql.size()) return std::nullopt;
        const std::string_view written = sql.substr(token.token.start, token.token.end - token.token.start);
        if (!opened) {
            if (!opens_shapeable_statement(token.number)) return std::nullopt;
            opened = true;
        }
        std::optional<TemplateLiteral> literal;
        switch (token.number) {
            case PG_QUERY__TOKEN__UIDENT:
                return std::nullopt;  // U&"..." may spell set_config
            case PG_QUERY__TOKEN__IDENT:
                if (spells_set_config(written)) return std::nullopt;
                break;
            case PG_QUERY__TOKEN__ICONST:
                // `1..` scans as the integer 1 then `..`; a sentinel there would read back as a
                // decimal, so fill_sql refuses it and the integer stays as written.
                if (token.token.end < sql.size() && sql[token.token.end] == '.') break;
                if (auto value = integer_value(written))
                    literal = TemplateLiteral{TemplateLiteral::Kind::Integer, std::string(written), std::move(*value)};
                break;
            case PG_QUERY__TOKEN__SCONST:
                if (auto value = string_value(written)) {
                    if (!value->empty() && value->front() == '$') return std::nullopt;
                    literal = TemplateLiteral{TemplateLiteral::Kind::String, std::string(written), std::move(*value)};
                }
                break;
            default:
                break;
        }
        if (!literal) continue;
        if (shaped.literals.size() == max_template_literals) return std::nullopt;
        shaped.shape.append(sql.substr(copied, token.token.start - copied));
        const std::size_t index = shaped.literals.size();
        if (literal->kind == TemplateLiteral::Kind::Integer) {
            shaped.shape += integer_sentinel(index);
        } else {
            shaped.shape += '\'';
            shaped.shape += string_sentinel(index);
            shaped.shape += '\'';
        }
        copied = token.token.end;
        shaped.literals.push_back(std::move(*literal));
    }
    if (shaped.literals.empty()) return std::nullopt;
    shaped.shape.append(sql.substr(copied));
    return shaped;
}

std::optional<std::string> fill_sql(std::string_view planned, const std::vector<TemplateLiteral>& literals) {
    std::string filled;
    filled.reserve(planned.size() + 32);
    std::size_t i = 0;
    while (i < planned.size()) {
        const char c = planned[i];
        if (c == '\'' && planned.substr(i + 1).starts_with(string_marker)) {
            const std::size_t close = planned.find('\'', i + 1);
            if (close == std::string_view::npos) return std::nullopt;
            const auto index = sentinel_index(planned.substr(i + 1, close - i - 1), TemplateLiteral::Kind::String);
            if (!index || *index >= literals.size() || literals[*index].kind != TemplateLiteral::Kind::String)
                return std::nullopt;
            filled += literals[*index].written;
            i = close + 1;
            continue;
        }
        if (is_digit(c) && (i == 0 || !is_word_char(planned[i - 1])) && planned.substr(i).starts_with(integer_prefix)) {
            std::size_t end = i;
            while (end < planned.size() && is_digit(planned[end])) ++end;
            if (end < planned.size() && (is_word_char(planned[end]) || planned[end] == '.')) return std::nullopt;
            const auto index = sentinel_index(planned.substr(i, end - i), TemplateLiteral::Kind::Integer);
            if (!index || *index >= literals.size() || literals[*index].kind != TemplateLiteral::Kind::Integer)
                return std::nullopt;
            filled += literals[*index].written;
            i = end;
            continue;
        }
        filled += c;
        ++i;
    }
    // A sentinel left over sat where it could not be told apart from other text.
    if (filled.find(string_marker) != std::string::npos) return std::nullopt;
    for (std::size_t at = planned.find(integer_prefix); at != std::string_view::npos;
         at = planned.find(integer_prefix, at + 1)) {
        if (at > 0 && is_word_char(planned[at - 1])) return std::nullopt;
    }
    return filled;
}

std::optional<std::string> fill_value(std::string_view planned_value, const std::vector<TemplateLiteral>& literals) {
    // The parser folds a minus into the integer after it: `-5` is one constant, -5.
    if (planned_value.starts_with('-')) {
        if (const auto index = sentinel_index(planned_value.substr(1), TemplateLiteral::Kind::Integer)) {
            if (*index >= literals.size() || literals[*index].kind != TemplateLiteral::Kind::Integer) return std::nullopt;
            const std::string& value = literals[*index].value;
            return value == "0" ? value : "-" + value;
        }
    }
    for (const auto kind : {TemplateLiteral::Kind::Integer, TemplateLiteral::Kind::String}) {
        if (const auto index = sentinel_index(planned_value, kind)) {
            if (*index >= literals.size() || literals[*index].kind != kind) return std::nullopt;
            return literals[*index].value;
        }
    }
    if (planned_value.find(string_marker) != std::string_view::npos ||
        planned_value.find(integer_prefix) != std::string_view::npos)
        return std::nullopt;
    return std::string(planned_value);
}

}  // namespace staleguard::parser
