// Track mode's hidden result columns: removing them from what the client sees and collecting their values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::session {

// One tracked table's hidden columns: key_count key columns, then its version column, all cast
// to text by the rewritten query.
struct HiddenColumnGroup {
    std::string table;
    std::size_t key_count = 0;
};

// The hidden columns of one result are its last hidden_count() columns, group after group.
struct HiddenLayout {
    std::vector<HiddenColumnGroup> groups;
    std::size_t hidden_count() const;
};

// The tracked values of one group in one row. Views into the DataRow frame.
struct TrackedRow {
    std::size_t group = 0;  // index into HiddenLayout::groups
    std::vector<std::string_view> keys;
    std::string_view version;
};

// RowDescription without the trailing hidden fields (a new frame). Error if it is malformed or has
// fewer fields than the layout hides.
[[nodiscard]] wire::Result<std::vector<std::uint8_t>> strip_row_description(const wire::Frame& frame,
                                                                            const HiddenLayout& layout);

// A DataRow split without copying: the visible columns are the first ones, so the frame the
// client gets is a new 7-byte header (tag, length, column count) followed by one contiguous run
// of the original payload.
struct DataRowSplit {
    std::array<std::uint8_t, 7> header{};
    wire::Bytes visible_columns;  // view into the original frame
    std::size_t frame_size() const { return header.size() + visible_columns.size(); }
};

// Walks the column lengths once. tracked_out is overwritten (its elements' storage is reused, so
// a caller that keeps one vector across rows allocates nothing in the steady state); a group
// whose key or version is NULL (an outer join's missing side) yields no entry. On error
// tracked_out is left empty.
[[nodiscard]] wire::Result<DataRowSplit> split_data_row(const wire::Frame& frame, const HiddenLayout& layout,
                                                        std::vector<TrackedRow>& tracked_out);

// DataRow without the hidden columns, as one new frame; see split_data_row.
[[nodiscard]] wire::Result<std::vector<std::uint8_t>> strip_data_row(const wire::Frame& frame,
                                                                     const HiddenLayout& layout,
                                                                     std::vector<TrackedRow>& tracked_out);

// Bind whose result-format codes cover the hidden columns too: 0 or 1 code → unchanged (they
// apply to all columns; the hidden columns are text-typed, where text and binary carry the same
// bytes); N codes, one per visible column → N + hidden_count codes, the hidden ones 0 (text).
[[nodiscard]] wire::Result<std::vector<std::uint8_t>> extend_bind_result_formats(const wire::Frame& bind_frame,
                                                                               std::size_t hidden_count);

}  // namespace staleguard::session
