// Track mode's read side: appends each protected table's key and version, as text, to what a SELECT or RETURNING yields.
#include "parser/read_tracking.hpp"

#include "parser/tree_nodes.hpp"

#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <utility>

#include "parser/pg_query_handle.hpp"
#include "parser/protobuf_walk.hpp"

namespace staleguard::parser {
namespace {

constexpr std::string_view returning_keyword = " RETURNING ";

using Node = PgQuery__Node;
using tree::allocate_bytes;
using tree::allocate;
using tree::copy_string;
using tree::new_node;
using tree::make_string;
using tree::append_item;
using tree::string_of;

// Bare names resolve here when the caller gives no resolver (as in the rewriter).

// PostgreSQL 15's built-in aggregates (pg_aggregate) plus any_value (16). The parser cannot tell
// an aggregate from an ordinary function by its call alone; these names are what it would be.
constexpr std::string_view aggregate_names[] = {
    "any_value", "array_agg", "avg", "bit_and", "bit_or", "bit_xor", "bool_and", "bool_or", "corr", "count",
    "covar_pop", "covar_samp", "cume_dist", "dense_rank", "every", "json_agg", "json_object_agg", "jsonb_agg",
    "jsonb_object_agg", "max", "min", "mode", "percent_rank", "percentile_cont", "percentile_disc",
    "range_agg", "range_intersect_agg", "rank", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
    "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "stddev", "stddev_pop", "stddev_samp",
    "string_agg", "sum", "var_pop", "var_samp", "variance", "xmlagg",
};

Node** make_string_list(const std::vector<std::string>& parts) {
    auto** list = static_cast<Node**>(allocate_bytes(sizeof(Node*) * std::max<std::size_t>(parts.size(), 1)));
    for (std::size_t i = 0; i < parts.size(); ++i) list[i] = make_string(parts[i]);
    return list;
}

Node* make_target(Node* value, std::string_view name) {
    auto* target = allocate(pg_query__res_target__init);
    target->name = copy_string(name);
    target->val = value;
    target->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_RES_TARGET);
    node->res_target = target;
    return node;
}

// `pg_catalog.extract('epoch', <column>)`: a timestamp version as the one text that the session's
// TimeZone and DateStyle do not change (see version_text_sql in track_planner.hpp).
Node* make_epoch_of(Node* column) {
    auto* text = allocate(pg_query__string__init);
    text->sval = copy_string("epoch");
    auto* constant = allocate(pg_query__a__const__init);
    constant->val_case = PG_QUERY__A__CONST__VAL_SVAL;
    constant->sval = text;
    constant->location = -1;
    Node* field = new_node(PG_QUERY__NODE__NODE_A_CONST);
    field->a_const = constant;
    auto* call = allocate(pg_query__func_call__init);
    call->n_funcname = 2;
    call->funcname = make_string_list({"pg_catalog", "extract"});
    call->n_args = 2;
    call->args = static_cast<Node**>(allocate_bytes(sizeof(Node*) * 2));
    call->args[0] = field;
    call->args[1] = column;
    call->funcformat = PG_QUERY__COERCION_FORM__COERCE_EXPLICIT_CALL;
    call->location = -1;
    Node* node = new_node(PG_QUERY__NODE__NODE_FUNC_CALL);
    node->func_call = call;
    return node;
}

// `<qualifier...>.<column>::text AS <name>` (without the cast for a column that is text already;
// a timestamp version through pg_catalog.extract('epoch', ...)), shaped as PostgreSQL's parser
// shapes it.
Node* make_hidden_target(const std::vector<std::string>& qualifier, std::string_view column, std::string_view name,
                         bool cast_to_text, bool as_epoch = false) {
    std::vector<std::string> path = qualifier;
    path.emplace_back(column);
    auto* reference = allocate(pg_query__column_ref__init);
    reference->n_fields = path.size();
    reference->fields = make_string_list(path);
    reference->location = -1;
    Node* column_node = new_node(PG_QUERY__NODE__NODE_COLUMN_REF);
    column_node->column_ref = reference;
    if (!cast_to_text) return make_target(column_node, name);
    if (as_epoch) column_node = make_epoch_of(column_node);

    auto* type = allocate(pg_query__type_name__init);
    type->n_names = 1;
    type->names = make_string_list({"text"});
    type->typemod = -1;
    type->location = -1;
    auto* cast = allocate(pg_query__type_cast__init);
    cast->arg = column_node;
    cast->type_name = type;
    cast->location = -1;
    Node* cast_node = new_node(PG_QUERY__NODE__NODE_TYPE_CAST);
    cast_node->type_cast = cast;
    return make_target(cast_node, name);
}

// The single place where a generic protobuf-c message becomes a typed node.
Node* as_node(ProtobufCMessage& message) {
    return message.descriptor == &pg_query__node__descriptor ? reinterpret_cast<Node*>(&message) : nullptr;
}

bool is_aggregate_name(std::string_view name) {
    return std::find(std::begin(aggregate_names), std::end(aggregate_names), name) != std::end(aggregate_names);
}

// What in an expression makes a query aggregate or windowed: "aggregate", "window function" or
// nothing. Sub-SELECTs are not entered: their aggregates are their own (an aggregate there over
// only outer columns is the one case missed, and PostgreSQL then refuses the tracked query).
std::optional<std::string> aggregate_in(ProtobufCMessage& message, int depth) {
    if (depth > max_tree_depth) return "statement nested too deeply";
    if (Node* node = as_node(message)) {
        switch (node->node_case) {
            case PG_QUERY__NODE__NODE_SUB_LINK:
                return std::nullopt;
            case PG_QUERY__NODE__NODE_GROUPING_FUNC:
                return "aggregate";
            case PG_QUERY__NODE__NODE_FUNC_CALL: {
                const PgQuery__FuncCall& call = *node->func_call;
                if (call.over != nullptr) return "window function";
                const auto name = call.n_funcname > 0 ? string_of(call.funcname[call.n_funcname - 1]) : std::nullopt;
                if (call.agg_star || call.agg_distinct || call.n_agg_order > 0 || call.agg_filter != nullptr ||
                    call.agg_within_group || (name && is_aggregate_name(*name))) {
                    return "aggregate";
                }
                break;
            }
            default:
                break;
        }
    }
    std::optional<std::string> found;
    for_each_child_message(message, [&found, depth](ProtobufCMessage& child) {
        if (!found) found = aggregate_in(child, depth + 1);
    });
    return found;
}

std::optional<std::string> aggregate_in_list(std::size_t count, Node** items) {
    for (std::size_t i = 0; i < count; ++i) {
        if (items[i] == nullptr) continue;
        if (auto found = aggregate_in(items[i]->base, 0)) return found;
    }
    return std::nullopt;
}

bool has_hidden_column(std::size_t count, Node* const* items) {
    for (std::size_t i = 0; i < count; ++i) {
        const Node* item = items[i];
        if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_RES_TARGET) continue;
        if (std::string_view(item->res_target->name).substr(0, hidden_column_prefix.size()) == hidden_column_prefix) {
            return true;
        }
    }
    return false;
}

// A relation as the statement names it, and how its columns are reached from outside.
struct Candidate {
    const rules::TableRule* rule = nullptr;
    std::vector<std::string> qualifier;  // {alias}, {schema, name} or {name}
    // Through a subquery in FROM: the names of the hidden columns it now yields for this table
    // (key columns, then the version), already text. Empty for a table named directly.
    std::vector<std::string> through_subquery;
};

// Whether a column reference names the whole row of `alias` (`s`, `s.*`).
bool names_whole_row_of(const PgQuery__ColumnRef& reference, std::string_view alias) {
    if (reference.n_fields == 0) return false;
    const auto first = string_of(reference.fields[0]);
    if (!first || *first != alias) return false;
    return reference.n_fields == 1 ||
           (reference.fields[1] != nullptr && reference.fields[1]->node_case == PG_QUERY__NODE__NODE_A_STAR);
}

// Whether anything under `message` but `skip` names the whole row of `alias`.
bool names_whole_row(ProtobufCMessage& message, std::string_view alias, const ProtobufCMessage* skip, int depth) {
    if (depth > max_tree_depth) return true;
    if (&message == skip) return false;
    if (const Node* node = as_node(message); node != nullptr && node->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
        return names_whole_row_of(*node->column_ref, alias);
    }
    bool found = false;
    for_each_child_message(message, [&found, alias, skip, depth](ProtobufCMessage& child) {
        if (!found) found = names_whole_row(child, alias, skip, depth + 1);
    });
    return found;
}

// A bare `*` in a target list: every column of every relation of that query level.
bool has_bare_star(std::size_t count, Node* const* items) {
    for (std::size_t i = 0; i < count; ++i) {
        const Node* item = items[i];
        if (item == nullptr || item->node_case != PG_QUERY__NODE__NODE_RES_TARGET) continue;
        const Node* value = item->res_target->val;
        if (value == nullptr || value->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) continue;
        const PgQuery__ColumnRef& reference = *value->column_ref;
        if (reference.n_fields == 1 && reference.fields[0] != nullptr &&
            reference.fields[0]->node_case == PG_QUERY__NODE__NODE_A_STAR)
            return true;
    }
    return false;
}

// Whether a column reference may name something of the row of a table reached as `qualifier`
// other than its key and version columns: `*`, `q.*`, the whole row, or another column of it. An
// unqualified name that is not the key's or the version's counts, as it may be this table's.
bool names_row_data(const PgQuery__ColumnRef& reference, const std::vector<std::string>& qualifier,
                    const rules::TableRule& rule) {
    if (reference.n_fields == 0) return true;
    std::vector<std::string_view> prefix;
    for (std::size_t i = 0; i + 1 < reference.n_fields; ++i) {
        const auto part = string_of(reference.fields[i]);
        if (!part) return true;  // not a plain name: cannot tell
        prefix.push_back(*part);
    }
    if (!prefix.empty()) {
        // `a.col`, `s.t.col`: the prefix must be the tail of how the table is reached. A longer
        // prefix (`public.acc.owner` over `FROM acc`) counts when it ends with the same name:
        // what cannot be told apart counts as data.
        const std::size_t compared = std::min(prefix.size(), qualifier.size());
        if (!std::equal(prefix.end() - static_cast<std::ptrdiff_t>(compared), prefix.end(),
                        qualifier.end() - static_cast<std::ptrdiff_t>(compared)))
            return false;
    }
    const Node* last = reference.fields[reference.n_fields - 1];
    if (last != nullptr && last->node_case == PG_QUERY__NODE__NODE_A_STAR) return true;
    const auto column = string_of(last);
    if (!column) return true;
    if (*column == rule.version_column) return false;
    return std::find(rule.key.begin(), rule.key.end(), *column) == rule.key.end();
}

// Whether anything in a SELECT looks at a protected row's data (not only its key or version):
// `SELECT 1 FROM t WHERE id = 1` or `SELECT id FROM t WHERE id = 1 FOR UPDATE` shows the client
// nothing it could write back, so learning the version they carry would let a later write of
// data read earlier pass as current (Django's select_on_save probe, lock-then-save).
bool reads_row_data(ProtobufCMessage& message, const std::vector<std::string>& qualifier,
                    const rules::TableRule& rule, int depth) {
    if (depth > max_tree_depth) return true;
    if (const Node* node = as_node(message); node != nullptr && node->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
        return names_row_data(*node->column_ref, qualifier, rule);
    }
    bool found = false;
    for_each_child_message(message, [&](ProtobufCMessage& child) {
        if (!found) found = reads_row_data(child, qualifier, rule, depth + 1);
    });
    return found;
}

// The candidates named directly in `select` whose data it does not look at: nothing to learn.
// (Those reached through a subquery were judged in it.)
void drop_tables_whose_data_is_not_read(PgQuery__SelectStmt& select, std::vector<Candidate>& candidates) {
    std::erase_if(candidates, [&select](const Candidate& candidate) {
        return candidate.through_subquery.empty() && !reads_row_data(select.base, candidate.qualifier, *candidate.rule, 0);
    });
}

// A SELECT whose result columns appended at the end of its list could change: why, or nothing.
std::optional<std::string> untrackable_select(const PgQuery__SelectStmt& select) {
    if (select.op != PG_QUERY__SET_OPERATION__SETOP_NONE) return "set operation (UNION/INTERSECT/EXCEPT)";
    if (select.n_values_lists > 0) return "VALUES";
    if (select.into_clause != nullptr) return "SELECT INTO";
    if (select.n_distinct_clause > 0) {
        const Node* first = select.distinct_clause[0];
        const bool plain = first == nullptr || first->node_case == PG_QUERY__NODE__NODE__NOT_SET;
        return plain ? "DISTINCT" : "DISTINCT ON";
    }
    if (select.n_group_clause > 0) return "GROUP BY";
    if (select.having_clause != nullptr) return "HAVING";
    if (select.n_window_clause > 0) return "window function";
    if (auto found = aggregate_in_list(select.n_target_list, select.target_list)) return found;
    if (auto found = aggregate_in_list(select.n_sort_clause, select.sort_clause)) return found;
    if (has_hidden_column(select.n_target_list, select.target_list)) return "already tracked";
    return std::nullopt;
}

class Planner {
public:
    Planner(const rules::RuleSet& rules, const SchemaResolver& resolve) : rules_(rules), resolve_(resolve) {}

    ReadTracking plan_write(PgQuery__RawStmt& raw, ParseTree& tree) {
        Node* root = raw.stmt;
        if (root == nullptr) return not_tracked("empty statement");
        if (root->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT) {
            PgQuery__UpdateStmt& update = *root->update_stmt;
            return plan_returning(update.relation, update.n_returning_list, update.returning_list, tree, true);
        }
        if (root->node_case == PG_QUERY__NODE__NODE_DELETE_STMT) {
            PgQuery__DeleteStmt& remove = *root->delete_stmt;
            ReadTracking result =
                plan_returning(remove.relation, remove.n_returning_list, remove.returning_list, tree, true);
            result.rows_deleted = true;
            return result;
        }
        if (root->node_case == PG_QUERY__NODE__NODE_INSERT_STMT) {
            PgQuery__InsertStmt& insert = *root->insert_stmt;
            // A plain INSERT is left as written: a RETURNING needs the SELECT privilege (and, under
            // row-level security, SELECT policies) that the INSERT alone does not.
            if (insert.n_returning_list == 0 && !upserts(insert)) return not_tracked("INSERT without RETURNING");
            return plan_returning(insert.relation, insert.n_returning_list, insert.returning_list, tree, true);
        }
        return not_tracked("not an UPDATE, DELETE or INSERT");
    }

    ReadTracking plan(PgQuery__RawStmt& raw, ParseTree& tree) {
        Node* root = raw.stmt;
        if (root == nullptr) return not_tracked("empty statement");
        switch (root->node_case) {
            case PG_QUERY__NODE__NODE_SELECT_STMT:
                return plan_select(*root->select_stmt, tree);
            case PG_QUERY__NODE__NODE_UPDATE_STMT: {
                PgQuery__UpdateStmt& update = *root->update_stmt;
                return plan_returning(update.relation, update.n_returning_list, update.returning_list, tree);
            }
            case PG_QUERY__NODE__NODE_INSERT_STMT: {
                PgQuery__InsertStmt& insert = *root->insert_stmt;
                return plan_returning(insert.relation, insert.n_returning_list, insert.returning_list, tree);
            }
            case PG_QUERY__NODE__NODE_DELETE_STMT:
                return not_tracked("DELETE: its rows are gone");
            case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
                return not_tracked("DECLARE ... CURSOR");
            case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
                return not_tracked("EXPLAIN");
            default:
                return not_tracked("not a SELECT, UPDATE ... RETURNING or INSERT ... RETURNING");
        }
    }

private:
    // An upsert's DO UPDATE may rewrite rows the session has read: their old versions must not
    // stay in its ReadSet.
    static bool upserts(const PgQuery__InsertStmt& insert) {
        return insert.on_conflict_clause != nullptr &&
               insert.on_conflict_clause->action == PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE;
    }

    static ReadTracking not_tracked(std::string reason) {
        ReadTracking result;
        result.reason = std::move(reason);
        return result;
    }

    // The track-mode rule protecting this relation, when it is a table and not a CTE of the
    // same name.
    const rules::TableRule* rule_for(const PgQuery__RangeVar& relation) const {
        const std::string_view schema = relation.schemaname;
        const std::string name = relation.relname;
        const rules::TableRule* rule = nullptr;
        if (!schema.empty()) {
            rule = rules_.find(rules::QualifiedName{std::string(schema), name});
        } else {
            if (!rules_.protects_name(name)) return nullptr;
            if (std::find(cte_names_.begin(), cte_names_.end(), name) != cte_names_.end()) return nullptr;
            const std::optional<std::string> resolved =
                resolve_bare_name(resolve_, name);
            if (!resolved) return nullptr;
            rule = rules_.find(rules::QualifiedName{*resolved, name});
        }
        return rule != nullptr && rule->mode == rules::Mode::Track ? rule : nullptr;
    }

    static std::vector<std::string> qualifier_of(const PgQuery__RangeVar& relation) {
        if (relation.alias != nullptr && relation.alias->aliasname[0] != '\0') return {relation.alias->aliasname};
        if (relation.schemaname[0] != '\0') return {relation.schemaname, relation.relname};
        return {relation.relname};
    }

    // Protected tables whose columns the target list of `owner` can name: plain relations, both
    // sides of joins, and the tables of a subquery in FROM whose own list can carry their hidden
    // columns out (they are appended there, and named here through the subquery's alias). A join
    // with an alias of its own hides its members' names and is not entered. Nor is a table or
    // subquery under column aliases (`accounts a(i, o)`: they rename columns by position), nor a
    // subquery whose whole rows `owner` reaches (`SELECT *`, `s.*`, `s`, anywhere outside the
    // subquery itself), which would then show the extra columns, nor one whose result they could
    // change (DISTINCT, aggregates, ...).
    void collect_from(Node* item, PgQuery__SelectStmt& owner, std::vector<Candidate>& out, int depth) {
        if (item == nullptr || depth > max_tree_depth) return;
        switch (item->node_case) {
            case PG_QUERY__NODE__NODE_RANGE_VAR: {
                const PgQuery__RangeVar& relation = *item->range_var;
                if (relation.alias != nullptr && relation.alias->n_colnames > 0) return;
                if (PgQuery__CommonTableExpr* cte = cte_named_by(owner, relation)) {
                    collect_through_cte(*cte, relation, owner, out, depth);
                    return;
                }
                if (const rules::TableRule* rule = rule_for(relation)) {
                    out.push_back(Candidate{rule, qualifier_of(relation), {}});
                }
                return;
            }
            case PG_QUERY__NODE__NODE_JOIN_EXPR: {
                PgQuery__JoinExpr& join = *item->join_expr;
                if (join.alias != nullptr) return;
                collect_from(join.larg, owner, out, depth + 1);
                collect_from(join.rarg, owner, out, depth + 1);
                return;
            }
            case PG_QUERY__NODE__NODE_RANGE_SUBSELECT:
                collect_through_subquery(*item->range_subselect, owner, out, depth);
                return;
            default:
                return;
        }
    }

    void collect_through_subquery(PgQuery__RangeSubselect& range, PgQuery__SelectStmt& owner,
                                  std::vector<Candidate>& out, int depth) {
        if (range.alias == nullptr || range.alias->aliasname == nullptr || range.alias->aliasname[0] == '\0' ||
            range.alias->n_colnames > 0)
            return;
        if (range.subquery == nullptr || range.subquery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return;
        collect_through(*range.subquery, range.alias->aliasname, owner, out, depth);
    }

    // A CTE that `owner` itself declares and that `relation` names (no schema: a qualified name
    // is a table).
    static PgQuery__CommonTableExpr* cte_named_by(PgQuery__SelectStmt& owner, const PgQuery__RangeVar& relation) {
        if (owner.with_clause == nullptr || relation.schemaname[0] != '\0') return nullptr;
        for (std::size_t i = 0; i < owner.with_clause->n_ctes; ++i) {
            Node* cte = owner.with_clause->ctes[i];
            if (cte != nullptr && cte->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
                std::string_view(cte->common_table_expr->ctename) == relation.relname)
                return cte->common_table_expr;
        }
        return nullptr;
    }

    // A CTE's tables are carried out like a subquery's, when the CTE is a plain SELECT that the
    // statement names only here: a second reference (a self-join, `IN (SELECT * FROM x)`, another
    // CTE) could count its columns. Not under WITH RECURSIVE, nor with column aliases.
    void collect_through_cte(PgQuery__CommonTableExpr& cte, const PgQuery__RangeVar& relation,
                             PgQuery__SelectStmt& owner, std::vector<Candidate>& out, int depth) {
        if (owner.with_clause->recursive || cte.n_aliascolnames > 0) return;
        if (cte.ctequery == nullptr || cte.ctequery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) return;
        if (references_to(owner.base, cte.ctename, 0) != 1) return;
        const bool aliased = relation.alias != nullptr && relation.alias->aliasname[0] != '\0';
        collect_through(*cte.ctequery, aliased ? relation.alias->aliasname : cte.ctename, owner, out, depth);
    }

    // How many relations under `message` are named `name` without a schema.
    static std::size_t references_to(ProtobufCMessage& message, std::string_view name, int depth) {
        if (depth > max_tree_depth) return 2;  // too deep to know: as good as several
        if (const Node* node = as_node(message); node != nullptr && node->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
            return node->range_var->schemaname[0] == '\0' && name == node->range_var->relname ? 1 : 0;
        }
        std::size_t found = 0;
        for_each_child_message(message, [&found, name, depth](ProtobufCMessage& child) {
            if (found < 2) found += references_to(child, name, depth + 1);
        });
        return found;
    }

    // The protected tables of `query` (a SELECT that `owner` reads from as `alias`): their hidden
    // columns are appended to its list, and named in the owner's through `alias`.
    void collect_through(Node& query, const std::string& alias, PgQuery__SelectStmt& owner,
                         std::vector<Candidate>& out, int depth) {
        // The hidden columns would show in the owner's result through `*`, `s.*` or `s`.
        if (has_bare_star(owner.n_target_list, owner.target_list) || names_whole_row(owner.base, alias, &query.base, 0))
            return;
        PgQuery__SelectStmt& inner = *query.select_stmt;
        if (untrackable_select(inner)) return;
        note_cte_names(inner);
        std::vector<Candidate> inner_candidates;
        for (std::size_t i = 0; i < inner.n_from_clause; ++i) {
            collect_from(inner.from_clause[i], inner, inner_candidates, depth + 1);
        }
        // As for the outer statement: a subquery that looks only at a table's key and version
        // passes nothing of its rows' data out.
        drop_tables_whose_data_is_not_read(inner, inner_candidates);
        for (const Candidate& candidate : inner_candidates) {
            Candidate outer{candidate.rule, {alias}, {}};
            for (const std::string& column : hidden_sources(candidate)) {
                // Unique in the whole statement, so that no two subqueries' columns meet in a NATURAL join.
                std::string name = std::string(hidden_column_prefix) + "in" + std::to_string(++inner_hidden_count_);
                append_item(inner.n_target_list, inner.target_list, hidden_target(candidate, column, name));
                outer.through_subquery.push_back(std::move(name));
            }
            out.push_back(std::move(outer));
        }
    }

    // The columns a candidate's hidden columns come from: the table's key and version columns,
    // or the text columns a subquery already yields for them.
    static std::vector<std::string> hidden_sources(const Candidate& candidate) {
        if (!candidate.through_subquery.empty()) return candidate.through_subquery;
        std::vector<std::string> sources = candidate.rule->key;
        sources.push_back(candidate.rule->version_column);
        return sources;
    }

    // `<qualifier>.<column> AS <name>`, cast to text unless the column comes out of a subquery
    // that cast it already.
    static Node* hidden_target(const Candidate& candidate, std::string_view column, std::string_view name) {
        const bool direct = candidate.through_subquery.empty();
        const bool epoch = direct && candidate.rule->kind == rules::VersionKind::Timestamp &&
                           column == candidate.rule->version_column;
        return make_hidden_target(candidate.qualifier, column, name, direct, epoch);
    }

    // Some protected table anywhere in the tree (a subquery, a CTE): only for the reason given.
    const rules::TableRule* protected_anywhere(ProtobufCMessage& message, int depth) const {
        if (depth > max_tree_depth) return nullptr;
        if (const Node* node = as_node(message); node != nullptr && node->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
            return rule_for(*node->range_var);
        }
        const rules::TableRule* found = nullptr;
        for_each_child_message(message, [this, &found, depth](ProtobufCMessage& child) {
            if (found == nullptr) found = protected_anywhere(child, depth + 1);
        });
        return found;
    }

    void note_cte_names(const PgQuery__SelectStmt& select) {
        if (select.with_clause == nullptr) return;
        for (std::size_t i = 0; i < select.with_clause->n_ctes; ++i) {
            const Node* cte = select.with_clause->ctes[i];
            if (cte != nullptr && cte->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR) {
                cte_names_.emplace_back(cte->common_table_expr->ctename);
            }
        }
    }

    ReadTracking plan_select(PgQuery__SelectStmt& select, ParseTree& tree) {
        if (auto reason = untrackable_select(select)) return not_tracked(*reason);
        note_cte_names(select);
        std::vector<Candidate> candidates;
        for (std::size_t i = 0; i < select.n_from_clause; ++i) {
            collect_from(select.from_clause[i], select, candidates, 0);
        }
        const bool any_found = !candidates.empty();
        drop_tables_whose_data_is_not_read(select, candidates);
        if (any_found && candidates.empty()) return not_tracked("reads only key or version columns of protected tables");
        if (candidates.empty()) {
            if (const rules::TableRule* rule = protected_anywhere(select.base, 0)) {
                return not_tracked("protected table " + rule->table.to_string() +
                                   " only inside a subquery, CTE or aliased join, or under column aliases (not tracked in this version)");
            }
            return not_tracked("no protected table");
        }
        return append_and_deparse(candidates, select.n_target_list, select.target_list, tree);
    }

    ReadTracking plan_returning(const PgQuery__RangeVar* relation, std::size_t& count, Node**& items,
                                ParseTree& tree, bool even_without_returning = false) {
        if (relation == nullptr) return not_tracked("no target table");
        const rules::TableRule* rule = rule_for(*relation);
        if (rule == nullptr) return not_tracked("no protected table");
        if (count == 0 && !even_without_returning) return not_tracked("no RETURNING");
        if (has_hidden_column(count, items)) return not_tracked("already tracked");
        const bool client_sees_rows = count > 0;
        // The statement as it reads without the RETURNING added here: the caller may leave that
        // RETURNING off when it knows the new version without being told.
        std::optional<std::string> bare;
        if (!client_sees_rows) {
            if (auto deparsed = deparse_statement(tree, 0); deparsed.ok()) bare = std::move(deparsed).value();
        }
        ReadTracking result = append_and_deparse({Candidate{rule, qualifier_of(*relation), {}}}, count, items, tree);
        result.client_sees_rows = client_sees_rows;
        if (bare && result.outcome == ReadTracking::Outcome::Tracked && result.sql.starts_with(*bare) &&
            result.sql.compare(bare->size(), returning_keyword.size(), returning_keyword) == 0) {
            result.added_returning = result.sql.substr(bare->size());
        }
        return result;
    }

    ReadTracking append_and_deparse(const std::vector<Candidate>& candidates, std::size_t& count, Node**& items,
                                    ParseTree& tree) {
        ReadTracking result;
        for (const Candidate& candidate : candidates) {
            const rules::TableRule& rule = *candidate.rule;
            for (const std::string& column : hidden_sources(candidate)) {
                ++result.hidden_count;
                const std::string name = std::string(hidden_column_prefix) + std::to_string(result.hidden_count);
                append_item(count, items, hidden_target(candidate, column, name));
            }
            result.tables.push_back(TrackedTable{rule.table, &rule, rule.key.size(), rule.table.to_string()});
        }
        auto deparsed = deparse_statement(tree, 0);
        if (!deparsed.ok()) return not_tracked("cannot deparse the tracked statement: " + deparsed.error().message);
        // Only send what reads back as the very tree we built.
        auto reread = parse(deparsed.value());
        if (!reread.ok() || reread.value().statement_count() != 1 ||
            !same_statement(reread.value(), 0, tree, 0)) {
            return not_tracked("the tracked statement would not read back the same");
        }
        result.outcome = ReadTracking::Outcome::Tracked;
        result.sql = std::move(deparsed).value();
        return result;
    }

    const rules::RuleSet& rules_;
    const SchemaResolver& resolve_;
    std::vector<std::string> cte_names_;
    std::size_t inner_hidden_count_ = 0;
};

// Parses `sql` as one statement and lets `plan` (a Planner member) decide on it.
ReadTracking plan_one_statement(std::string_view sql, const rules::RuleSet& rules, const SchemaResolver& resolve,
                                ReadTracking (Planner::*plan)(PgQuery__RawStmt&, ParseTree&)) {
    auto parsed = parse(sql);
    ReadTracking refused;
    if (!parsed.ok()) {
        refused.reason = "does not parse: " + parsed.error().message;
        return refused;
    }
    ParseTree& tree = parsed.value();
    if (tree.statement_count() != 1) {
        refused.reason = tree.statement_count() == 0 ? "empty statement" : "more than one statement";
        return refused;
    }
    Planner planner(rules, resolve);
    return (planner.*plan)(*tree.get()->stmts[0], tree);
}

}  // namespace

ReadTracking plan_read_tracking(std::string_view sql, const rules::RuleSet& rules, const SchemaResolver& resolve) {
    return plan_one_statement(sql, rules, resolve, &Planner::plan);
}

ReadTracking plan_write_returning(std::string_view sql, const rules::RuleSet& rules, const SchemaResolver& resolve) {
    return plan_one_statement(sql, rules, resolve, &Planner::plan_write);
}

}  // namespace staleguard::parser
