// What the catalog of a live database says about one rule's table, read with libpq.
#include "rules/table_catalog.hpp"

#include <vector>

namespace staleguard::rules {
namespace {

// Names are passed as parameters, never pasted into SQL: they come from a file and may hold quotes.
constexpr const char* find_table_sql =
    "SELECT c.oid::text, c.relkind::text FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = $1 AND c.relname = $2";

// Domains count as their base type: a `version_counter` domain over bigint is still a counter.
constexpr const char* columns_sql =
    "SELECT a.attname, "
    "       pg_catalog.format_type(a.atttypid, a.atttypmod), "
    "       bt.typname, "
    "       a.attnotnull::text "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
    "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped";

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

std::string relkind_name(std::string_view relkind) {
    if (relkind == "v") return "a view";
    if (relkind == "m") return "a materialized view";
    if (relkind == "f") return "a foreign table";
    if (relkind == "i" || relkind == "I") return "an index";
    if (relkind == "S") return "a sequence";
    if (relkind == "c") return "a composite type";
    if (relkind == "t") return "a TOAST table";
    return "relkind " + std::string(relkind);
}

}  // namespace

std::variant<PgConnection, std::string> connect_database(const std::string& conninfo) {
    PgConnection connection(PQconnectdb(conninfo.c_str()));
    if (!connection) {
        return std::string("cannot connect to database: out of memory");
    }
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        return "cannot connect to database: " + connection_error(connection.get());
    }
    return connection;
}

std::string connection_error(PGconn* connection) { return trimmed(PQerrorMessage(connection)); }

PgResult query_rows(PGconn* connection, const char* sql, std::initializer_list<const char*> parameters) {
    const std::vector<const char*> values(parameters);
    PgResult result(PQexecParams(connection, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                 nullptr, 0));
    if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
        return nullptr;
    }
    return result;
}

TableCatalogRead read_table_catalog(PGconn* connection, const QualifiedName& table) {
    const PgResult found = query_rows(connection, find_table_sql, {table.schema.c_str(), table.name.c_str()});
    if (!found) {
        return {std::nullopt, connection_error(connection)};
    }
    TableCatalog catalog;
    if (PQntuples(found.get()) == 0) {
        return {std::move(catalog), {}};
    }
    const std::string relkind = PQgetvalue(found.get(), 0, 1);
    if (relkind != "r" && relkind != "p") {
        catalog.relation = TableCatalog::Relation::NotATable;
        catalog.relation_kind = relkind_name(relkind);
        return {std::move(catalog), {}};
    }
    catalog.relation = TableCatalog::Relation::Table;
    catalog.oid = PQgetvalue(found.get(), 0, 0);
    const PgResult columns = query_rows(connection, columns_sql, {catalog.oid.c_str()});
    if (!columns) {
        return {std::nullopt, connection_error(connection)};
    }
    for (int row = 0; row < PQntuples(columns.get()); ++row) {
        catalog.columns[PQgetvalue(columns.get(), row, 0)] =
            CatalogColumn{PQgetvalue(columns.get(), row, 1), PQgetvalue(columns.get(), row, 2),
                          std::string_view(PQgetvalue(columns.get(), row, 3)) == "true"};
    }
    return {std::move(catalog), {}};
}

}  // namespace staleguard::rules
