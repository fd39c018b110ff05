// The DDL a rule set needs and a database lacks: version columns and, on request, bump triggers.
#include "rules/schema_ddl.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rules/identifier.hpp"
#include "rules/rule_words.hpp"
#include "rules/table_catalog.hpp"

namespace staleguard::rules {
namespace {

constexpr std::string_view bump_function_prefix = "staleguard_bump_";

std::string shown(const QualifiedName& name) { return printable(name.to_string()); }
std::string shown_column(const std::string& column) { return printable(quote_identifier(column)); }

// FNV-1a: a stable, platform-independent suffix that keeps shortened names apart.
std::uint32_t fnv1a(std::string_view text) {
    std::uint32_t hash = 2166136261u;
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
    }
    return hash;
}

// The longest prefix of `text` of at most `bytes` bytes that does not split a UTF-8 character:
// the server refuses an identifier that is not valid in the database encoding.
std::string_view utf8_prefix(std::string_view text, std::size_t bytes) {
    if (text.size() <= bytes) {
        return text;
    }
    std::size_t end = bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
        --end;
    }
    return text.substr(0, end);
}

// A dollar-quote tag that does not occur in `body`, so the body cannot end the quote early
// (an unquoted identifier may contain '$').
std::string dollar_tag_for(const std::string& body) {
    std::string tag = "$staleguard$";
    for (int attempt = 1; body.find(tag) != std::string::npos; ++attempt) {
        tag = "$staleguard_" + std::to_string(attempt) + "$";
    }
    return tag;
}

std::string add_column_sql(const TableRule& rule) {
    const std::string type = rule.kind == VersionKind::Counter ? "bigint NOT NULL DEFAULT 1"
                                                               : "timestamptz NOT NULL DEFAULT clock_timestamp()";
    return "ALTER TABLE " + rule.table.to_string() + " ADD COLUMN IF NOT EXISTS " +
           quote_identifier(rule.version_column) + " " + type;
}

std::string create_function_sql(const TableRule& rule) {
    const std::string body = bump_function_body(rule);
    const std::string tag = dollar_tag_for(body);
    return "CREATE OR REPLACE FUNCTION " + bump_function_name(rule.table).to_string() +
           "() RETURNS trigger\n    LANGUAGE plpgsql AS " + tag + body + tag;
}

std::string drop_trigger_sql(const TableRule& rule) {
    return "DROP TRIGGER IF EXISTS " + quote_identifier(bump_trigger_name) + " ON " + rule.table.to_string();
}

std::string create_trigger_sql(const TableRule& rule) {
    std::string event = "UPDATE";
    if (!rule.watch.empty()) {
        event += " OF ";
        for (std::size_t i = 0; i < rule.watch.size(); ++i) {
            event += (i == 0 ? "" : ", ") + quote_identifier(rule.watch[i]);
        }
    }
    return "CREATE TRIGGER " + quote_identifier(bump_trigger_name) + " BEFORE " + event + " ON " +
           rule.table.to_string() + "\n    FOR EACH ROW EXECUTE FUNCTION " + bump_function_name(rule.table).to_string() +
           "()";
}

bool type_fits(VersionKind kind, std::string_view base_type) {
    const auto fits = [base_type](const auto& types) {
        return std::find(types.begin(), types.end(), base_type) != types.end();
    };
    return kind == VersionKind::Counter ? fits(counter_types) : fits(timestamp_types);
}

bool trigger_is_current(const TableRule& rule, const ExistingBumpTrigger& trigger) {
    std::vector<std::string> wanted = rule.watch;
    std::vector<std::string> present = trigger.update_of;
    std::sort(wanted.begin(), wanted.end());
    std::sort(present.begin(), present.end());
    return trigger.function == bump_function_name(rule.table) && trigger.type == bump_trigger_type &&
           trigger.enabled && !trigger.has_arguments_or_condition && wanted == present;
}

std::string bumped_by_reminder(const TableRule& rule, const SchemaDdlOptions& options) {
    return "set `bumped_by: trigger` for " + shown(rule.table) + " in " + printable(options.rule_file) +
           ": the trigger bumps " + shown_column(rule.version_column) +
           " on every UPDATE, so staleguard need not rewrite UPDATEs to bump it too";
}

void plan_triggers(const TableRule& rule, const TableCatalogState& state, const SchemaDdlOptions& options,
                   TableDdl& ddl, SchemaDdlPlan& plan) {
    const bool function_current = state.bump_function_body == bump_function_body(rule);
    const bool trigger_current = state.bump_trigger && trigger_is_current(rule, *state.bump_trigger);
    if (!function_current) {
        ddl.statements.push_back(
            {{shown(rule.table) + ": " + (state.bump_function_body ? "refresh" : "create") +
              " the function that bumps " + shown_column(rule.version_column) + " (" +
              (rule.kind == VersionKind::Counter ? "OLD + 1" : "clock_timestamp()") + ")"},
             create_function_sql(rule)});
    }
    if (!trigger_current) {
        ddl.statements.push_back({{shown(rule.table) + ": " + (state.bump_trigger ? "replace" : "create") +
                                   " trigger " + std::string(bump_trigger_name) + ", BEFORE UPDATE" +
                                   (rule.watch.empty() ? "" : " OF the watch columns") + ", FOR EACH ROW"},
                                  drop_trigger_sql(rule)});
        ddl.statements.push_back({{}, create_trigger_sql(rule)});
    }
    if (!rule.ignore.empty() && !trigger_current) {
        ddl.reminders.push_back(shown(rule.table) +
                                ": the trigger also bumps on UPDATEs that set only 'ignore' columns (a trigger "
                                "cannot see which columns an UPDATE sets, only which it names with UPDATE OF)");
    }
    if (rule.bumped_by == BumpedBy::Staleguard) {
        if (function_current && trigger_current) {
            plan.warnings.push_back(shown(rule.table) + " has the " + std::string(bump_trigger_name) +
                                    " trigger: " + bumped_by_reminder(rule, options));
        } else {
            ddl.reminders.push_back(bumped_by_reminder(rule, options));
        }
    }
}

void plan_table(const TableRule& rule, const TableCatalogState& state, const SchemaDdlOptions& options,
                SchemaDdlPlan& plan) {
    const std::string table = shown(rule.table);
    switch (state.relation) {
        case TableCatalogState::Relation::Missing:
            plan.problems.push_back(table + ": table does not exist (the schema helper adds columns and "
                                            "triggers to existing tables only)");
            return;
        case TableCatalogState::Relation::NotATable:
            plan.problems.push_back(table + ": is " + printable(state.relation_kind) + ", not a table");
            return;
        case TableCatalogState::Relation::Table: break;
    }
    if (rule.kind == VersionKind::Xmin) {
        if (state.bump_trigger) {
            plan.warnings.push_back(table + ": kind xmin needs no trigger, but the table still has " +
                                    std::string(bump_trigger_name) + " from an earlier run; remove it with " +
                                    printable(drop_trigger_sql(rule)));
        }
        return;  // PostgreSQL keeps xmin itself: nothing to add
    }
    TableDdl ddl;
    ddl.table = rule.table;
    if (!state.version_column_type) {
        DdlStatement add_column{{table + ": add the " + std::string(word_of(rule.kind)) + " version column " +
                                 shown_column(rule.version_column)},
                                add_column_sql(rule)};
        if (rule.kind == VersionKind::Timestamp) {
            add_column.comments.push_back("clock_timestamp() is volatile: adding the column rewrites " + table +
                                          " under an ACCESS EXCLUSIVE lock, which takes a while on a large table");
        }
        ddl.statements.push_back(std::move(add_column));
    } else if (!type_fits(rule.kind, *state.version_column_type)) {
        plan.problems.push_back(table + ": version column " + shown_column(rule.version_column) + " has type " +
                                printable(*state.version_column_type) + "; kind " + std::string(word_of(rule.kind)) + " needs " +
                                (rule.kind == VersionKind::Counter ? "smallint, integer, bigint or numeric"
                                                                   : "timestamp with or without time zone"));
        return;
    }
    if (options.triggers) {
        plan_triggers(rule, state, options, ddl, plan);
    } else if (rule.bumped_by == BumpedBy::Trigger && !state.bump_trigger) {
        plan.warnings.push_back(table + ": bumped_by: trigger, but the table has no " + std::string(bump_trigger_name) +
                                " trigger; run with --triggers unless a trigger of your own bumps " +
                                shown_column(rule.version_column));
    } else if (rule.bumped_by == BumpedBy::Staleguard && state.bump_trigger) {
        plan.warnings.push_back(table + " has the " + std::string(bump_trigger_name) +
                                " trigger: " + bumped_by_reminder(rule, options));
    }
    if (!ddl.statements.empty()) {
        plan.tables.push_back(std::move(ddl));
    }
}

void append_comment(std::string& out, const std::string& text) { out += "-- " + text + "\n"; }

}  // namespace

QualifiedName bump_function_name(const QualifiedName& table) {
    std::string name = std::string(bump_function_prefix) + table.name;
    if (name.size() > max_identifier_bytes) {
        char suffix[10];
        std::snprintf(suffix, sizeof suffix, "_%08x", fnv1a(table.schema + "." + table.name));
        name = std::string(utf8_prefix(name, max_identifier_bytes - (sizeof suffix - 1))) + suffix;
    }
    return QualifiedName{table.schema, name};
}

std::string bump_function_body(const TableRule& rule) {
    if (rule.kind == VersionKind::Xmin) {
        return "";
    }
    const std::string column = quote_identifier(rule.version_column);
    // From OLD, not NEW: whatever the UPDATE assigned, the version moves on by exactly one step.
    const std::string value = rule.kind == VersionKind::Counter ? "OLD." + column + " + 1" : "clock_timestamp()";
    return "\nBEGIN\n    NEW." + column + " := " + value + ";\n    RETURN NEW;\nEND\n";
}

SchemaDdlPlan plan_schema_ddl(const RuleSet& rules, const std::vector<TableCatalogState>& catalog,
                              const SchemaDdlOptions& options) {
    SchemaDdlPlan plan;
    for (std::size_t i = 0; i < rules.tables.size() && i < catalog.size(); ++i) {
        plan_table(rules.tables[i], catalog[i], options, plan);
    }
    return plan;
}

std::size_t SchemaDdlPlan::statement_count() const {
    std::size_t count = 0;
    for (const TableDdl& table : tables) {
        count += table.statements.size();
    }
    return count;
}

std::string SchemaDdlPlan::script() const {
    std::string out;
    if (nothing_to_do()) {
        append_comment(out, problems.empty() ? "nothing to do: the database already has what the rules need"
                                             : "no DDL to run; the problems reported need fixing by hand");
        return out;
    }
    out += "BEGIN;\n";
    for (const TableDdl& table : tables) {
        out += "\n";
        for (const DdlStatement& statement : table.statements) {
            for (const std::string& comment : statement.comments) {
                append_comment(out, comment);
            }
            out += statement.sql + ";\n";
        }
        for (const std::string& reminder : table.reminders) {
            append_comment(out, reminder);
        }
    }
    out += "\nCOMMIT;\n";
    return out;
}

// ---- the database side ----------------------------------------------------------------------

namespace {

constexpr const char* bump_function_sql =
    "SELECT p.prosrc FROM pg_catalog.pg_proc p "
    "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "JOIN pg_catalog.pg_language l ON l.oid = p.prolang "
    "WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0 AND l.lanname = 'plpgsql' "
    "  AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype";

// Replica-only ('R') and disabled ('D') triggers do not fire for ordinary sessions.
constexpr const char* bump_trigger_sql =
    "SELECT fn.nspname, f.proname, t.tgtype::int4::text, (t.tgenabled IN ('O', 'A'))::text, "
    "       (t.tgnargs > 0 OR t.tgqual IS NOT NULL)::text "
    "FROM pg_catalog.pg_trigger t "
    "JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace "
    "WHERE t.tgrelid = $1::oid AND t.tgname = $2";

constexpr const char* bump_trigger_columns_sql =
    "SELECT a.attname FROM pg_catalog.pg_trigger t "
    "CROSS JOIN LATERAL unnest(t.tgattr::int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = k.attnum "
    "WHERE t.tgrelid = $1::oid AND t.tgname = $2 ORDER BY k.ord";

class CatalogQueries {
public:
    explicit CatalogQueries(PGconn* connection) : connection_(connection) {}

    // Rows of a parameterised query, or nullptr with error() set.
    PgResult rows(const char* sql, std::initializer_list<const char*> parameters) {
        PgResult result = query_rows(connection_, sql, parameters);
        if (!result) {
            error_ = "catalog query failed: " + connection_error(connection_);
        }
        return result;
    }

    bool command(const char* sql) {
        const PgResult result(PQexec(connection_, sql));
        if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
            error_ = connection_error(connection_);
            return false;
        }
        return true;
    }

    const std::string& error() const { return error_; }

    std::optional<TableCatalogState> table_state(const TableRule& rule) {
        const TableCatalogRead read = read_table_catalog(connection_, rule.table);
        if (!read.table) {
            error_ = "catalog query failed: " + read.error;
            return std::nullopt;
        }
        TableCatalogState state;
        switch (read.table->relation) {
            case TableCatalog::Relation::Missing: return state;
            case TableCatalog::Relation::NotATable:
                state.relation = TableCatalogState::Relation::NotATable;
                state.relation_kind = read.table->relation_kind;
                return state;
            case TableCatalog::Relation::Table:
                state.relation = TableCatalogState::Relation::Table;
                break;
        }
        const std::string& oid = read.table->oid;
        if (rule.kind != VersionKind::Xmin) {
            const auto column = read.table->columns.find(rule.version_column);
            if (column != read.table->columns.end()) state.version_column_type = column->second.base_type;
        }
        const QualifiedName function = bump_function_name(rule.table);
        const PgResult body = rows(bump_function_sql, {function.schema.c_str(), function.name.c_str()});
        if (!body) return std::nullopt;
        if (PQntuples(body.get()) > 0) state.bump_function_body = PQgetvalue(body.get(), 0, 0);

        const std::string trigger_name(bump_trigger_name);
        const PgResult trigger = rows(bump_trigger_sql, {oid.c_str(), trigger_name.c_str()});
        if (!trigger) return std::nullopt;
        if (PQntuples(trigger.get()) > 0) {
            ExistingBumpTrigger existing;
            existing.function = QualifiedName{PQgetvalue(trigger.get(), 0, 0), PQgetvalue(trigger.get(), 0, 1)};
            existing.type = std::atoi(PQgetvalue(trigger.get(), 0, 2));
            existing.enabled = std::string_view(PQgetvalue(trigger.get(), 0, 3)) == "true";
            existing.has_arguments_or_condition = std::string_view(PQgetvalue(trigger.get(), 0, 4)) == "true";
            const PgResult columns = rows(bump_trigger_columns_sql, {oid.c_str(), trigger_name.c_str()});
            if (!columns) return std::nullopt;
            for (int row = 0; row < PQntuples(columns.get()); ++row) {
                existing.update_of.emplace_back(PQgetvalue(columns.get(), row, 0));
            }
            state.bump_trigger = std::move(existing);
        }
        return state;
    }

private:
    PGconn* connection_;
    std::string error_;
};

}  // namespace

CatalogReadResult read_catalog_state(const RuleSet& rules, const std::string& conninfo) {
    CatalogReadResult result;
    auto connected = connect_database(conninfo);
    if (auto* error = std::get_if<std::string>(&connected)) {
        result.error = *error;
        return result;
    }
    const PgConnection connection = std::move(std::get<PgConnection>(connected));
    try {
        CatalogQueries queries(connection.get());
        // One snapshot for every table, so that the plan describes one moment of the catalog.
        if (!queries.command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) {
            result.error = "cannot start a read-only transaction: " + queries.error();
            return result;
        }
        for (const TableRule& rule : rules.tables) {
            auto state = queries.table_state(rule);
            if (!state) {
                result.error = shown(rule.table) + ": " + queries.error();
                result.tables.clear();
                return result;
            }
            result.tables.push_back(std::move(*state));
        }
        static_cast<void>(queries.command("COMMIT"));
    } catch (const std::exception& error) {
        result.error = std::string("reading the catalog failed: ") + error.what();
        result.tables.clear();
    }
    return result;
}

SchemaApplyResult apply_schema_ddl(const SchemaDdlPlan& plan, const std::string& conninfo) {
    SchemaApplyResult result;
    auto connected = connect_database(conninfo);
    if (auto* error = std::get_if<std::string>(&connected)) {
        result.error = *error;
        return result;
    }
    const PgConnection connection = std::move(std::get<PgConnection>(connected));
    CatalogQueries session(connection.get());
    if (!session.command("BEGIN")) {
        result.error = "cannot start a transaction: " + session.error();
        return result;
    }
    for (const TableDdl& table : plan.tables) {
        for (const DdlStatement& statement : table.statements) {
            if (!session.command(statement.sql.c_str())) {
                const std::string first_line = statement.sql.substr(0, statement.sql.find('\n'));
                result.error = printable(first_line) + (first_line.size() < statement.sql.size() ? " ..." : "") +
                               "\nfailed: " + session.error() + "\nnothing was changed (the transaction was rolled back)";
                result.statements_run = 0;
                static_cast<void>(session.command("ROLLBACK"));
                return result;
            }
            ++result.statements_run;
        }
    }
    if (!session.command("COMMIT")) {
        result.error = "COMMIT failed: " + session.error();
        result.statements_run = 0;
    }
    return result;
}

}  // namespace staleguard::rules
