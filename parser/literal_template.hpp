// A query string's shape: its integer and string literals replaced by sentinels, so that one plan serves every string of that shape.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace staleguard::parser {

struct TemplateLiteral {
    enum class Kind { Integer, String };
    Kind kind = Kind::Integer;
    std::string written;  // as in the query string: `007`, `'it''s'`, `$q$x$q$`
    // What PostgreSQL's parser makes of it, as statement analysis reports literal values:
    // the integer in decimal (`7`), the string's contents (`it's`, `x`).
    std::string value;
    friend bool operator==(const TemplateLiteral&, const TemplateLiteral&) = default;
};

struct LiteralTemplate {
    // The string with literal i spelt as its sentinel: integers as integer_sentinel(i), strings as
    // '<string_sentinel(i)>'. Everything else is byte for byte the original.
    std::string shape;
    std::vector<TemplateLiteral> literals;
    friend bool operator==(const LiteralTemplate&, const LiteralTemplate&) = default;
};

// Plans are reused across strings of one shape only for these: single SELECT, INSERT, UPDATE,
// DELETE or WITH statements. Anything else (SET, PREPARE, DO, CREATE ...) reads literal values
// (a setting's name, a function body) and must be planned as written.
inline constexpr std::size_t max_template_literals = 1000;

// The shape of `sql`; nullopt when it has none worth having: not one statement of the kinds
// above, no literal to replace, a call of set_config (whose string arguments analysis reads), a
// string literal whose value starts with `$` (analysis takes "$n" for a parameter), or text that
// already holds a sentinel's spelling. A minus stays in the shape before its integer's sentinel:
// the parser folds both into one negative constant, which fill_value() knows.
std::optional<LiteralTemplate> make_literal_template(std::string_view sql);

// make_literal_template's two halves. PostgreSQL's scanner (through libpg_query's protobuf) is
// most of what a literal statement costs staleguard, so plain statements — ASCII words, quoted
// identifiers, int4 integers, plain '...' strings, simple punctuation, one statement — are shaped
// by a small scanner of our own. It gives up (nullopt) on anything outside that language, and where
// it answers it must answer exactly what the scanner-based half does: the table tests and the
// rewrite fuzzer hold it to that.
std::optional<LiteralTemplate> quick_literal_template(std::string_view sql);
std::optional<LiteralTemplate> scanned_literal_template(std::string_view sql);

std::string integer_sentinel(std::size_t index);
std::string string_sentinel(std::size_t index);

// `planned`, SQL made from a shape (by the rewriter, the deparser), with each sentinel
// replaced by its literal as written. nullopt when a sentinel appears in a form that cannot be
// put back (inside a longer string, say), or names a literal that is not there.
std::optional<std::string> fill_sql(std::string_view planned, const std::vector<TemplateLiteral>& literals);

// A literal value that analysis took from a shape (a key value): the sentinel's literal value in
// its place (negated after a minus). nullopt when the value holds a sentinel other than as its whole self.
std::optional<std::string> fill_value(std::string_view planned_value, const std::vector<TemplateLiteral>& literals);

}  // namespace staleguard::parser
