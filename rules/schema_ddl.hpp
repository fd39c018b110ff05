// The DDL a rule set needs and a database lacks: version columns and, on request, bump triggers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

// The trigger staleguard's schema helper puts on a table; the same name on every table, so that
// a later run finds (and replaces) its own trigger and nobody else's.
inline constexpr std::string_view bump_trigger_name = "staleguard_bump_version";

// PostgreSQL's pg_trigger.tgtype bits for BEFORE UPDATE FOR EACH ROW.
inline constexpr int bump_trigger_type = 1 /*ROW*/ | 2 /*BEFORE*/ | 16 /*UPDATE*/;

// A trigger named bump_trigger_name, as the catalog describes it.
struct ExistingBumpTrigger {
    QualifiedName function;                   // what it executes
    int type = 0;                             // pg_trigger.tgtype
    bool enabled = true;                      // tgenabled is not 'D'
    bool has_arguments_or_condition = false;  // tgnargs > 0 or a WHEN clause
    std::vector<std::string> update_of;       // UPDATE OF columns, in catalog order
};

// What the database has for one rule's table, as far as the DDL depends on it.
struct TableCatalogState {
    enum class Relation { Missing, Table, NotATable };
    Relation relation = Relation::Missing;
    std::string relation_kind;                       // e.g. "a view", for a NotATable message
    std::optional<std::string> version_column_type;  // base type name (int8, timestamptz, ...); absent: no column
    std::optional<std::string> bump_function_body;   // prosrc of bump_function_name(), when it is a plpgsql trigger function
    std::optional<ExistingBumpTrigger> bump_trigger;
};

struct SchemaDdlOptions {
    bool triggers = false;            // also create or refresh the bump triggers
    std::string rule_file = "rules";  // how comments name the rule file
};

// One statement (without ';') and the comments (without "-- ") that explain it.
struct DdlStatement {
    std::vector<std::string> comments;
    std::string sql;
};

// One table's share of the DDL.
struct TableDdl {
    QualifiedName table;
    std::vector<DdlStatement> statements;
    std::vector<std::string> reminders;  // shown below the statements
};

struct [[nodiscard]] SchemaDdlPlan {
    std::vector<TableDdl> tables;         // only tables that need something
    std::vector<std::string> problems;    // tables the DDL cannot fix (missing, a view, wrong type)
    std::vector<std::string> warnings;    // the rules and the database disagree in a way DDL does not fix

    bool nothing_to_do() const { return tables.empty(); }
    std::size_t statement_count() const;
    // A psql-ready script: BEGIN, each table's comments and statements, COMMIT. When there is
    // nothing to do, a single comment line saying so (or pointing at the problems).
    std::string script() const;
};

// The function a table's bump trigger executes: in the table's schema, named after the table,
// shortened with a hash suffix when the name would pass PostgreSQL's 63-byte limit.
QualifiedName bump_function_name(const QualifiedName& table);

// The body (pg_proc.prosrc) of the bump function for a rule: counter OLD+1, timestamp
// clock_timestamp(). Empty for xmin, which PostgreSQL maintains itself.
std::string bump_function_body(const TableRule& rule);

// Pure: the DDL `rules` needs given what the database has. `catalog[i]` describes
// `rules.tables[i]`; a shorter catalog is a caller bug and leaves the extra rules out.
SchemaDdlPlan plan_schema_ddl(const RuleSet& rules, const std::vector<TableCatalogState>& catalog,
                              const SchemaDdlOptions& options);

// ---- the database side (libpq), kept apart from the pure planning above ----

struct [[nodiscard]] CatalogReadResult {
    std::vector<TableCatalogState> tables;  // one per rule, in rule order, when error is empty
    std::string error;
    bool ok() const { return error.empty(); }
};

// Connects with `conninfo` and reads what plan_schema_ddl needs; parameterised queries only.
CatalogReadResult read_catalog_state(const RuleSet& rules, const std::string& conninfo);

struct [[nodiscard]] SchemaApplyResult {
    std::size_t statements_run = 0;
    std::string error;  // empty: committed
    bool ok() const { return error.empty(); }
};

// Runs every statement of `plan` in one transaction: all of them commit or none does.
SchemaApplyResult apply_schema_ddl(const SchemaDdlPlan& plan, const std::string& conninfo);

}  // namespace staleguard::rules
