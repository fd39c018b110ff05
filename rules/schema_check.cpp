// Checks a loaded rule set against a live database: tables, columns, version types, key uniqueness.
#include "rules/schema_check.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rules/identifier.hpp"
#include "rules/table_catalog.hpp"

namespace staleguard::rules {
namespace {

// Usable unique indexes only: valid, not partial, no expressions; INCLUDE columns do not count.
constexpr const char* unique_indexes_sql =
    "SELECT i.indexrelid::text, i.indisprimary::text, a.attname "
    "FROM pg_catalog.pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL "
    "  AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts";

constexpr const char* user_triggers_sql =
    "SELECT count(*)::text FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid AND NOT tgisinternal";

// Every partition and inheritance child below a table, at any depth.
constexpr const char* descendants_sql =
    "WITH RECURSIVE d(oid) AS (SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = $1::oid "
    "UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN d ON i.inhparent = d.oid) "
    "SELECT d.oid::pg_catalog.regclass::text FROM d ORDER BY 1";

constexpr const char* role_exists_sql = "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1";

class CatalogReader {
public:
    CatalogReader(PGconn* connection, SchemaCheckReport& report) : connection_(connection), report_(report) {}

    // Rows of a parameterised catalog query, or nullopt after recording the failure.
    std::optional<PgResult> query(const char* sql, std::initializer_list<const char*> parameters,
                                  std::string_view what) {
        PgResult result = query_rows(connection_, sql, parameters);
        if (!result) {
            record_query_failure(what, connection_error(connection_));
            return std::nullopt;
        }
        return result;
    }

    void check_table(const TableRule& rule) {
        const std::string table = printable(rule.table.to_string());
        const TableCatalogRead read = read_table_catalog(connection_, rule.table);
        if (!read.table) {
            record_query_failure(table, read.error);
            return;
        }
        const TableCatalog& catalog = *read.table;
        switch (catalog.relation) {
            case TableCatalog::Relation::Missing:
                report_.problems.push_back(table + ": table does not exist");
                return;
            case TableCatalog::Relation::NotATable:
                report_.problems.push_back(table + ": is " + catalog.relation_kind + ", not a table");
                return;
            case TableCatalog::Relation::Table: break;
        }
        const std::string& oid = catalog.oid;
        const std::map<std::string, CatalogColumn>& columns = catalog.columns;
        bool key_exists = true;
        for (const std::string& key_column : rule.key) {
            if (!columns.contains(key_column)) {
                key_exists = false;
                report_.problems.push_back(table + ": key column " + printable(quote_identifier(key_column)) +
                                           " does not exist");
            }
        }
        check_version_column(rule, columns, table);
        if (key_exists) {
            check_key_is_unique(rule, oid, columns, table);
        }
        if (rule.bumped_by == BumpedBy::Trigger) {
            check_has_triggers(oid, table);
        } else if (rule.kind != VersionKind::Xmin) {
            warn_of_descendants(oid, table);
        }
        for (const std::string& column : rule.watch) {
            warn_if_missing(columns, column, "watch", table);
        }
        for (const std::string& column : rule.ignore) {
            warn_if_missing(columns, column, "ignore", table);
        }
    }

    void check_roles(const RuleSet& rules) {
        std::set<std::string> roles;
        for (const TableRule& rule : rules.tables) {
            roles.insert(rule.bypass_roles.begin(), rule.bypass_roles.end());
        }
        for (const std::string& role : roles) {
            const std::string shown = printable(quote_identifier(role));
            auto found = query(role_exists_sql, {role.c_str()}, "role " + shown);
            if (found && PQntuples(found->get()) == 0) {
                report_.warnings.push_back("bypass role " + shown + " does not exist");
            }
        }
    }

private:
    void record_query_failure(std::string_view what, const std::string& error) {
        report_.problems.push_back("catalog query for " + std::string(what) + " failed: " + error);
    }

    void check_version_column(const TableRule& rule, const std::map<std::string, CatalogColumn>& columns,
                              const std::string& table) {
        if (rule.kind == VersionKind::Xmin) {
            return;  // a system column every table has
        }
        const std::string shown = printable(quote_identifier(rule.version_column));
        const auto column = columns.find(rule.version_column);
        if (column == columns.end()) {
            report_.problems.push_back(table + ": version column " + shown + " does not exist");
            return;
        }
        const std::string_view base = column->second.base_type;
        if (rule.kind == VersionKind::Counter &&
            std::find(counter_types.begin(), counter_types.end(), base) == counter_types.end()) {
            report_.problems.push_back(table + ": version column " + shown + " has type " +
                                       column->second.display_type +
                                       "; kind counter needs smallint, integer, bigint or numeric");
        }
        if (rule.kind == VersionKind::Timestamp &&
            std::find(timestamp_types.begin(), timestamp_types.end(), base) == timestamp_types.end()) {
            report_.problems.push_back(table + ": version column " + shown + " has type " +
                                       column->second.display_type +
                                       "; kind timestamp needs timestamp with or without time zone");
        }
        if (rule.kind == VersionKind::Timestamp) {
            // timestamp(0) rounds clock_timestamp() to the second: two changes within one tick
            // would leave the version as it was, and the second's stale write would pass.
            const std::string& type = column->second.display_type;
            const auto open = type.find("timestamp(");
            if (open != std::string::npos) {
                const int precision = std::atoi(type.c_str() + open + std::string_view("timestamp(").size());
                if (precision < 6) {
                    report_.problems.push_back(table + ": version column " + shown + " has type " + type +
                                               "; kind timestamp needs microseconds (timestamp without a precision, "
                                               "or (6)): rounded, two changes within one tick carry one version");
                }
            }
        }
        if (!column->second.not_null) {
            report_.warnings.push_back(table + ": version column " + shown +
                                       " allows NULL; a row whose version is NULL is not protected (its bump "
                                       "stays NULL, and a NULL version counts as unread)");
        }
    }

    void check_key_is_unique(const TableRule& rule, const std::string& oid,
                             const std::map<std::string, CatalogColumn>& columns, const std::string& table) {
        auto result = query(unique_indexes_sql, {oid.c_str()}, table);
        if (!result) {
            return;
        }
        struct IndexColumns {
            bool primary = false;
            std::set<std::string> columns;
        };
        std::map<std::string, IndexColumns> indexes;
        for (int row = 0; row < PQntuples(result->get()); ++row) {
            auto& index = indexes[PQgetvalue(result->get(), row, 0)];
            index.primary = std::string_view(PQgetvalue(result->get(), row, 1)) == "true";
            index.columns.insert(PQgetvalue(result->get(), row, 2));
        }
        const std::set<std::string> key(rule.key.begin(), rule.key.end());
        bool unique = false;
        bool primary = false;
        for (const auto& [index_oid, index] : indexes) {
            if (index.columns == key) {
                unique = true;
                primary = primary || index.primary;
            }
        }
        std::string key_list;
        for (const std::string& column : rule.key) {
            key_list += (key_list.empty() ? "" : ", ") + printable(quote_identifier(column));
        }
        if (!unique) {
            report_.warnings.push_back(table + ": key (" + key_list +
                                       ") is neither the primary key nor covered by a unique index or constraint "
                                       "on exactly those columns; a check may match several rows");
            return;
        }
        // A unique index lets several rows share a NULL key, so such rows cannot be told apart.
        const bool nullable = std::any_of(rule.key.begin(), rule.key.end(), [&columns](const std::string& column) {
            const auto found = columns.find(column);
            return found != columns.end() && !found->second.not_null;
        });
        if (!primary && nullable) {
            report_.warnings.push_back(table + ": key (" + key_list +
                                       ") is unique but allows NULL; rows with a NULL key cannot be told apart");
        }
    }

    // staleguard sees a write by the name it is addressed to: one addressed to a partition or a
    // child table passes the parent's rule by, unbumped.
    void warn_of_descendants(const std::string& oid, const std::string& table) {
        auto result = query(descendants_sql, {oid.c_str()}, table);
        if (!result) return;
        const int count = PQntuples(result->get());
        if (count == 0) return;
        constexpr int shown = 5;
        std::string names;
        for (int row = 0; row < std::min(count, shown); ++row) {
            if (!names.empty()) names += ", ";
            names += printable(PQgetvalue(result->get(), row, 0));
        }
        if (count > shown) names += " and " + std::to_string(count - shown) + " more";
        report_.warnings.push_back(table + ": writes addressed to its partitions or child tables by their own names (" +
                                   names +
                                   ") are neither bumped nor checked; bumped_by: trigger (a row trigger on a "
                                   "partitioned table fires for its partitions) or version: xmin notices them");
    }

    void check_has_triggers(const std::string& oid, const std::string& table) {
        auto result = query(user_triggers_sql, {oid.c_str()}, table);
        if (result && std::string_view(PQgetvalue(result->get(), 0, 0)) == "0") {
            report_.warnings.push_back(table + ": bumped_by trigger, but the table has no triggers");
        }
    }

    void warn_if_missing(const std::map<std::string, CatalogColumn>& columns, const std::string& column,
                         std::string_view list, const std::string& table) {
        if (!columns.contains(column)) {
            report_.warnings.push_back(table + ": " + std::string(list) + " column " +
                                       printable(quote_identifier(column)) + " does not exist");
        }
    }

    PGconn* connection_;
    SchemaCheckReport& report_;
};

}  // namespace

SchemaCheckReport check_rules_against_database(const RuleSet& rules, const std::string& conninfo) {
    SchemaCheckReport report;
    auto connected = connect_database(conninfo);
    if (auto* error = std::get_if<std::string>(&connected)) {
        report.problems.push_back(*error);
        return report;
    }
    const PgConnection connection = std::move(std::get<PgConnection>(connected));
    try {
        CatalogReader reader(connection.get(), report);
        for (const TableRule& rule : rules.tables) {
            reader.check_table(rule);
        }
        reader.check_roles(rules);
    } catch (const std::exception& error) {
        report.problems.push_back(std::string("schema check failed: ") + error.what());
    }
    return report;
}

}  // namespace staleguard::rules
