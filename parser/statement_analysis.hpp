// What each statement of a query string writes and which session settings it changes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/pg_query_handle.hpp"

// protobuf-c node types, declared here so that our headers never include the C headers.
struct PgQuery__Node;

namespace staleguard::parser {

// A change to session state that the session must follow (it resolves bare names through
// search_path and switches checks off with staleguard.enabled).
struct SessionEffect {
    enum class Kind { SetSearchPath, ResetSearchPath, SearchPathUnknown, SetChecksEnabled, ResetChecksEnabled, ResetAll };
    Kind kind;
    std::string value;   // SetSearchPath: as SHOW would print it; SetChecksEnabled: "on" or "off"
    bool local = false;  // SET LOCAL / set_config(..., true): ends with the transaction
    friend bool operator==(const SessionEffect&, const SessionEffect&) = default;
};

enum class WriteKind { Update, Delete, Insert, InsertConflictUpdate, MergeUpdate, MergeDelete };

struct TargetRelation {
    std::string schema;  // empty when written bare
    std::string name;
    std::string alias;   // empty when none
    bool only = false;   // ONLY: inheritance children are not written

    // How the statement refers to the relation's columns: the alias, else the bare name.
    const std::string& qualifier() const { return alias.empty() ? name : alias; }
};

struct Assignment {
    enum class Source { Expression, Default, MultiRow, MultiSubSelect };
    std::string column;
    Source source = Source::Expression;
};

// One literal a WHERE compares a column with: its text, or a $n parameter.
struct LiteralValue {
    std::string text;   // "$n" for a parameter
    int parameter = 0;  // n of $n; 0 for a literal
    friend bool operator==(const LiteralValue&, const LiteralValue&) = default;
};

// `column = value` or `column IN (values...)`, from the top-level AND of a WHERE clause.
struct EqualityConstraint {
    std::vector<std::string> column_path;  // as written: {"id"}, {"a", "id"}, {"public", "accounts", "id"}
    std::vector<LiteralValue> values;
};

// The rewriter edits these lists in place: the SET list of an UPDATE, of ON CONFLICT DO UPDATE,
// or of a MERGE ... THEN UPDATE clause.
struct AssignmentList {
    std::size_t* count = nullptr;
    PgQuery__Node*** items = nullptr;
};

struct WriteInfo {
    WriteKind kind = WriteKind::Update;
    TargetRelation target;
    std::vector<Assignment> assignments;  // in the order written; empty for DELETE and INSERT
    bool has_where = false;
    bool where_current_of = false;
    bool has_returning = false;
    bool has_from = false;       // UPDATE ... FROM / DELETE ... USING
    bool in_cte = false;         // inside a WITH (data-modifying CTE)
    bool counts_rows = false;    // CommandComplete reports this write's rows (top level or PREPAREd)
    bool top_level = false;      // the statement itself, not run by EXPLAIN, COPY or a PREPAREd name
    bool executes = true;        // runs now: not a PREPARE body, nor under EXPLAIN without ANALYZE
    std::vector<EqualityConstraint> equalities;
    AssignmentList assignment_list;  // points into the tree; valid while the tree lives

    // Distinct assigned column names, in order.
    std::vector<std::string> assigned_columns() const;
};

struct StatementInfo {
    StatementSlice slice;
    std::vector<WriteInfo> writes;
    std::vector<SessionEffect> effects;
    // Code whose writes we cannot see (DO blocks, function bodies, rules): the statement text,
    // to be searched for protected names.
    std::vector<std::string> opaque_texts;
    std::string prepared_name;                // PREPARE name AS ...: its writes happen at EXECUTE
    std::optional<std::string> unsupported;   // why the statement could not be analysed at all
    std::optional<std::string> setting_error; // e.g. staleguard.enabled set to a non-boolean
};

// One StatementInfo per statement of `tree`, which was parsed from `sql`. The write entries
// point into `tree` (hence non-const), which must outlive their use.
std::vector<StatementInfo> analyse(ParseTree& tree, std::string_view sql);

// PostgreSQL's parse_bool: on/off, true/false, yes/no, 1/0 and unique prefixes.
std::optional<bool> parse_boolean_setting(std::string_view text);

}  // namespace staleguard::parser
