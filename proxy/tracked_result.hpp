// Track mode between the statement guard and the session: what to do with the rows of one tracked statement, and the write check it carries.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/binary_values.hpp"
#include "proxy/hidden_columns.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::session {

// A row this session read, as the ReadSet holds it: key values and version as PostgreSQL's text.
struct SeenRow {
    std::vector<std::string> keys;
    std::string version;
};

// A row a write changed and its new version, as its hidden RETURNING shows them (copied out of
// its DataRow).
struct ReturnedRow {
    std::vector<std::string> keys;
    std::string version;
};

// A keyed write in track mode: every row in `seen` must still carry its version. The write's
// hidden RETURNING shows the rows it changed; one it left alone was changed or deleted meanwhile,
// or passed over by the rest of its WHERE (`AND state = 'queued'`) or by a trigger, which only a
// fresh read of its version tells apart.
struct TrackCheck {
    std::shared_ptr<const rules::RuleSet> rules;  // keeps `rule` alive across a reload
    const rules::TableRule* rule = nullptr;
    std::string sqlstate = "40001";
    bool is_delete = false;
    std::vector<SeenRow> seen;
    // Key tuples the write names, seen or not: with one, a stale write changes no row at all.
    std::size_t targeted_rows = 0;
    // The write sets a key column (and names one key tuple): what it returns carries the new
    // key, so whether it returned a row at all is the verdict.
    bool assigns_key = false;
};

struct TrackedResult {
    HiddenLayout layout;
    // False when the hidden columns are a RETURNING staleguard added: the client gets no rows
    // and NoData where the server describes them.
    bool client_sees_rows = true;
    bool is_write = false;  // rows returned by a write are the session's own new versions
    bool is_delete = false;
    std::optional<TrackCheck> check;
    // Keys a key-setting UPDATE moves rows away from: the ReadSet forgets them once it succeeds.
    std::vector<std::vector<std::string>> moved_from;
    // A checked counter write of one row sent without its hidden RETURNING (it costs the server
    // more than the rest of the rewrite): if it changed one row, that is this row, at the seen
    // version + 1, since the check pinned the version the bump started from.
    std::optional<ReturnedRow> written_if_one_row;
};

// The rows of `check.seen` that `returned` does not contain: the write left them alone.
std::vector<SeenRow> stale_rows(const TrackCheck& check, const std::vector<ReturnedRow>& returned);

// A query for the current versions of `rows` (key columns, then the version, as text, like the
// hidden columns): run after a write that left them alone, in its transaction.
std::string current_versions_query(const rules::TableRule& rule, const std::vector<SeenRow>& rows);

// The rows of `candidates` that `current` (what current_versions_query found) shows changed or
// gone; a row still carrying the version read was passed over by the write's WHERE or a trigger.
std::vector<SeenRow> changed_rows(const std::vector<SeenRow>& candidates, const std::vector<ReturnedRow>& current);

// The ErrorResponse for a track-mode stale write naming the stale keys; `still_current` is how
// many of the rows read were still as read.
wire::ErrorResponse track_stale_error(const TrackCheck& check, const std::vector<SeenRow>& stale,
                                      std::size_t still_current);

// The ErrorResponse for a write of rows the session never read, under `unread: reject`.
wire::ErrorResponse unread_write_error(const rules::TableRule& rule, std::string_view sqlstate,
                                       const std::vector<std::vector<std::string>>& unread);

// The elements of an array parameter of a Bind, as text: a text-format array literal
// ({1,2,"a b"}) or a binary one-dimensional array of a type wire::binary_value_text reads under
// `settings`. nullopt when it cannot be read (the keys it carries then count as unknown).
std::optional<std::vector<std::string>> array_parameter_elements(wire::Bytes value, std::int16_t format,
                                                                 const wire::ValueTextSettings& settings);

// "1", "1, 7" for one row; "(1, 2)" or "(1, 7), (2, 8)" for several.
std::string key_list_text(const std::vector<std::vector<std::string>>& rows);

}  // namespace staleguard::session
