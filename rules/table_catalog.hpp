// What the catalog of a live database says about one rule's table, read with libpq.
#pragma once

#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <libpq-fe.h>

#include "rules/table_rule.hpp"

namespace staleguard::rules {

struct PgConnectionCloser {
    void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct PgResultClearer {
    void operator()(PGresult* result) const { PQclear(result); }
};
using PgConnection = std::unique_ptr<PGconn, PgConnectionCloser>;
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

// A connection, or why there is none ("cannot connect to database: ...").
std::variant<PgConnection, std::string> connect_database(const std::string& conninfo);

// libpq's message for the last failure on `connection`, without its trailing newline.
std::string connection_error(PGconn* connection);

// The rows of a parameterised query, or nullptr when it failed (connection_error says why).
PgResult query_rows(PGconn* connection, const char* sql, std::initializer_list<const char*> parameters);

// The counter and timestamp version types, by base type name (pg_type.typname).
inline constexpr std::array<std::string_view, 4> counter_types{"int2", "int4", "int8", "numeric"};
inline constexpr std::array<std::string_view, 2> timestamp_types{"timestamptz", "timestamp"};

struct CatalogColumn {
    std::string display_type;  // as PostgreSQL prints it, for messages
    std::string base_type;     // pg_type.typname after resolving domains
    bool not_null = false;
};

struct TableCatalog {
    enum class Relation { Missing, Table, NotATable };
    Relation relation = Relation::Missing;
    std::string relation_kind;                     // NotATable: what it is instead ("a view")
    std::string oid;                               // Table: pg_class.oid as text, for further queries
    std::map<std::string, CatalogColumn> columns;  // Table: its live columns by name
};

struct [[nodiscard]] TableCatalogRead {
    std::optional<TableCatalog> table;  // absent when a query failed
    std::string error;                  // libpq's message when it did
};

// Finds `table` and, when it is an ordinary or partitioned table, reads its columns.
// Names travel as parameters, never pasted into SQL.
TableCatalogRead read_table_catalog(PGconn* connection, const QualifiedName& table);

}  // namespace staleguard::rules
