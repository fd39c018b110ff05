// What each statement of a query string writes and which session settings it changes.
#include "parser/statement_analysis.hpp"

#include "parser/tree_nodes.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <string>

#include "parser/ascii_case.hpp"
#include "parser/protobuf_walk.hpp"
#include "rules/identifier.hpp"

namespace staleguard::parser {
namespace {

using Node = PgQuery__Node;
using tree::collect_conjuncts;
using tree::column_path_of;
using tree::is_operator;
using tree::literal_of;
using tree::string_of;

// The single place where a generic protobuf-c message becomes a typed node.
Node* as_node(ProtobufCMessage& message) {
    return message.descriptor == &pg_query__node__descriptor ? reinterpret_cast<Node*>(&message) : nullptr;
}

void add_equality(const Node* column_side, const Node* value_side, std::vector<EqualityConstraint>& out) {
    auto path = column_path_of(column_side);
    auto value = literal_of(value_side);
    if (path && value) out.push_back({std::move(*path), {std::move(*value)}});
}

// `column = literal` (either way round), `(a, b) = (1, 2)` and `column IN (literals)`.
std::vector<EqualityConstraint> equalities_of(const Node* where) {
    std::vector<const Node*> conjuncts;
    collect_conjuncts(where, conjuncts, 0);
    std::vector<EqualityConstraint> equalities;
    for (const Node* conjunct : conjuncts) {
        if (conjunct->node_case != PG_QUERY__NODE__NODE_A_EXPR) continue;
        const PgQuery__AExpr& expression = *conjunct->a_expr;
        if (!is_operator(expression, "=")) continue;
        const Node* left = expression.lexpr;
        const Node* right = expression.rexpr;
        if (left == nullptr || right == nullptr) continue;
        if (expression.kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP) {
            if (left->node_case == PG_QUERY__NODE__NODE_ROW_EXPR && right->node_case == PG_QUERY__NODE__NODE_ROW_EXPR &&
                left->row_expr->n_args == right->row_expr->n_args) {
                for (std::size_t i = 0; i < left->row_expr->n_args; ++i) {
                    add_equality(left->row_expr->args[i], right->row_expr->args[i], equalities);
                }
            } else if (left->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
                add_equality(left, right, equalities);
            } else {
                add_equality(right, left, equalities);
            }
        } else if (expression.kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN &&
                   right->node_case == PG_QUERY__NODE__NODE_LIST) {
            auto path = column_path_of(left);
            if (!path) continue;
            EqualityConstraint constraint{std::move(*path), {}};
            bool all_literal = true;
            for (std::size_t i = 0; i < right->list->n_items && all_literal; ++i) {
                auto value = literal_of(right->list->items[i]);
                if (value) {
                    constraint.values.push_back(std::move(*value));
                } else {
                    all_literal = false;
                }
            }
            if (all_literal && !constraint.values.empty()) equalities.push_back(std::move(constraint));
        }
    }
    return equalities;
}

TargetRelation target_of(const PgQuery__RangeVar* relation) {
    TargetRelation target;
    if (relation == nullptr) return target;
    target.schema = relation->schemaname;
    target.name = relation->relname;
    if (relation->alias != nullptr) target.alias = relation->alias->aliasname;
    target.only = !relation->inh;
    return target;
}

std::vector<Assignment> assignments_of(std::size_t count, Node* const* items) {
    std::vector<Assignment> assignments;
    for (std::size_t i = 0; i < count; ++i) {
        if (items[i] == nullptr || items[i]->node_case != PG_QUERY__NODE__NODE_RES_TARGET) continue;
        const PgQuery__ResTarget& target = *items[i]->res_target;
        Assignment assignment{target.name, Assignment::Source::Expression};
        if (target.val != nullptr) {
            if (target.val->node_case == PG_QUERY__NODE__NODE_SET_TO_DEFAULT) {
                assignment.source = Assignment::Source::Default;
            } else if (target.val->node_case == PG_QUERY__NODE__NODE_MULTI_ASSIGN_REF) {
                const Node* source = target.val->multi_assign_ref->source;
                assignment.source = source != nullptr && source->node_case == PG_QUERY__NODE__NODE_ROW_EXPR
                                        ? Assignment::Source::MultiRow
                                        : Assignment::Source::MultiSubSelect;
            }
        }
        assignments.push_back(std::move(assignment));
    }
    return assignments;
}

// PostgreSQL shows a list setting such as search_path with each name quoted as an identifier
// when it came as a string, and numbers as written.
std::string list_setting_value(std::size_t count, Node* const* args) {
    std::string value;
    for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) value += ", ";
        const auto literal = literal_of(args[i]);
        if (!literal) continue;
        const bool is_string = args[i]->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                               args[i]->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL;
        value += is_string ? rules::quote_identifier(literal->text) : literal->text;
    }
    return value;
}

constexpr std::string_view search_path_setting = "search_path";
constexpr std::string_view checks_setting = "staleguard.enabled";

// EXPLAIN (ANALYZE), EXPLAIN ANALYZE, EXPLAIN (ANALYZE true): the options that run the statement.
bool explain_analyzes(const PgQuery__ExplainStmt& explain) {
    for (std::size_t i = 0; i < explain.n_options; ++i) {
        const Node* option = explain.options[i];
        if (option == nullptr || option->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
        const PgQuery__DefElem& element = *option->def_elem;
        if (std::string_view(element.defname) != "analyze") continue;
        if (element.arg == nullptr) return true;
        // ANALYZE false, off, 0 plans only; anything else PostgreSQL takes as true or refuses.
        if (element.arg->node_case == PG_QUERY__NODE__NODE_STRING)
            return parse_boolean_setting(element.arg->string->sval).value_or(true);
        if (element.arg->node_case == PG_QUERY__NODE__NODE_INTEGER) return element.arg->integer->ival != 0;
        if (element.arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN) return element.arg->boolean->boolval;
        return true;
    }
    return false;
}

class Analyser {
public:
    Analyser(std::string_view statement_text, StatementInfo& info) : statement_text_(statement_text), info_(info) {}

    void analyse_root(Node* statement) {
        if (statement == nullptr) return;
        visit(statement->base, Context{true, false, true, 0});
    }

private:
    struct Context {
        bool counts_rows;  // a write here is the one CommandComplete counts
        bool in_cte;
        bool executes;     // runs now (not a view, cursor or prepared body)
        int depth;

        Context child() const { return Context{false, in_cte, executes, depth + 1}; }
    };

    void visit(ProtobufCMessage& message, Context context) {
        if (context.depth > max_tree_depth) {
            info_.unsupported = "statement nested too deeply";
            return;
        }
        Node* node = as_node(message);
        if (node == nullptr) {
            descend(message, context.child());
            return;
        }
        switch (node->node_case) {
            case PG_QUERY__NODE__NODE_UPDATE_STMT:
                record_update(*node->update_stmt, context);
                break;
            case PG_QUERY__NODE__NODE_DELETE_STMT:
                record_delete(*node->delete_stmt, context);
                break;
            case PG_QUERY__NODE__NODE_INSERT_STMT:
                record_insert(*node->insert_stmt, context);
                break;
            case PG_QUERY__NODE__NODE_MERGE_STMT:
                record_merge(*node->merge_stmt, context);
                break;
            case PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR: {
                Context inner = context.child();
                inner.in_cte = true;
                descend(message, inner);
                return;
            }
            case PG_QUERY__NODE__NODE_PREPARE_STMT: {
                info_.prepared_name = node->prepare_stmt->name;
                if (node->prepare_stmt->query != nullptr) {
                    // The prepared statement runs at EXECUTE, whose CommandComplete counts it.
                    visit(node->prepare_stmt->query->base, Context{true, false, false, context.depth + 1});
                }
                return;
            }
            case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
                // Plain EXPLAIN only plans its statement; EXPLAIN ANALYZE runs it.
                Context inner = context.child();
                inner.executes = context.executes && explain_analyzes(*node->explain_stmt);
                descend(message, inner);
                return;
            }
            case PG_QUERY__NODE__NODE_VIEW_STMT:
            case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT: {
                Context inner = context.child();
                inner.executes = false;
                descend(message, inner);
                return;
            }
            case PG_QUERY__NODE__NODE_DO_STMT:
            case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
            case PG_QUERY__NODE__NODE_RULE_STMT:
                // Their bodies run later or elsewhere, out of our sight.
                info_.opaque_texts.emplace_back(statement_text_);
                return;
            case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
                if (context.depth == 0) record_variable_set(*node->variable_set_stmt);
                return;
            case PG_QUERY__NODE__NODE_DISCARD_STMT:
                if (context.depth == 0 && node->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) {
                    info_.effects.push_back({SessionEffect::Kind::ResetAll, {}, false});
                }
                return;
            case PG_QUERY__NODE__NODE_FUNC_CALL:
                if (context.executes) record_set_config(*node->func_call);
                break;
            default:
                break;
        }
        descend(message, context.child());
    }

    void descend(ProtobufCMessage& message, Context context) {
        for_each_child_message(message, [this, context](ProtobufCMessage& child) { visit(child, context); });
    }

    WriteInfo new_write(WriteKind kind, const PgQuery__RangeVar* relation, Context context) const {
        WriteInfo write;
        write.kind = kind;
        write.target = target_of(relation);
        write.in_cte = context.in_cte;
        write.counts_rows = context.counts_rows;
        write.top_level = context.depth == 0;
        write.executes = context.executes;
        return write;
    }

    void record_update(PgQuery__UpdateStmt& statement, Context context) {
        WriteInfo write = new_write(WriteKind::Update, statement.relation, context);
        write.assignments = assignments_of(statement.n_target_list, statement.target_list);
        write.assignment_list = {&statement.n_target_list, &statement.target_list};
        describe_where(write, statement.where_clause);
        write.has_returning = statement.n_returning_list > 0;
        write.has_from = statement.n_from_clause > 0;
        info_.writes.push_back(std::move(write));
    }

    void record_delete(const PgQuery__DeleteStmt& statement, Context context) {
        WriteInfo write = new_write(WriteKind::Delete, statement.relation, context);
        describe_where(write, statement.where_clause);
        write.has_returning = statement.n_returning_list > 0;
        write.has_from = statement.n_using_clause > 0;
        info_.writes.push_back(std::move(write));
    }

    static void describe_where(WriteInfo& write, const Node* where) {
        write.has_where = where != nullptr;
        write.where_current_of = where != nullptr && where->node_case == PG_QUERY__NODE__NODE_CURRENT_OF_EXPR;
        write.equalities = equalities_of(where);
    }

    void record_insert(PgQuery__InsertStmt& statement, Context context) {
        WriteInfo insert = new_write(WriteKind::Insert, statement.relation, context);
        insert.has_returning = statement.n_returning_list > 0;
        info_.writes.push_back(insert);
        PgQuery__OnConflictClause* conflict = statement.on_conflict_clause;
        if (conflict == nullptr || conflict->action != PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE) return;
        WriteInfo update = new_write(WriteKind::InsertConflictUpdate, statement.relation, context);
        update.counts_rows = false;
        update.assignments = assignments_of(conflict->n_target_list, conflict->target_list);
        update.assignment_list = {&conflict->n_target_list, &conflict->target_list};
        update.has_where = conflict->where_clause != nullptr;
        update.has_returning = insert.has_returning;
        info_.writes.push_back(std::move(update));
    }

    void record_merge(PgQuery__MergeStmt& statement, Context context) {
        for (std::size_t i = 0; i < statement.n_merge_when_clauses; ++i) {
            Node* clause_node = statement.merge_when_clauses[i];
            if (clause_node == nullptr || clause_node->node_case != PG_QUERY__NODE__NODE_MERGE_WHEN_CLAUSE) continue;
            PgQuery__MergeWhenClause& clause = *clause_node->merge_when_clause;
            WriteKind kind;
            switch (clause.command_type) {
                case PG_QUERY__CMD_TYPE__CMD_UPDATE: kind = WriteKind::MergeUpdate; break;
                case PG_QUERY__CMD_TYPE__CMD_DELETE: kind = WriteKind::MergeDelete; break;
                case PG_QUERY__CMD_TYPE__CMD_INSERT: kind = WriteKind::Insert; break;
                default: continue;
            }
            WriteInfo write = new_write(kind, statement.relation, context);
            write.counts_rows = false;
            write.has_where = clause.condition != nullptr;
            write.has_from = true;
            if (kind == WriteKind::MergeUpdate) {
                write.assignments = assignments_of(clause.n_target_list, clause.target_list);
                write.assignment_list = {&clause.n_target_list, &clause.target_list};
            }
            info_.writes.push_back(std::move(write));
        }
    }

    void record_variable_set(const PgQuery__VariableSetStmt& statement) {
        using Kind = SessionEffect::Kind;
        if (statement.kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
            info_.effects.push_back({Kind::ResetAll, {}, false});
            return;
        }
        const std::string name = ascii_lowered(statement.name);
        const bool resets = statement.kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                            statement.kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT;
        const bool sets = statement.kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE;
        if (name == search_path_setting) {
            if (resets) info_.effects.push_back({Kind::ResetSearchPath, {}, bool(statement.is_local)});
            if (sets) {
                info_.effects.push_back({Kind::SetSearchPath, list_setting_value(statement.n_args, statement.args),
                                         bool(statement.is_local)});
            }
        } else if (name == checks_setting) {
            if (resets) info_.effects.push_back({Kind::ResetChecksEnabled, {}, bool(statement.is_local)});
            if (sets) {
                const auto literal = statement.n_args == 1 ? literal_of(statement.args[0]) : std::nullopt;
                record_checks_value(literal ? std::optional<std::string>(literal->text) : std::nullopt,
                                    statement.is_local);
            }
        }
    }

    void record_checks_value(const std::optional<std::string>& text, bool local) {
        const auto enabled = text ? parse_boolean_setting(*text) : std::nullopt;
        if (!enabled) {
            info_.setting_error = "parameter \"staleguard.enabled\" requires a Boolean value" +
                                  (text ? ": \"" + rules::printable(*text) + "\"" : std::string());
            return;
        }
        info_.effects.push_back({SessionEffect::Kind::SetChecksEnabled, *enabled ? "on" : "off", local});
    }

    // set_config('search_path', '<literal>', <bool>) changes the path as SET would.
    void record_set_config(const PgQuery__FuncCall& call) {
        const std::size_t parts = call.n_funcname;
        if (parts == 0 || parts > 2 || string_of(call.funcname[parts - 1]) != "set_config") return;
        if (parts == 2 && string_of(call.funcname[0]) != "pg_catalog") return;
        using Kind = SessionEffect::Kind;
        const auto name = call.n_args == 3 ? literal_of(call.args[0]) : std::nullopt;
        if (!name || name->parameter != 0) {
            info_.effects.push_back({Kind::SearchPathUnknown, {}, false});
            return;
        }
        const std::string setting = ascii_lowered(name->text);
        if (setting != search_path_setting && setting != checks_setting) return;
        const auto value = literal_of(call.args[1]);
        const auto local_text = literal_of(call.args[2]);
        // Two plain bools rather than optional<bool>: gcc -O2 reports a false maybe-uninitialized.
        bool local_known = false;
        bool local = false;
        if (local_text && local_text->parameter == 0) {
            if (auto parsed = parse_boolean_setting(local_text->text)) {
                local_known = true;
                local = *parsed;
            }
        }
        const bool value_known = value && value->parameter == 0;
        if (setting == search_path_setting) {
            if (value_known && local_known) {
                info_.effects.push_back({Kind::SetSearchPath, value->text, local});
            } else {
                info_.effects.push_back({Kind::SearchPathUnknown, {}, false});
            }
            return;
        }
        if (!value_known || !local_known) {
            info_.setting_error = "staleguard.enabled can only be set to a literal value";
            return;
        }
        record_checks_value(value->text, local);
    }

    std::string_view statement_text_;
    StatementInfo& info_;
};

}  // namespace

std::vector<std::string> WriteInfo::assigned_columns() const {
    std::vector<std::string> columns;
    for (const Assignment& assignment : assignments) {
        if (std::find(columns.begin(), columns.end(), assignment.column) == columns.end()) {
            columns.push_back(assignment.column);
        }
    }
    return columns;
}

std::optional<bool> parse_boolean_setting(std::string_view text) {
    const std::string value = ascii_lowered(text);
    const auto is_prefix_of = [&value](std::string_view word, std::size_t minimum) {
        return value.size() >= minimum && value.size() <= word.size() && word.substr(0, value.size()) == value;
    };
    if (is_prefix_of("true", 1) || is_prefix_of("yes", 1) || value == "1") return true;
    if (is_prefix_of("false", 1) || is_prefix_of("no", 1) || value == "0") return false;
    // "o" alone is ambiguous between on and off, as in PostgreSQL.
    if (is_prefix_of("on", 2)) return true;
    if (is_prefix_of("off", 2)) return false;
    return {};
}

std::vector<StatementInfo> analyse(ParseTree& tree, std::string_view sql) {
    const std::vector<StatementSlice> slices = statement_slices(tree, sql.size());
    std::vector<StatementInfo> statements(slices.size());
    for (std::size_t i = 0; i < slices.size(); ++i) {
        StatementInfo& info = statements[i];
        info.slice = slices[i];
        Analyser analyser(sql.substr(slices[i].location, slices[i].length), info);
        analyser.analyse_root(tree.get()->stmts[i]->stmt);
    }
    return statements;
}

}  // namespace staleguard::parser
