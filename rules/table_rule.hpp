// What a rule file says: which tables are protected, and how their versions are kept and checked.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace staleguard::rules {

enum class VersionKind { Counter, Timestamp, Xmin };
enum class Mode { Track, Client, Increment };
enum class UnreadPolicy { Allow, Reject };
enum class DeletePolicy { Check, Allow };
enum class UnanalysablePolicy { Reject, Pass };
enum class BumpedBy { Staleguard, Trigger };

// A relation name after PostgreSQL's identifier rules: unquoted parts folded to lower case,
// quoted parts kept as written. Rule files give bare names for public.<name>.
struct QualifiedName {
    std::string schema;
    std::string name;

    std::string to_string() const;  // "public.accounts", quoted where PostgreSQL would need it
    friend bool operator==(const QualifiedName&, const QualifiedName&) = default;
};

struct TableRule {
    QualifiedName table;
    std::vector<std::string> key{"id"};
    std::string version_column = "version";  // "xmin" when kind == Xmin
    VersionKind kind = VersionKind::Counter;
    Mode mode = Mode::Track;
    UnreadPolicy unread = UnreadPolicy::Allow;
    DeletePolicy on_delete = DeletePolicy::Check;
    std::vector<std::string> watch;   // only UPDATEs setting one of these bump and check
    std::vector<std::string> ignore;  // UPDATEs setting only these neither bump nor check
    std::vector<std::string> bypass_roles;
    BumpedBy bumped_by = BumpedBy::Staleguard;

    bool bypasses(std::string_view role) const;
    // Whether an UPDATE assigning exactly these columns is subject to bump and check.
    bool update_is_guarded(const std::vector<std::string>& assigned_columns) const;
};

struct RuleSet {
    std::string sqlstate = "40001";
    UnanalysablePolicy unanalysable = UnanalysablePolicy::Reject;
    std::size_t max_tracked_rows = 100000;
    std::vector<TableRule> tables;

    const TableRule* find(const QualifiedName& name) const;
    // True when some rule protects a table of this name in any schema: a bare name in a
    // statement is only worth resolving through search_path when this holds.
    bool protects_name(std::string_view name) const;
    bool empty() const { return tables.empty(); }
};

}  // namespace staleguard::rules
