// Edits the SET list of one UPDATE-like clause in the parse tree so that it bumps the version column.
#include "parser/version_bump.hpp"

#include "parser/tree_nodes.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string_view>
#include <utility>

namespace staleguard::parser {
namespace {

using Node = PgQuery__Node;
using tree::allocate_bytes;
using tree::allocate;
using tree::copy_string;
using tree::new_node;
using tree::make_string;
using tree::free_node;
using tree::append_item;

Node** allocate_list(std::initializer_list<Node*> items) {
    auto** list = static_cast<Node**>(allocate_bytes(sizeof(Node*) * items.size()));
    std::size_t i = 0;
    for (Node* item : items) list[i++] = item;
    return list;
}

Node* make_column_ref(std::string_view qualifier, std::string_view column) {
    auto* reference = allocate(pg_query__column_ref__init);
    reference->n_fields = 2;
    reference->fields = allocate_list({make_string(qualifier), make_string(column)});
    reference->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_COLUMN_REF);
    node->column_ref = reference;
    return node;
}

Node* make_integer_constant(int32_t value) {
    auto* integer = allocate(pg_query__integer__init);
    integer->ival = value;
    auto* constant = allocate(pg_query__a__const__init);
    constant->val_case = PG_QUERY__A__CONST__VAL_IVAL;
    constant->ival = integer;
    constant->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_A_CONST);
    node->a_const = constant;
    return node;
}

Node* make_bump_value(const VersionBump& bump) {
    if (bump.kind == BumpKind::Timestamp) {
        auto* call = allocate(pg_query__func_call__init);
        call->n_funcname = 1;
        call->funcname = allocate_list({make_string("clock_timestamp")});
        call->funcformat = PG_QUERY__COERCION_FORM__COERCE_EXPLICIT_CALL;
        call->location = -1;
        Node* node = new_node(PG_QUERY__NODE__NODE_FUNC_CALL);
        node->func_call = call;
        return node;
    }
    auto* expression = allocate(pg_query__a__expr__init);
    expression->kind = PG_QUERY__A__EXPR__KIND__AEXPR_OP;
    expression->n_name = 1;
    expression->name = allocate_list({make_string("+")});
    expression->lexpr = make_column_ref(bump.qualifier, bump.version_column);
    expression->rexpr = make_integer_constant(1);
    expression->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_A_EXPR);
    node->a_expr = expression;
    return node;
}

Node* make_bump_target(const VersionBump& bump) {
    auto* target = allocate(pg_query__res_target__init);
    target->name = copy_string(bump.version_column);
    target->val = make_bump_value(bump);
    target->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_RES_TARGET);
    node->res_target = target;
    return node;
}

bool is_string(const Node* node, std::string_view text) {
    return node != nullptr && node->node_case == PG_QUERY__NODE__NODE_STRING && node->string->sval == text;
}

// Whether `value` already is exactly the bump we would write.
bool is_bump_value(const Node* value, const VersionBump& bump) {
    if (value == nullptr) return false;
    if (bump.kind == BumpKind::Timestamp) {
        if (value->node_case != PG_QUERY__NODE__NODE_FUNC_CALL) return false;
        const PgQuery__FuncCall& call = *value->func_call;
        return call.n_funcname == 1 && is_string(call.funcname[0], "clock_timestamp") && call.n_args == 0 &&
               call.n_agg_order == 0 && call.agg_filter == nullptr && call.over == nullptr && !call.agg_star &&
               !call.agg_distinct && !call.func_variadic && !call.agg_within_group;
    }
    if (value->node_case != PG_QUERY__NODE__NODE_A_EXPR) return false;
    const PgQuery__AExpr& expression = *value->a_expr;
    if (expression.kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || expression.n_name != 1 ||
        !is_string(expression.name[0], "+")) {
        return false;
    }
    const Node* left = expression.lexpr;
    const Node* right = expression.rexpr;
    return left != nullptr && left->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && left->column_ref->n_fields == 2 &&
           is_string(left->column_ref->fields[0], bump.qualifier) &&
           is_string(left->column_ref->fields[1], bump.version_column) && right != nullptr &&
           right->node_case == PG_QUERY__NODE__NODE_A_CONST && !right->a_const->isnull &&
           right->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && right->a_const->ival->ival == 1;
}

void remove_item(std::size_t& count, Node** items, std::size_t index) {
    free_node(items[index]);
    std::memmove(&items[index], &items[index + 1], (count - index - 1) * sizeof(Node*));
    --count;
}

PgQuery__MultiAssignRef* multi_assign_of(const Node* item) {
    if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_RES_TARGET) return nullptr;
    const Node* value = item->res_target->val;
    if (value == nullptr || value->node_case != PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF) return nullptr;
    return value->multi_assign_ref;
}

PgQuery__RowExpr* row_source_of(const PgQuery__MultiAssignRef& reference) {
    const Node* source = reference.source;
    return source != nullptr && source->node_case == PG_QUERY__NODE__NODE_ROW_EXPR ? source->row_expr : nullptr;
}

// Takes member `index` out of its `SET (a, b, ...) = (x, y, ...)` group. Every member holds its
// own copy of the row, so each copy loses the same element; a group left with one column
// becomes a plain `a = x`, since `SET (a) = (x)` is not valid SQL.
std::optional<std::string> remove_group_member(std::size_t& count, Node** items, std::size_t index) {
    const PgQuery__MultiAssignRef& removed = *multi_assign_of(items[index]);
    const auto columns = static_cast<std::size_t>(removed.ncolumns);
    const auto position = static_cast<std::size_t>(removed.colno) - 1;
    if (removed.colno < 1 || position >= columns || index < position || index - position + columns > count) {
        return "malformed multi-column assignment";
    }
    const std::size_t start = index - position;
    for (std::size_t j = 0; j < columns; ++j) {
        const PgQuery__MultiAssignRef* member = multi_assign_of(items[start + j]);
        if (member == nullptr || member->ncolumns != removed.ncolumns || member->colno != static_cast<int32_t>(j + 1)) {
            return "malformed multi-column assignment";
        }
        const PgQuery__RowExpr* row = row_source_of(*member);
        if (row == nullptr || row->n_args != columns) return "multi-column assignment whose value count differs";
    }
    for (std::size_t j = 0; j < columns; ++j) {
        if (j == position) continue;
        PgQuery__MultiAssignRef& member = *multi_assign_of(items[start + j]);
        PgQuery__RowExpr& row = *row_source_of(member);
        remove_item(row.n_args, row.args, position);
        member.ncolumns -= 1;
        member.colno = static_cast<int32_t>(j < position ? j + 1 : j);
    }
    remove_item(count, items, index);
    if (columns == 2) {
        PgQuery__ResTarget& last = *items[start]->res_target;
        Node* wrapper = last.val;
        PgQuery__RowExpr& row = *row_source_of(*wrapper->multi_assign_ref);
        Node* value = row.args[0];
        row.n_args = 0;  // the value moves out; freeing the wrapper must not free it too
        free_node(wrapper);
        last.val = value;
    }
    return std::nullopt;
}

}  // namespace

BumpEdit apply_version_bump(AssignmentList list, const VersionBump& bump) {
    BumpEdit edit;
    if (list.count == nullptr || list.items == nullptr) return edit;
    std::size_t& count = *list.count;
    Node**& items = *list.items;
    const auto assigns_version = [&bump](const Node* item) {
        return item != nullptr && item->node_case == PG_QUERY__NODE__NODE_RES_TARGET &&
               bump.version_column == item->res_target->name;
    };

    if (!bump.owns_version) {
        for (std::size_t i = 0; i < count; ++i) {
            if (assigns_version(items[i])) return edit;
        }
        append_item(count, items, make_bump_target(bump));
        edit.changed = true;
        return edit;
    }

    bool placed = false;
    std::size_t i = 0;
    while (i < count) {
        if (!assigns_version(items[i])) {
            ++i;
            continue;
        }
        PgQuery__ResTarget& target = *items[i]->res_target;
        if (const PgQuery__MultiAssignRef* group = multi_assign_of(items[i])) {
            if (row_source_of(*group) == nullptr) {
                edit.unanalysable = "the version column is assigned from a sub-SELECT in a multi-column SET";
                return edit;
            }
            if (auto problem = remove_group_member(count, items, i)) {
                edit.unanalysable = std::move(problem);
                return edit;
            }
            edit.changed = true;
            continue;  // items[i] is now the next assignment
        }
        if (placed) {
            remove_item(count, items, i);  // a second assignment to the version column
            edit.changed = true;
            continue;
        }
        placed = true;
        if (target.n_indirection == 0 && is_bump_value(target.val, bump)) {
            ++i;
            continue;
        }
        Node* value = make_bump_value(bump);
        free_node(std::exchange(target.val, value));
        while (target.n_indirection > 0) remove_item(target.n_indirection, target.indirection, target.n_indirection - 1);
        edit.changed = true;
        ++i;
    }
    if (!placed) {
        append_item(count, items, make_bump_target(bump));
        edit.changed = true;
    }
    return edit;
}

}  // namespace staleguard::parser
