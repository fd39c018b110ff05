// Track mode's read side: appends each protected table's key and version, as text, to what a SELECT or RETURNING yields.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "parser/rewrite.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::parser {

// Every hidden column is named with this prefix and its 1-based position among the hidden
// columns (`staleguard_hidden_1`, ...). A distinct name matters: PostgreSQL resolves a bare
// `ORDER BY id` against output column names first, so an unnamed `a.id::text` would make it
// ambiguous (or sort by text). The prefix also marks an already-tracked statement.
inline constexpr std::string_view hidden_column_prefix = "staleguard_hidden_";

struct TrackedTable {
    rules::QualifiedName table;
    const rules::TableRule* rule = nullptr;
    std::size_t key_count = 0;
    // table.to_string(), the name a session's ReadSet files the rows under: spelt once per plan,
    // not once per execution of it.
    std::string name;
};

struct ReadTracking {
    enum class Outcome { NotTracked, Tracked };
    Outcome outcome = Outcome::NotTracked;
    std::string reason;                 // NotTracked: why ("DISTINCT", "aggregate", "no protected table", ...)
    std::string sql;                    // Tracked: the statement with hidden columns appended (deparsed)
    std::vector<TrackedTable> tables;   // in the order their hidden columns were appended
    std::size_t hidden_count = 0;       // sum over tables of key_count + 1
    // False when the statement had no RETURNING and the hidden columns are all it yields: the
    // client must then see no rows at all (NoData, not an empty RowDescription).
    bool client_sees_rows = true;
    // When the RETURNING is all staleguard's: the exact text it added at the end of `sql`
    // (" RETURNING ..."), so that it can be left off; else empty.
    std::string added_returning;
    // plan_write_returning of a DELETE: the rows it yields are gone.
    bool rows_deleted = false;
};

// For one statement: a plain SELECT gets, at the end of its outermost target list and for each
// protected (track-mode) table named directly in its FROM clause or joins, `<q>.<key>::text` for
// each key column and then `<q>.<version>::text`, where <q> is the alias, else the name as written
// (with its schema when one was written). A table inside a subquery in FROM gets those columns at
// the end of the subquery's list (named `staleguard_hidden_in<n>`, unique in the statement), and
// the outer list names them through the subquery's alias; not when the outer statement takes the
// subquery's rows whole (`*`, `s.*`, `s`) or the subquery is one of those the extra columns could
// change. UPDATE and INSERT (also ... ON CONFLICT) with RETURNING
// on a protected table get the same columns for that table at the end of RETURNING. Anything whose
// result the extra columns could change (DISTINCT, GROUP BY, aggregates, set operations, ...) is
// NotTracked and must be sent as written.
//
// Not idempotent: a statement whose outermost list already holds a column named with
// hidden_column_prefix is NotTracked with reason "already tracked", so tracking twice is caught
// rather than stacking a second set. Known gaps, each giving NotTracked or, for the last, a server
// error rather than a wrong result: tables only inside CTEs or untrackable subqueries; a user-defined
// aggregate (only PostgreSQL's built-in aggregate names are known here) makes the tracked query
// fail with "must appear in the GROUP BY clause".
[[nodiscard]] ReadTracking plan_read_tracking(std::string_view sql, const rules::RuleSet& rules,
                                              const SchemaResolver& resolve);

// For an UPDATE, DELETE, INSERT ... RETURNING or INSERT ... ON CONFLICT DO UPDATE of one
// track-mode table: the hidden key and version columns of the rows it changes, appended to its
// RETURNING, or as the whole RETURNING when it has none (client_sees_rows false). The session
// learns from them which rows its write changed and what versions they now carry, checked or not.
[[nodiscard]] ReadTracking plan_write_returning(std::string_view sql, const rules::RuleSet& rules,
                                                const SchemaResolver& resolve);

}  // namespace staleguard::parser
