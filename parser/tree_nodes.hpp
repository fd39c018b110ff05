// Building and reading libpg_query's protobuf-c parse-tree nodes; for parser/*.cpp only (it
// includes the C headers, which never reach our public headers).
#pragma once

#include <pg_query/pg_query.pb-c.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/protobuf_walk.hpp"
#include "parser/statement_analysis.hpp"

namespace staleguard::parser::tree {

using Node = PgQuery__Node;

// New nodes join a tree that protobuf-c frees with free(): they must come from malloc, and
// every string field must be a malloc'd copy (never the shared empty string).
inline void* allocate_bytes(std::size_t size) {
    void* memory = std::malloc(size);
    if (memory == nullptr) throw std::bad_alloc();
    return memory;
}

template <class Message>
Message* allocate(void (*init)(Message*)) {
    auto* message = static_cast<Message*>(allocate_bytes(sizeof(Message)));
    init(message);
    return message;
}

inline char* copy_string(std::string_view text) {
    auto* copy = static_cast<char*>(allocate_bytes(text.size() + 1));
    std::memcpy(copy, text.data(), text.size());
    copy[text.size()] = '\0';
    return copy;
}

inline Node* new_node(PgQuery__Node__NodeCase node_case) {
    Node* node = allocate(pg_query__node__init);
    node->node_case = node_case;
    return node;
}

inline Node* make_string(std::string_view text) {
    auto* string = allocate(pg_query__string__init);
    string->sval = copy_string(text);
    Node* node = new_node(PG_QUERY__NODE__NODE_STRING);
    node->string = string;
    return node;
}

inline void free_node(Node* node) {
    if (node != nullptr) pg_query__node__free_unpacked(node, nullptr);
}

// Appends to a protobuf-c repeated field; on failure the item is freed, the list left as it was.
inline void append_item(std::size_t& count, Node**& items, Node* item) {
    void* grown = std::realloc(static_cast<void*>(items), (count + 1) * sizeof(Node*));
    if (grown == nullptr) {
        free_node(item);
        throw std::bad_alloc();
    }
    items = static_cast<Node**>(grown);
    items[count++] = item;
}

// The text of a String node, or nullopt for any other node.
inline std::optional<std::string_view> string_of(const Node* node) {
    if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_STRING || node->string == nullptr) return {};
    return std::string_view(node->string->sval);
}

// A constant (through casts) or $n parameter as text; nullopt for anything else.
inline std::optional<LiteralValue> literal_of(const Node* node, int depth = 0) {
    if (node == nullptr || depth > 8) return {};
    switch (node->node_case) {
        case PG_QUERY__NODE__NODE_A_CONST: {
            const PgQuery__AConst& constant = *node->a_const;
            if (constant.isnull) return {};
            switch (constant.val_case) {
                case PG_QUERY__A__CONST__VAL_IVAL:
                    return LiteralValue{std::to_string(constant.ival->ival), 0};
                case PG_QUERY__A__CONST__VAL_FVAL:
                    return LiteralValue{constant.fval->fval, 0};
                case PG_QUERY__A__CONST__VAL_BOOLVAL:
                    return LiteralValue{constant.boolval->boolval ? "true" : "false", 0};
                case PG_QUERY__A__CONST__VAL_SVAL:
                    return LiteralValue{constant.sval->sval, 0};
                case PG_QUERY__A__CONST__VAL_BSVAL:
                    return LiteralValue{constant.bsval->bsval, 0};
                default:
                    return {};
            }
        }
        case PG_QUERY__NODE__NODE_PARAM_REF: {
            // Appending rather than `"$" + ...` sidesteps a false -Wrestrict in GCC 12 at -O2.
            std::string text(1, '$');
            text += std::to_string(node->param_ref->number);
            return LiteralValue{std::move(text), node->param_ref->number};
        }
        case PG_QUERY__NODE__NODE_TYPE_CAST:
            return literal_of(node->type_cast->arg, depth + 1);
        default:
            return {};
    }
}

// A column reference's dotted path (`a.id` → {"a", "id"}); nullopt for `*` and anything else.
inline std::optional<std::vector<std::string>> column_path_of(const Node* node) {
    if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) return {};
    std::vector<std::string> path;
    for (std::size_t i = 0; i < node->column_ref->n_fields; ++i) {
        const auto part = string_of(node->column_ref->fields[i]);
        if (!part) return {};  // `*` and other non-name fields
        path.emplace_back(*part);
    }
    return path;
}

// Whether an operator expression is `name` or `OPERATOR(pg_catalog.name)`.
inline bool is_operator(const PgQuery__AExpr& expression, std::string_view name) {
    if (expression.n_name == 1) return string_of(expression.name[0]) == name;
    return expression.n_name == 2 && string_of(expression.name[0]) == "pg_catalog" &&
           string_of(expression.name[1]) == name;
}

// The operands of a top-level AND, flattened (a node that is no AND is its own only conjunct).
inline void collect_conjuncts(const Node* node, std::vector<const Node*>& conjuncts, int depth = 0) {
    if (node == nullptr || depth > max_tree_depth) return;
    if (node->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
        node->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
        for (std::size_t i = 0; i < node->bool_expr->n_args; ++i) {
            collect_conjuncts(node->bool_expr->args[i], conjuncts, depth + 1);
        }
        return;
    }
    conjuncts.push_back(node);
}

}  // namespace staleguard::parser::tree
