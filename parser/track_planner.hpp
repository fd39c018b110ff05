// Track mode's plan for each statement of a query string: reads that get hidden columns, keyed writes that get a version slot.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/keyed_write.hpp"
#include "parser/read_tracking.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::parser {

struct TrackedStatement {
    enum class Kind {
        Untracked,   // sent as the rewriter says
        Read,        // tracking.sql is sent; its hidden columns feed the session's ReadSet
        KeyedWrite,  // keyed.sql_before_slot + <version predicate> + keyed.sql_after_slot is sent
        // A write not checked (not by key, or an INSERT): tracking.sql is sent; its hidden
        // RETURNING shows the session the versions it wrote, which a later check of those rows
        // must expect rather than the ones it had read.
        UnkeyedWrite,
    };
    Kind kind = Kind::Untracked;
    std::string reason;      // Untracked: why, for the debug log
    ReadTracking tracking;   // Read: the statement; a write: its hidden RETURNING columns
    KeyedWrite keyed;        // KeyedWrite
    int highest_parameter = 0;  // the largest $n the statement uses (0: none)
    // The rules the plan's TableRule pointers point into: a session keeps a plan (a prepared
    // statement) across a reload that frees the rules it was made with.
    std::shared_ptr<const rules::RuleSet> rules;

    // The table whose written rows the hidden RETURNING shows (a write); empty for anything else.
    std::string_view written_table() const {
        if (kind == Kind::KeyedWrite) return keyed.target.table_name;
        if (kind == Kind::UnkeyedWrite && !tracking.tables.empty()) return tracking.tables.front().name;
        return {};
    }
};

class TrackPlanner {
public:
    explicit TrackPlanner(std::shared_ptr<const rules::RuleSet> rules, std::size_t cache_capacity = 4096);
    ~TrackPlanner();
    TrackPlanner(const TrackPlanner&) = delete;
    TrackPlanner& operator=(const TrackPlanner&) = delete;

    // Whether any rule is in track mode: without one there is nothing to plan.
    bool active() const { return active_; }
    // For one statement (without the ones around it), as the rewriter left it: its version
    // bumps are kept (a keyed write's own bump is the same edit, made again).
    // A cached plan is reused while `resolve` still answers as it did for the bare names the
    // plan asked about.
    std::shared_ptr<const TrackedStatement> plan(std::string_view statement, const SchemaResolver& resolve) const;
    // Lookups in the plan cache so far (for the metrics endpoint).
    RewriteCacheStats cache_stats() const;

private:
    struct Cache;
    std::shared_ptr<const rules::RuleSet> rules_;
    bool active_ = false;
    std::unique_ptr<Cache> cache_;
};

// The statements of a query string as PostgreSQL splits them, each without the blanks and
// comments around it; nullopt when the scanner refuses the string.
std::optional<std::vector<std::string_view>> split_statements(std::string_view sql);

// Whether a statement is `COPY ... FROM STDIN`: the server then waits for the client's CopyData,
// so nothing may be sent behind it before the copy ends.
bool copies_from_client(std::string_view statement);

// The version predicate for a keyed write's slot: true for a row whose key is not in
// `keys_array`, else only when the row's key and version together are in `pairs_array` (each
// seen_pair()). Both are SQL for a text[] (a quoted literal or a $n parameter); keys as
// encoded_key() spells them. `= ANY` over a constant array is a hashed lookup (PostgreSQL 14 and
// later), so a write of tens of thousands of read rows stays linear; a position in one array
// looked up in the other was a scan per row. A plain expression on the row, without a subquery:
// when the UPDATE waits for another transaction's lock on the row, READ COMMITTED re-evaluates it
// against the row that transaction committed (an anti-join with the seen versions would not be
// re-checked).
std::string version_predicate(const rules::TableRule& rule, std::string_view qualifier, std::string_view keys_array,
                              std::string_view pairs_array);

// A targeted row the session's ReadSet holds, with the version it read.
struct SeenVersion {
    std::string key;      // as encoded_key() spells it
    std::string version;  // as the row's version column read as text
    friend bool operator==(const SeenVersion&, const SeenVersion&) = default;
};

// A seen row as one element of version_predicate()'s pairs: the version, a colon, the key
// (unambiguous: a version's text — digits, sign, point — holds no colon).
std::string seen_pair(const SeenVersion& row);

// version_predicate() for seen rows known when the statement is written (a simple Query's
// literals), each key and version a string literal: `CASE key WHEN 'k' THEN version = 'v' ... ELSE
// true END`. The same answer for every row as version_predicate() over arrays of these values
// (a NULL key matches no WHEN; a NULL version equals nothing, which a WHERE treats as false), but
// far cheaper for PostgreSQL to parse and plan, which it does for every such string. "true" when
// no row was seen. A write that names one key tuple (`WHERE id = 1`) reaches no row but that one,
// so its check is the bare `version = 'v'`, cheaper still (a few µs of server CPU per statement).
// Beyond 8 seen rows, `CASE WHEN key = ANY ('{...}') THEN <key and version> = ANY ('{...}') ELSE
// true END`: hashed lookups, where the WHENs would be tried one by one for every row.
std::string literal_version_predicate(const rules::TableRule& rule, std::string_view qualifier,
                                      const std::vector<SeenVersion>& seen, bool one_key_tuple);

// A row's version as the text staleguard remembers and compares: `<column>::text`, and for kind
// timestamp `pg_catalog.extract('epoch', <column>)::text` — seconds since 1970 (UTC for
// timestamptz) to the microsecond, which, unlike a timestamp's own text, the session's TimeZone
// and DateStyle do not change between the read and the write.
std::string version_text_sql(const rules::TableRule& rule, std::string_view column_reference);

// A remembered version as a person reads it, for messages: a timestamp version's seconds shown as
// `2026-11-27 21:10:00.693394+00`; any other as it is.
std::string displayed_version(const rules::TableRule& rule, std::string_view version);

// A row's key values as the one text version_predicate() compares: the value itself for a
// single-column key; for a composite key the values joined by commas, each with its backslashes
// and commas escaped by a backslash ("7" "1,2" → "7,1\,2"), so that no two keys read the same.
// Only ASCII bytes are added, which every encoding PostgreSQL converts between keeps as they are:
// a length prefix counted in characters differed between a LATIN1 client's bytes and the server.
std::string encoded_key(const std::vector<std::string>& key_values);

// A string literal for SQL text, safe whatever standard_conforming_strings says: E'it''s'.
std::string escaped_string_literal(std::string_view value);
// A text[] in PostgreSQL's text input form, for a text-format parameter: {"1","2"}.
std::string text_array_value(const std::vector<std::string>& elements);

}  // namespace staleguard::parser
