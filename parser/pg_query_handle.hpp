// Owners of libpg_query's C results: parse, deparse, scan and split without leaking or throwing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

// The protobuf-c tree type, declared here so that our headers never include the C headers.
struct PgQuery__ParseResult;

namespace staleguard::parser {

struct ParseError {
    std::string message;
    int position = 0;  // 1-based byte offset into the query as PostgreSQL reports it; 0 = none
};

template <class T>
class [[nodiscard]] ParseOutcome {
public:
    ParseOutcome(T value) : state_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
    ParseOutcome(ParseError error) : state_(std::move(error)) {}   // NOLINT(google-explicit-constructor)

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<T>(state_); }
    const T& value() const& { return std::get<T>(state_); }
    T&& value() && { return std::get<T>(std::move(state_)); }
    const ParseError& error() const { return std::get<ParseError>(state_); }

private:
    std::variant<T, ParseError> state_;
};

// The unpacked protobuf parse tree of one query string. Nodes may be edited in place by the
// rewriter; everything reachable from the root is freed together with it, so an edit must
// leave every node owned by exactly one parent (allocated with malloc, as protobuf-c does).
class ParseTree {
public:
    ParseTree() = default;
    explicit ParseTree(PgQuery__ParseResult* tree) : tree_(tree) {}
    ParseTree(const ParseTree&) = delete;
    ParseTree& operator=(const ParseTree&) = delete;
    ParseTree(ParseTree&& other) noexcept : tree_(std::exchange(other.tree_, nullptr)) {}
    ParseTree& operator=(ParseTree&& other) noexcept;
    ~ParseTree();

    PgQuery__ParseResult* get() { return tree_; }
    const PgQuery__ParseResult* get() const { return tree_; }
    std::size_t statement_count() const;

private:
    PgQuery__ParseResult* tree_ = nullptr;
};

// Where one statement sits in the query string (PostgreSQL's own stmt_location/stmt_len, which
// include the blanks and comments before the statement but not its semicolon).
struct StatementSlice {
    std::size_t location = 0;
    std::size_t length = 0;
    friend bool operator==(const StatementSlice&, const StatementSlice&) = default;
};

enum class TokenKind { Comment, Semicolon, Other };

struct Token {
    std::size_t start = 0;
    std::size_t end = 0;
    TokenKind kind = TokenKind::Other;
    friend bool operator==(const Token&, const Token&) = default;
};

// A token with libpg_query's number for what it is (a PgQuery__Token value: IDENT, a keyword...),
// for passes that decide from keywords alone.
struct NumberedToken {
    Token token;
    int number = 0;
};

// A query string with a NUL byte cannot be handed to the C API (nor sent in a Query message).
ParseOutcome<ParseTree> parse(std::string_view sql);
ParseOutcome<std::string> deparse(const ParseTree& tree);
// Deparses statement `index` of `tree` alone.
ParseOutcome<std::string> deparse_statement(const ParseTree& tree, std::size_t index);
ParseOutcome<std::vector<StatementSlice>> split(std::string_view sql);
ParseOutcome<std::vector<Token>> scan(std::string_view sql);
ParseOutcome<std::vector<NumberedToken>> scan_numbered(std::string_view sql);
// The slice of each statement in the tree, in order; a length of 0 from the parser ("rest of
// string") is made explicit.
std::vector<StatementSlice> statement_slices(const ParseTree& tree, std::size_t sql_length);
// Statement `index` packed with every location field zeroed: two trees that mean the same
// thing give the same bytes, however they were spelt. Zeroes the locations in `tree` itself
// (copying the tree would cost more than parsing it), so slice the string before calling.
std::string statement_shape(ParseTree& tree, std::size_t index);
// Whether statement `left_index` of `left` and statement `right_index` of `right` are the same
// tree apart from locations: what comparing their shapes tells, without packing anything or
// touching either tree. False when either index is out of range.
bool same_statement(const ParseTree& left, std::size_t left_index, const ParseTree& right, std::size_t right_index);

}  // namespace staleguard::parser
