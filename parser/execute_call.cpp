// EXECUTE name(arguments), read from the parse tree.
#include "parser/execute_call.hpp"

#include "parser/ascii_case.hpp"
#include "parser/pg_query_handle.hpp"
#include "parser/tree_nodes.hpp"

#include <algorithm>

namespace staleguard::parser {

std::optional<ExecuteCall> execute_call_of(std::string_view sql) {
    if (find_ignoring_ascii_case(sql, "execute") == std::string_view::npos) return std::nullopt;
    auto tree = parse(sql);
    if (!tree || tree.value().statement_count() != 1) return std::nullopt;
    const PgQuery__ParseResult* result = tree.value().get();
    const PgQuery__Node* statement = result->stmts[0]->stmt;
    if (statement == nullptr || statement->node_case != PG_QUERY__NODE__NODE_EXECUTE_STMT) return std::nullopt;
    const PgQuery__ExecuteStmt& execute = *statement->execute_stmt;
    ExecuteCall call;
    call.name = execute.name;
    for (std::size_t i = 0; i < execute.n_params; ++i) {
        auto literal = tree::literal_of(execute.params[i]);
        call.arguments.push_back(literal && literal->parameter == 0 ? std::optional<std::string>(literal->text)
                                                                    : std::nullopt);
    }
    return call;
}

}  // namespace staleguard::parser
