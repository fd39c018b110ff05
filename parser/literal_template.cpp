// A query string's shape: its integer and string literals replaced by sentinels, so that one plan serves every string of that shape.
#include "parser/literal_template.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

#include "parser/ascii_case.hpp"
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
// The first bytes a sentinel can have in planned SQL: the quote before a string sentinel, the first
// digit of an integer one.
constexpr bool may_start_sentinel(char c) { return c == '\'' || c == integer_prefix.front(); }

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
    // One spelling per index: not `0012` or `-0` for sentinel 12 or 0.
    if (!is_digit(digits.front()) || (digits.size() > 1 && digits.front() == '0')) return std::nullopt;
    return static_cast<std::size_t>(number);
}

bool holds_sentinel_spelling(std::string_view sql) {
    return sql.find(string_marker) != std::string_view::npos || sql.find(integer_prefix) != std::string_view::npos;
}

// The quick scanner's alphabet outside quotes. Deliberately small: PostgreSQL's scanner decides
// everything else (`$`, backslashes, non-ASCII, `&`, `|`, `!`, `~`, `@`, `#`, `^`, `?`, ...).
bool is_plain_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_word_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_operator_char(char c) { return std::string_view("+-*/%<>=").find(c) != std::string_view::npos; }
bool is_plain_punctuation(char c) { return std::string_view("(),.;:=<>+-*/%[]").find(c) != std::string_view::npos; }

// The end of the ASCII word starting at `at` (== at when there is none). A `$` or non-ASCII byte
// right after it would continue the identifier; the caller refuses those characters anyway.
std::size_t word_end(std::string_view sql, std::size_t at) {
    if (at >= sql.size() || !is_word_start(sql[at])) return at;
    std::size_t end = at + 1;
    while (end < sql.size() && (is_word_start(sql[end]) || is_digit(sql[end]))) ++end;
    return end;
}

bool opens_shapeable_word(std::string_view word) {
    return std::ranges::any_of(std::array<std::string_view, 5>{"select", "insert", "update", "delete", "with"},
                               [word](std::string_view keyword) { return equals_ignoring_ascii_case(word, keyword); });
}

// Past the closing quote of the '...' or "..." opening at `at` (a doubled quote stays inside);
// npos when it does not close, or holds a backslash, a control character or a non-ASCII byte:
// the scanner reads those (and validates encodings) its own way.
std::size_t quoted_end(std::string_view sql, std::size_t at) {
    const char quote = sql[at];
    for (std::size_t i = at + 1; i < sql.size(); ++i) {
        const auto byte = static_cast<unsigned char>(sql[i]);
        if (sql[i] == '\\' || byte >= 0x80 || (byte < 0x20 && !is_plain_space(sql[i]))) return std::string_view::npos;
        if (sql[i] != quote) continue;
        if (i + 1 < sql.size() && sql[i + 1] == quote) {
            ++i;
            continue;
        }
        return i + 1;
    }
    return std::string_view::npos;
}

// Whether a run of digits is an int4, as the scanner's ICONST (larger ones are FCONST).
bool fits_int4(std::string_view digits) {
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    constexpr std::string_view max = "2147483647";
    return digits.size() < max.size() || (digits.size() == max.size() && digits <= max);
}

// Copies the query string into its shape, each literal replaced by its sentinel.
class ShapeBuilder {
public:
    explicit ShapeBuilder(std::size_t size) { shaped_.shape.reserve(size + 16); }

    // False past max_template_literals.
    bool add(std::string_view sql, std::size_t start, std::size_t end, TemplateLiteral literal) {
        if (shaped_.literals.size() == max_template_literals) return false;
        shaped_.shape.append(sql.substr(copied_, start - copied_));
        const std::size_t index = shaped_.literals.size();
        if (literal.kind == TemplateLiteral::Kind::Integer) {
            shaped_.shape += integer_sentinel(index);
        } else {
            shaped_.shape += '\'';
            shaped_.shape += string_sentinel(index);
            shaped_.shape += '\'';
        }
        copied_ = end;
        shaped_.literals.push_back(std::move(literal));
        return true;
    }

    std::optional<LiteralTemplate> finish(std::string_view sql) {
        if (shaped_.literals.empty()) return std::nullopt;
        shaped_.shape.append(sql.substr(copied_));
        return std::move(shaped_);
    }

private:
    LiteralTemplate shaped_;
    std::size_t copied_ = 0;
};

}  // namespace

std::string integer_sentinel(std::size_t index) { return std::to_string(integer_base + static_cast<std::int64_t>(index)); }

std::string string_sentinel(std::size_t index) {
    std::string sentinel(string_marker);
    sentinel += std::to_string(index);
    return sentinel;
}

std::optional<LiteralTemplate> make_literal_template(std::string_view sql) {
    if (auto quick = quick_literal_template(sql)) return quick;
    return scanned_literal_template(sql);
}

std::optional<LiteralTemplate> scanned_literal_template(std::string_view sql) {
    if (holds_sentinel_spelling(sql)) return std::nullopt;
    auto scanned = scan_numbered(sql);
    if (!scanned.ok()) return std::nullopt;
    ShapeBuilder shaped(sql.size());
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
        if (!shaped.add(sql, token.token.start, token.token.end, std::move(*literal))) return std::nullopt;
    }
    return shaped.finish(sql);
}

std::optional<LiteralTemplate> quick_literal_template(std::string_view sql) {
    if (holds_sentinel_spelling(sql)) return std::nullopt;
    ShapeBuilder shaped(sql.size());
    std::size_t at = 0;
    const auto skip_space = [&] {
        while (at < sql.size() && is_plain_space(sql[at])) ++at;
    };
    skip_space();
    // The statement must open with one of the shapeable keywords, spelt as a plain word.
    const std::size_t first_end = word_end(sql, at);
    if (!opens_shapeable_word(sql.substr(at, first_end - at))) return std::nullopt;
    at = first_end;
    while (at < sql.size()) {
        const char c = sql[at];
        if (is_plain_space(c)) {
            ++at;
        } else if (is_word_start(c)) {
            const std::size_t end = word_end(sql, at);
            if (end < sql.size() && (sql[end] == '\'' || sql[end] == '"')) return std::nullopt;  // E'', U&"", ...
            if (spells_set_config(sql.substr(at, end - at))) return std::nullopt;
            at = end;
        } else if (is_digit(c)) {
            std::size_t end = at;
            while (end < sql.size() && is_digit(sql[end])) ++end;
            // A dot makes a decimal or `1..`, a letter an exponent or trailing junk, a quote
            // something unusual: the scanner knows those.
            if (end < sql.size() && (is_word_char(sql[end]) || sql[end] == '.' || sql[end] == '\'' || sql[end] == '"'))
                return std::nullopt;
            if (at > 0 && sql[at - 1] == '.') return std::nullopt;
            const std::string_view written = sql.substr(at, end - at);
            // The scanner makes an integer too big for int4 a float constant, which stays as written.
            if (fits_int4(written)) {
                auto value = integer_value(written);
                if (!value) return std::nullopt;
                if (!shaped.add(sql, at, end, {TemplateLiteral::Kind::Integer, std::string(written), std::move(*value)}))
                    return std::nullopt;
            }
            at = end;
        } else if (c == '\'' || c == '"') {
            const std::size_t end = quoted_end(sql, at);
            if (end == std::string_view::npos || (end == at + 2 && c == '"')) return std::nullopt;  // open, or `""`
            const std::string_view written = sql.substr(at, end - at);
            at = end;
            if (c == '"') {
                if (spells_set_config(written)) return std::nullopt;
                continue;
            }
            // 'a' followed (across a newline) by 'b' is one literal to the scanner.
            skip_space();
            if (at < sql.size() && sql[at] == '\'') return std::nullopt;
            auto value = string_value(written);
            if (!value || (!value->empty() && value->front() == '$')) return std::nullopt;
            if (!shaped.add(sql, end - written.size(), end,
                            {TemplateLiteral::Kind::String, std::string(written), std::move(*value)}))
                return std::nullopt;
        } else if (c == ';') {
            ++at;
            skip_space();
            if (at != sql.size()) return std::nullopt;  // a second statement, or a comment
        } else if (is_plain_punctuation(c)) {
            const char next = at + 1 < sql.size() ? sql[at + 1] : '\0';
            if ((c == '-' && next == '-') || (c == '/' && next == '*')) return std::nullopt;  // a comment
            // Runs of operator characters have rules of their own (a length limit, a trailing
            // sign split off); `<=`, `<>`, `=>` and the like are as long as the quick scanner goes.
            std::size_t run = 0;
            while (at + run < sql.size() && is_operator_char(sql[at + run])) ++run;
            if (run > 2) return std::nullopt;
            ++at;
        } else {
            return std::nullopt;
        }
    }
    return shaped.finish(sql);
}

std::optional<std::string> fill_sql(std::string_view planned, const std::vector<TemplateLiteral>& literals) {
    std::string filled;
    filled.reserve(planned.size() + 32);
    std::size_t i = 0;
    while (i < planned.size()) {
        // Sentinels start at a quote or at the 2 of integer_prefix; copy up to the next such byte
        // in one go (this runs for every statement of a literal shape, several times).
        std::size_t next = i;
        while (next < planned.size() && !may_start_sentinel(planned[next])) ++next;
        filled.append(planned.substr(i, next - i));
        if (next == planned.size()) break;
        i = next;
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
