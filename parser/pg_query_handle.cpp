// Owners of libpg_query's C results: parse, deparse, scan and split without leaking or throwing.
#include "parser/pg_query_handle.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "parser/protobuf_walk.hpp"

namespace staleguard::parser {
namespace {

// One movable, non-copyable owner per C result type: the destructor runs the matching free
// function exactly once, whatever path the caller leaves by.
template <class Result, void (*Free)(Result)>
class CResult {
public:
    explicit CResult(Result result) : result_(result), owned_(true) {}
    CResult(const CResult&) = delete;
    CResult& operator=(const CResult&) = delete;
    CResult(CResult&& other) noexcept : result_(other.result_), owned_(std::exchange(other.owned_, false)) {}
    CResult& operator=(CResult&&) = delete;
    ~CResult() {
        if (owned_) Free(result_);
    }
    const Result& operator*() const { return result_; }
    const Result* operator->() const { return &result_; }

private:
    Result result_;
    bool owned_;
};

using ProtobufParseOwner = CResult<PgQueryProtobufParseResult, pg_query_free_protobuf_parse_result>;
using DeparseOwner = CResult<PgQueryDeparseResult, pg_query_free_deparse_result>;
using ScanOwner = CResult<PgQueryScanResult, pg_query_free_scan_result>;
using SplitOwner = CResult<PgQuerySplitResult, pg_query_free_split_result>;

struct ScanTreeDeleter {
    void operator()(PgQuery__ScanResult* tree) const { pg_query__scan_result__free_unpacked(tree, nullptr); }
};
using ScanTree = std::unique_ptr<PgQuery__ScanResult, ScanTreeDeleter>;

ParseError copy_error(const PgQueryError* error) {
    ParseError copied;
    copied.message = error->message != nullptr ? error->message : "unknown error";
    copied.position = error->cursorpos;
    return copied;
}

ParseError nul_byte_error(std::string_view sql) {
    return ParseError{"query string contains a NUL byte", static_cast<int>(sql.find('\0')) + 1};
}

// Packs a one-statement view of `tree` (borrowing its RawStmt) into bytes.
std::string pack_statement(const PgQuery__ParseResult& tree, std::size_t index) {
    PgQuery__ParseResult single = PG_QUERY__PARSE_RESULT__INIT;
    single.version = tree.version;
    single.n_stmts = 1;
    single.stmts = &tree.stmts[index];
    std::string bytes(pg_query__parse_result__get_packed_size(&single), '\0');
    pg_query__parse_result__pack(&single, reinterpret_cast<uint8_t*>(bytes.data()));
    return bytes;
}

std::string pack_tree(const PgQuery__ParseResult& tree) {
    std::string bytes(pg_query__parse_result__get_packed_size(&tree), '\0');
    pg_query__parse_result__pack(&tree, reinterpret_cast<uint8_t*>(bytes.data()));
    return bytes;
}

ParseOutcome<std::string> deparse_bytes(std::string& bytes) {
    PgQueryProtobuf protobuf{bytes.size(), bytes.data()};
    const DeparseOwner result(pg_query_deparse_protobuf(protobuf));
    if (result->error != nullptr) return copy_error(result->error);
    if (result->query == nullptr) return ParseError{"deparser returned nothing", 0};
    return std::string(result->query);
}

void zero_locations(ProtobufCMessage& message, int depth) {
    const ProtobufCMessageDescriptor& descriptor = *message.descriptor;
    for (unsigned i = 0; i < descriptor.n_fields; ++i) {
        const ProtobufCFieldDescriptor& field = descriptor.fields[i];
        if (field.type == PROTOBUF_C_TYPE_INT32 && field.label != PROTOBUF_C_LABEL_REPEATED &&
            (field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 &&
            (std::strcmp(field.name, "location") == 0 || std::strcmp(field.name, "stmt_location") == 0 ||
             std::strcmp(field.name, "stmt_len") == 0)) {
            std::memset(reinterpret_cast<char*>(&message) + field.offset, 0, sizeof(int32_t));
        }
    }
    if (depth <= 0) return;
    for_each_child_message(message, [depth](ProtobufCMessage& child) { zero_locations(child, depth - 1); });
}

}  // namespace

ParseTree& ParseTree::operator=(ParseTree&& other) noexcept {
    if (this != &other) {
        if (tree_ != nullptr) pg_query__parse_result__free_unpacked(tree_, nullptr);
        tree_ = std::exchange(other.tree_, nullptr);
    }
    return *this;
}

ParseTree::~ParseTree() {
    if (tree_ != nullptr) pg_query__parse_result__free_unpacked(tree_, nullptr);
}

std::size_t ParseTree::statement_count() const { return tree_ == nullptr ? 0 : tree_->n_stmts; }

ParseOutcome<ParseTree> parse(std::string_view sql) {
    if (sql.find('\0') != std::string_view::npos) return nul_byte_error(sql);
    const std::string terminated(sql);
    const ProtobufParseOwner result(pg_query_parse_protobuf(terminated.c_str()));
    if (result->error != nullptr) return copy_error(result->error);
    PgQuery__ParseResult* tree = pg_query__parse_result__unpack(
        nullptr, result->parse_tree.len, reinterpret_cast<const uint8_t*>(result->parse_tree.data));
    if (tree == nullptr) return ParseError{"cannot unpack the parse tree", 0};
    return ParseTree(tree);
}

ParseOutcome<std::string> deparse(const ParseTree& tree) {
    if (tree.get() == nullptr) return ParseError{"no parse tree", 0};
    std::string bytes = pack_tree(*tree.get());
    return deparse_bytes(bytes);
}

ParseOutcome<std::string> deparse_statement(const ParseTree& tree, std::size_t index) {
    if (index >= tree.statement_count()) return ParseError{"no such statement", 0};
    std::string bytes = pack_statement(*tree.get(), index);
    return deparse_bytes(bytes);
}

ParseOutcome<std::vector<StatementSlice>> split(std::string_view sql) {
    if (sql.find('\0') != std::string_view::npos) return nul_byte_error(sql);
    const std::string terminated(sql);
    const SplitOwner result(pg_query_split_with_scanner(terminated.c_str()));
    if (result->error != nullptr) return copy_error(result->error);
    std::vector<StatementSlice> slices;
    slices.reserve(static_cast<std::size_t>(result->n_stmts));
    for (int i = 0; i < result->n_stmts; ++i) {
        const PgQuerySplitStmt* statement = result->stmts[i];
        slices.push_back({static_cast<std::size_t>(statement->stmt_location),
                          static_cast<std::size_t>(statement->stmt_len)});
    }
    return slices;
}

ParseOutcome<std::vector<NumberedToken>> scan_numbered(std::string_view sql) {
    if (sql.find('\0') != std::string_view::npos) return nul_byte_error(sql);
    const std::string terminated(sql);
    const ScanOwner result(pg_query_scan(terminated.c_str()));
    if (result->error != nullptr) return copy_error(result->error);
    const ScanTree tree(pg_query__scan_result__unpack(nullptr, result->pbuf.len,
                                                      reinterpret_cast<const uint8_t*>(result->pbuf.data)));
    if (!tree) return ParseError{"cannot unpack the scan result", 0};
    std::vector<NumberedToken> tokens;
    tokens.reserve(tree->n_tokens);
    for (std::size_t i = 0; i < tree->n_tokens; ++i) {
        const PgQuery__ScanToken& token = *tree->tokens[i];
        TokenKind kind = TokenKind::Other;
        if (token.token == PG_QUERY__TOKEN__SQL_COMMENT || token.token == PG_QUERY__TOKEN__C_COMMENT) {
            kind = TokenKind::Comment;
        } else if (token.token == PG_QUERY__TOKEN__ASCII_59) {
            kind = TokenKind::Semicolon;
        }
        tokens.push_back({{static_cast<std::size_t>(token.start), static_cast<std::size_t>(token.end), kind},
                          static_cast<int>(token.token)});
    }
    return tokens;
}

ParseOutcome<std::vector<Token>> scan(std::string_view sql) {
    auto numbered = scan_numbered(sql);
    if (!numbered.ok()) return numbered.error();
    std::vector<Token> tokens;
    tokens.reserve(numbered.value().size());
    for (const NumberedToken& token : numbered.value()) tokens.push_back(token.token);
    return tokens;
}

std::vector<StatementSlice> statement_slices(const ParseTree& tree, std::size_t sql_length) {
    std::vector<StatementSlice> slices;
    for (std::size_t i = 0; i < tree.statement_count(); ++i) {
        const PgQuery__RawStmt& raw = *tree.get()->stmts[i];
        const auto location = std::min(static_cast<std::size_t>(std::max(raw.stmt_location, 0)), sql_length);
        auto length = static_cast<std::size_t>(std::max(raw.stmt_len, 0));
        if (length == 0 || location + length > sql_length) length = sql_length - location;
        slices.push_back({location, length});
    }
    return slices;
}

std::string statement_shape(ParseTree& tree, std::size_t index) {
    if (index >= tree.statement_count()) return {};
    PgQuery__RawStmt& statement = *tree.get()->stmts[index];
    zero_locations(statement.base, max_tree_depth);
    return pack_statement(*tree.get(), index);
}

bool same_statement(const ParseTree& left, std::size_t left_index, const ParseTree& right, std::size_t right_index) {
    if (left_index >= left.statement_count() || right_index >= right.statement_count()) return false;
    const PgQuery__RawStmt* a = left.get()->stmts[left_index];
    const PgQuery__RawStmt* b = right.get()->stmts[right_index];
    if (a == nullptr || b == nullptr) return a == b;
    return same_ignoring_locations(a->base, b->base);
}

}  // namespace staleguard::parser
