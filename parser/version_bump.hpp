// Edits the SET list of one UPDATE-like clause in the parse tree so that it bumps the version column.
#pragma once

#include <optional>
#include <string>

#include "parser/statement_analysis.hpp"

namespace staleguard::parser {

enum class BumpKind {
    Counter,    // version = <qualifier>.version + 1
    Timestamp,  // version = clock_timestamp()
};

struct VersionBump {
    std::string qualifier;       // alias, else the table name as written (without schema)
    std::string version_column;
    BumpKind kind = BumpKind::Counter;
    // staleguard owns the column (increment, track): a client's own assignment to it is
    // replaced by the bump. Otherwise (client) it stands, and the bump is added only when the
    // client assigns none.
    bool owns_version = false;
};

struct [[nodiscard]] BumpEdit {
    bool changed = false;
    std::optional<std::string> unanalysable;  // why the list cannot be edited safely
};

// In increment/track mode a multi-column `SET (a, version) = (1, 7)` loses its version member
// (becoming `SET a = 1` when one column is left) and the bump is appended; when the values come
// from a sub-SELECT the version member cannot be taken out, so that is unanalysable. An
// assignment already equal to the bump is left as it is, which makes rewriting idempotent.
BumpEdit apply_version_bump(AssignmentList list, const VersionBump& bump);

}  // namespace staleguard::parser
