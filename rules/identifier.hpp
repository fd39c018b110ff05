// PostgreSQL identifier rules for names written in rule files: folding, validation, quoting.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

// PostgreSQL's NAMEDATALEN - 1: longer names are truncated by the server, which would silently
// make a rule protect a different name than the one written, so the loader refuses them.
inline constexpr std::size_t max_identifier_bytes = 63;

struct IdentifierError {
    std::string message;  // says what is wrong, without repeating the name
};

template <class T>
class [[nodiscard]] IdentifierResult {
public:
    IdentifierResult(T value) : state_(std::move(value)) {}               // NOLINT(google-explicit-constructor)
    IdentifierResult(IdentifierError error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }
    const T& value() const& { return std::get<T>(state_); }
    T&& value() && { return std::get<T>(std::move(state_)); }
    const IdentifierError& error() const { return std::get<IdentifierError>(state_); }

private:
    std::variant<T, IdentifierError> state_;
};

// One identifier as PostgreSQL reads it: unquoted folds ASCII letters to lower case, "quoted"
// keeps its case with "" standing for one quote. A dotted path is an error here.
IdentifierResult<std::string> parse_identifier(std::string_view text);

// `name` or `schema.name`; a bare name lands in default_schema.
IdentifierResult<QualifiedName> parse_qualified_name(std::string_view text,
                                                     std::string_view default_schema = "public");

// True for keywords that PostgreSQL's quote_ident() would quote (reserved, type/function-name
// and column-name keywords); `lower_case_word` must already be folded.
bool is_reserved_keyword(std::string_view lower_case_word);

// The identifier as SQL text: bare when PostgreSQL would read it back unchanged, else quoted.
std::string quote_identifier(std::string_view identifier);

// `text` made safe to show inside a one-line message: control bytes become \xNN.
std::string printable(std::string_view text);

}  // namespace staleguard::rules
