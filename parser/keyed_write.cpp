// Track mode's write side: recognises an UPDATE or DELETE of a protected table by key and leaves a slot for its version predicate.
#include "parser/keyed_write.hpp"

#include "parser/tree_nodes.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "parser/array_text.hpp"
#include "parser/pg_query_handle.hpp"
#include "parser/protobuf_walk.hpp"
#include "parser/version_bump.hpp"
#include "rules/identifier.hpp"

namespace staleguard::parser {
namespace {

using Node = PgQuery__Node;
using tree::allocate_bytes;
using tree::allocate;
using tree::copy_string;
using tree::new_node;
using tree::append_item;
using tree::string_of;
using tree::collect_conjuncts;
using tree::column_path_of;
using tree::is_operator;
using tree::literal_of;
using Value = LiteralValue;

// Bare names resolve here when the caller gives no resolver (as in the rewriter).

// The slot is a string constant with this text, found again in the deparsed statement. The
// text is only a first guess: whatever the statement itself spells, the split is made only
// where the constant occurs exactly once, and a different suffix is tried otherwise.
constexpr std::string_view slot_marker_base = "staleguard:version-slot:7f3a9c1e";
constexpr int slot_marker_attempts = 4;

Node* make_string_constant(std::string_view text) {
    auto* string = allocate(pg_query__string__init);
    string->sval = copy_string(text);
    auto* constant = allocate(pg_query__a__const__init);
    constant->val_case = PG_QUERY__A__CONST__VAL_SVAL;
    constant->sval = string;
    constant->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_A_CONST);
    node->a_const = constant;
    return node;
}

// `<where> AND <marker>`, flattening into a top-level AND that is already there. The new
// constant stays reachable through `marker` for a change of text.
PgQuery__String* append_marker(Node*& where, std::string_view marker) {
    Node* constant = make_string_constant(marker);
    PgQuery__String* text = constant->a_const->sval;
    if (where->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
        where->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
        append_item(where->bool_expr->n_args, where->bool_expr->args, constant);
        return text;
    }
    auto* conjunction = allocate(pg_query__bool_expr__init);
    conjunction->boolop = PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR;
    conjunction->n_args = 2;
    conjunction->args = static_cast<Node**>(allocate_bytes(2 * sizeof(Node*)));
    conjunction->args[0] = where;
    conjunction->args[1] = constant;
    conjunction->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_BOOL_EXPR);
    node->bool_expr = conjunction;
    where = node;
    return text;
}

// True for "$" followed by digits only: the text a parameter would have.
bool looks_like_parameter(std::string_view text) {
    return text.size() >= 2 && text[0] == '$' &&
           std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What one conjunct says about one column: its possible values, or an array parameter.
struct Constraint {
    std::vector<std::string> column_path;
    std::vector<Value> values;
    int array_parameter = 0;  // `= ANY($n)`
};

// What `(a, b) IN ((1, 2), (3, 4))` says about several columns at once: the rows of values they
// may hold together (each row a value per column, in the order the columns are written).
struct RowConstraint {
    std::vector<std::vector<std::string>> column_paths;
    std::vector<std::vector<Value>> rows;
};

struct Constraints {
    std::vector<Constraint> columns;
    std::vector<RowConstraint> rows;
};

const Node* without_casts(const Node* node) {
    for (int depth = 0; node != nullptr && node->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && depth < 8; ++depth) {
        node = node->type_cast->arg;
    }
    return node;
}

void add_equality(const Node* column_side, const Node* value_side, std::vector<Constraint>& out) {
    auto path = column_path_of(column_side);
    auto value = literal_of(value_side);
    if (path && value) out.push_back(Constraint{std::move(*path), {std::move(*value)}, 0});
}

// A list of literals or parameters, all of them, or nothing.
std::optional<std::vector<Value>> values_of(std::size_t count, Node* const* items) {
    if (count == 0) return {};
    std::vector<Value> values;
    for (std::size_t i = 0; i < count; ++i) {
        auto value = literal_of(items[i]);
        if (!value) return {};
        values.push_back(std::move(*value));
    }
    return values;
}

// `(a, b) IN ((1, 2), ...)`: columns on the left, rows of literals or parameters of as many values on the right.
std::optional<RowConstraint> row_constraint_of(const Node* left, const Node* right) {
    if (left->node_case != PG_QUERY__NODE__NODE_ROW_EXPR || right->node_case != PG_QUERY__NODE__NODE_LIST) return {};
    RowConstraint constraint;
    const PgQuery__RowExpr& columns = *left->row_expr;
    for (std::size_t i = 0; i < columns.n_args; ++i) {
        auto path = column_path_of(columns.args[i]);
        if (!path) return {};
        constraint.column_paths.push_back(std::move(*path));
    }
    const PgQuery__List& items = *right->list;
    for (std::size_t i = 0; i < items.n_items; ++i) {
        const Node* item = items.items[i];
        if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_ROW_EXPR ||
            item->row_expr->n_args != columns.n_args)
            return {};
        auto values = values_of(item->row_expr->n_args, item->row_expr->args);
        if (!values) return {};
        constraint.rows.push_back(std::move(*values));
    }
    if (constraint.column_paths.empty() || constraint.rows.empty()) return {};
    return constraint;
}

Constraints constraints_of(const std::vector<const Node*>& conjuncts) {
    Constraints found;
    std::vector<Constraint>& constraints = found.columns;
    for (const Node* conjunct : conjuncts) {
        if (conjunct->node_case != PG_QUERY__NODE__NODE_A_EXPR) continue;
        const PgQuery__AExpr& expression = *conjunct->a_expr;
        if (!is_operator(expression, "=") || expression.lexpr == nullptr || expression.rexpr == nullptr) continue;
        const Node* left = expression.lexpr;
        const Node* right = expression.rexpr;
        switch (expression.kind) {
            case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
                if (left->node_case == PG_QUERY__NODE__NODE_ROW_EXPR &&
                    right->node_case == PG_QUERY__NODE__NODE_ROW_EXPR &&
                    left->row_expr->n_args == right->row_expr->n_args) {
                    for (std::size_t i = 0; i < left->row_expr->n_args; ++i) {
                        add_equality(left->row_expr->args[i], right->row_expr->args[i], constraints);
                    }
                } else if (left->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
                    add_equality(left, right, constraints);
                } else {
                    add_equality(right, left, constraints);
                }
                break;
            case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
                if (auto rows = row_constraint_of(left, right)) {
                    found.rows.push_back(std::move(*rows));
                    break;
                }
                auto path = column_path_of(left);
                if (!path || right->node_case != PG_QUERY__NODE__NODE_LIST) break;
                if (auto values = values_of(right->list->n_items, right->list->items)) {
                    constraints.push_back(Constraint{std::move(*path), std::move(*values), 0});
                }
                break;
            }
            case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY: {
                auto path = column_path_of(left);
                const Node* array = without_casts(right);
                if (!path || array == nullptr) break;
                if (array->node_case == PG_QUERY__NODE__NODE_PARAM_REF) {
                    constraints.push_back(Constraint{std::move(*path), {}, array->param_ref->number});
                } else if (array->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR) {
                    if (auto values = values_of(array->a_array_expr->n_elements, array->a_array_expr->elements)) {
                        constraints.push_back(Constraint{std::move(*path), std::move(*values), 0});
                    }
                } else if (array->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                           array->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
                    // `= ANY('{1,2}')`: the elements are the keys, as array_in will read them.
                    const char* text = array->a_const->sval->sval;
                    if (auto elements = text_array_elements(text != nullptr ? text : "")) {
                        std::vector<Value> values;
                        for (std::string& element : *elements) values.push_back(Value{std::move(element), 0});
                        if (!values.empty()) constraints.push_back(Constraint{std::move(*path), std::move(values), 0});
                    }
                }
                break;
            }
            default:
                break;
        }
    }
    return found;
}

// A WITH whose queries all read: it cannot write the target's rows before the statement does,
// so the key in the WHERE still says which rows the statement writes.
bool only_reads(const PgQuery__WithClause& with) {
    for (std::size_t i = 0; i < with.n_ctes; ++i) {
        const Node* cte = with.ctes[i];
        if (cte == nullptr || cte->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR) return false;
        const Node* query = cte->common_table_expr->ctequery;
        if (query == nullptr || query->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return false;
    }
    return true;
}

KeyedWrite not_keyed(std::string reason) {
    KeyedWrite result;
    result.reason = std::move(reason);
    return result;
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++count;
    return count;
}

// The statement's target and WHERE, whichever of UPDATE and DELETE it is.
struct Write {
    PgQuery__RangeVar* relation = nullptr;
    Node** where = nullptr;
    PgQuery__WithClause* with = nullptr;
    bool has_from = false;
    AssignmentList assignments;  // UPDATE only
};

class KeyedWriteAnalyser {
public:
    KeyedWriteAnalyser(const rules::RuleSet& rules, const SchemaResolver& resolve) : rules_(rules), resolve_(resolve) {}

    KeyedWrite analyse(ParseTree& tree) {
        Node* root = tree.get()->stmts[0]->stmt;
        Write write;
        KeyedWrite result;
        if (root != nullptr && root->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT) {
            PgQuery__UpdateStmt& update = *root->update_stmt;
            write = Write{update.relation, &update.where_clause, update.with_clause, update.n_from_clause > 0,
                          AssignmentList{&update.n_target_list, &update.target_list}};
        } else if (root != nullptr && root->node_case == PG_QUERY__NODE__NODE_DELETE_STMT) {
            PgQuery__DeleteStmt& removal = *root->delete_stmt;
            write = Write{removal.relation, &removal.where_clause, removal.with_clause, removal.n_using_clause > 0, {}};
            result.is_delete = true;
        } else {
            return not_keyed("not an UPDATE or DELETE");
        }
        if (write.relation == nullptr) return not_keyed("no target table");
        const PgQuery__RangeVar& relation = *write.relation;
        const rules::TableRule* rule = rule_for(relation);
        if (rule == nullptr) return not_keyed("no protected table");
        if (rule->mode != rules::Mode::Track) return not_keyed(rule->table.to_string() + " is not in track mode");
        if (write.with != nullptr && !only_reads(*write.with)) {
            return not_keyed("WITH clause that writes (not keyed in this version)");
        }
        if (*write.where == nullptr) return not_keyed("no WHERE");
        if ((*write.where)->node_case == PG_QUERY__NODE__NODE_CURRENT_OF_EXPR) return not_keyed("WHERE CURRENT OF");
        if (rule->key.empty()) return not_keyed("the rule has no key");

        const std::string alias = relation.alias != nullptr ? relation.alias->aliasname : "";
        const std::string bump_qualifier = alias.empty() ? std::string(relation.relname) : alias;
        if (!alias.empty()) {
            result.qualifier = rules::quote_identifier(alias);
        } else if (relation.schemaname[0] != '\0') {
            result.qualifier = rules::quote_identifier(relation.schemaname) + "." + rules::quote_identifier(relation.relname);
        } else {
            result.qualifier = rules::quote_identifier(relation.relname);
        }

        std::vector<const Node*> conjuncts;
        collect_conjuncts(*write.where, conjuncts, 0);
        const Constraints constraints = constraints_of(conjuncts);
        if (auto problem = key_tuples(*rule, alias, relation, constraints, result.target)) return not_keyed(*problem);
        result.target.rule = rule;
        result.target.table_name = rule->table.to_string();

        if (result.is_delete) {
            if (rule->on_delete == rules::DeletePolicy::Allow) return not_keyed("the rule allows DELETE (delete=allow)");
        } else {
            std::vector<std::string> assigned;
            for (std::size_t i = 0; i < *write.assignments.count; ++i) {
                const Node* item = (*write.assignments.items)[i];
                if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_RES_TARGET) continue;
                const std::string column = item->res_target->name;
                if (std::find(assigned.begin(), assigned.end(), column) == assigned.end()) assigned.push_back(column);
            }
            if (!rule->update_is_guarded(assigned)) return not_keyed("the UPDATE sets no column the rule guards");
            result.assigns_key = std::any_of(rule->key.begin(), rule->key.end(), [&](const std::string& column) {
                return std::find(assigned.begin(), assigned.end(), column) != assigned.end();
            });
            if (result.assigns_key && (result.target.key_tuples.size() != 1 || result.target.from_array_parameter)) {
                return not_keyed("it sets a key column of several rows: their new keys cannot be matched to the ones read");
            }
            if (rule->bumped_by == rules::BumpedBy::Staleguard && rule->kind != rules::VersionKind::Xmin) {
                VersionBump bump;
                bump.qualifier = bump_qualifier;
                bump.version_column = rule->version_column;
                bump.kind = rule->kind == rules::VersionKind::Timestamp ? BumpKind::Timestamp : BumpKind::Counter;
                bump.owns_version = true;
                const BumpEdit edit = apply_version_bump(write.assignments, bump);
                if (edit.unanalysable) return not_keyed(*edit.unanalysable);
            }
        }
        if (auto problem = split_at_slot(tree, *write.where, result)) return not_keyed(*problem);
        result.outcome = KeyedWrite::Outcome::Keyed;
        return result;
    }

private:
    const rules::TableRule* rule_for(const PgQuery__RangeVar& relation) const {
        const std::string schema = relation.schemaname;
        const std::string name = relation.relname;
        if (!schema.empty()) return rules_.find(rules::QualifiedName{schema, name});
        if (!rules_.protects_name(name)) return nullptr;
        const std::optional<std::string> resolved =
            resolve_bare_name(resolve_, name);
        return resolved ? rules_.find(rules::QualifiedName{*resolved, name}) : nullptr;
    }

    static bool names_column(const std::vector<std::string>& path, const std::string& alias,
                             const PgQuery__RangeVar& relation, const rules::TableRule& rule,
                             std::string_view column) {
        switch (path.size()) {
            case 1:
                return path[0] == column;
            case 2:
                return path[0] == (alias.empty() ? std::string(relation.relname) : alias) && path[1] == column;
            case 3:
                return alias.empty() && path[0] == rule.table.schema && path[1] == rule.table.name && path[2] == column;
            default:
                return false;
        }
    }

    // Fills target.key_tuples (and the array parameter) from the constraints on the key columns:
    // each key column constrained once, by its own conjunct or as one of the columns of a
    // `(a, b) IN (...)`; one source of several values at most (a list, an array, or those rows),
    // the other key columns each with a single value.
    static std::optional<std::string> key_tuples(const rules::TableRule& rule, const std::string& alias,
                                                 const PgQuery__RangeVar& relation, const Constraints& constraints,
                                                 KeyedTarget& target) {
        // A row constraint counts when every column it names is a key column.
        const RowConstraint* by_rows = nullptr;
        std::vector<std::size_t> row_position(rule.key.size(), SIZE_MAX);  // key column -> its place in the rows
        for (const RowConstraint& candidate : constraints.rows) {
            std::vector<std::size_t> positions(rule.key.size(), SIZE_MAX);
            bool all_key_columns = true;
            for (std::size_t c = 0; c < candidate.column_paths.size() && all_key_columns; ++c) {
                all_key_columns = false;
                for (std::size_t k = 0; k < rule.key.size(); ++k) {
                    if (!names_column(candidate.column_paths[c], alias, relation, rule, rule.key[k])) continue;
                    if (positions[k] != SIZE_MAX) return "key column " + rule.key[k] + " is constrained more than once";
                    positions[k] = c;
                    all_key_columns = true;
                }
            }
            if (!all_key_columns) continue;
            if (by_rows != nullptr) return std::string("the key is constrained by more than one row list");
            by_rows = &candidate;
            row_position = std::move(positions);
        }
        auto parameter_like = [&](const Value& value, const std::string& column) -> std::optional<std::string> {
            // Only a string constant can spell "$n" without being parameter n.
            if (value.parameter == 0 && looks_like_parameter(value.text)) {
                return "key column " + column + " is compared with a string that looks like a parameter";
            }
            return std::nullopt;
        };

        std::vector<std::vector<std::string>> per_column;  // distinct values of each key column not in the rows
        std::optional<std::size_t> several;               // the one column with more than one value
        for (std::size_t k = 0; k < rule.key.size(); ++k) {
            const std::string& column = rule.key[k];
            const Constraint* found = nullptr;
            for (const Constraint& constraint : constraints.columns) {
                if (!names_column(constraint.column_path, alias, relation, rule, column)) continue;
                if (found != nullptr || row_position[k] != SIZE_MAX) {
                    return "key column " + column + " is constrained more than once";
                }
                found = &constraint;
            }
            std::vector<std::string> distinct;
            if (row_position[k] != SIZE_MAX) {
                for (const auto& row : by_rows->rows) {
                    if (auto problem = parameter_like(row[row_position[k]], column)) return problem;
                }
                per_column.push_back(std::move(distinct));
                continue;
            }
            if (found == nullptr) return "key column " + column + " is not constrained by = or IN or = ANY";
            if (found->array_parameter > 0) {
                distinct.push_back("$" + std::to_string(found->array_parameter));
                target.from_array_parameter = true;
                target.array_parameter = found->array_parameter;
            }
            // A set beside the list: ORMs send IN lists and arrays of tens of thousands of keys.
            std::unordered_set<std::string_view> listed;
            for (const Value& value : found->values) {
                if (auto problem = parameter_like(value, column)) return problem;
                if (listed.insert(value.text).second) distinct.push_back(value.text);
            }
            if (distinct.size() > 1 || found->array_parameter > 0) {
                if (several || by_rows != nullptr) return std::string("more than one key column has several values");
                several = k;
            }
            per_column.push_back(std::move(distinct));
        }
        std::set<std::vector<std::string>> added;
        auto add_tuple = [&](std::vector<std::string> tuple) {
            if (added.insert(tuple).second) target.key_tuples.push_back(std::move(tuple));
        };
        if (by_rows != nullptr) {
            for (const auto& row : by_rows->rows) {
                std::vector<std::string> tuple;
                for (std::size_t k = 0; k < per_column.size(); ++k) {
                    tuple.push_back(row_position[k] != SIZE_MAX ? row[row_position[k]].text : per_column[k][0]);
                }
                add_tuple(std::move(tuple));
            }
            return std::nullopt;
        }
        const std::size_t rows = several ? per_column[*several].size() : 1;
        for (std::size_t row = 0; row < rows; ++row) {
            std::vector<std::string> tuple;
            for (std::size_t k = 0; k < per_column.size(); ++k) {
                tuple.push_back(several && *several == k ? per_column[k][row] : per_column[k][0]);
            }
            add_tuple(std::move(tuple));
        }
        return std::nullopt;
    }

    // Puts the marker at the end of the WHERE, deparses, and cuts the text where it lands.
    static std::optional<std::string> split_at_slot(ParseTree& tree, Node*& where, KeyedWrite& result) {
        PgQuery__String* marker_node = append_marker(where, slot_marker_base);
        for (int attempt = 0; attempt < slot_marker_attempts; ++attempt) {
            std::string marker(slot_marker_base);
            if (attempt > 0) {
                marker += ':';
                marker += std::to_string(attempt);
                std::free(marker_node->sval);
                marker_node->sval = copy_string(marker);
            }
            auto deparsed = deparse_statement(tree, 0);
            if (!deparsed.ok()) return "cannot deparse it: " + deparsed.error().message;
            const std::string& text = deparsed.value();
            const std::string quoted = "'" + marker + "'";
            if (count_occurrences(text, quoted) != 1 || count_occurrences(text, marker) != 1) continue;
            // Only send what reads back as the very tree we built.
            auto reread = parse(text);
            if (!reread.ok() || reread.value().statement_count() != 1 ||
                !same_statement(reread.value(), 0, tree, 0)) {
                return "its rewritten text would not mean the same";
            }
            const std::size_t at = text.find(quoted);
            result.sql_before_slot = text.substr(0, at) + "(";
            result.sql_after_slot = ")" + text.substr(at + quoted.size());
            auto filled = parse(result.sql_before_slot + "true" + result.sql_after_slot);
            if (!filled.ok() || filled.value().statement_count() != 1) return "the slot does not sit in a WHERE";
            return std::nullopt;
        }
        return "the statement spells staleguard's slot marker";
    }

    const rules::RuleSet& rules_;
    const SchemaResolver& resolve_;
};

}  // namespace

KeyedWrite analyse_keyed_write(std::string_view sql, const rules::RuleSet& rules, const SchemaResolver& resolve) {
    auto parsed = parse(sql);
    if (!parsed.ok()) return not_keyed("does not parse: " + parsed.error().message);
    ParseTree& tree = parsed.value();
    if (tree.statement_count() != 1) {
        return not_keyed(tree.statement_count() == 0 ? "empty statement" : "more than one statement");
    }
    return KeyedWriteAnalyser(rules, resolve).analyse(tree);
}

}  // namespace staleguard::parser
