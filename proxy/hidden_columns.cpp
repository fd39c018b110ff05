// Removing track mode's hidden columns from RowDescription and DataRow, and widening Bind's result formats.
#include "proxy/hidden_columns.hpp"

#include <cstring>
#include <limits>
#include <optional>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/codec/message_tag.hpp"

namespace staleguard::session {
namespace {

constexpr char kDataRowTag = static_cast<char>(wire::BackendTag::DataRow);
constexpr std::size_t kLengthSize = 4;
constexpr std::size_t kCountSize = 2;
constexpr std::size_t kMaxCount = std::numeric_limits<std::uint16_t>::max();

void put_uint32(std::uint8_t* out, std::uint32_t value) {
    out[0] = static_cast<std::uint8_t>(value >> 24);
    out[1] = static_cast<std::uint8_t>(value >> 16);
    out[2] = static_cast<std::uint8_t>(value >> 8);
    out[3] = static_cast<std::uint8_t>(value);
}

void put_uint16(std::uint8_t* out, std::uint16_t value) {
    out[0] = static_cast<std::uint8_t>(value >> 8);
    out[1] = static_cast<std::uint8_t>(value);
}

// Reads DataRow column values in place; the first failure is kept and every later read fails.
class ColumnCursor {
public:
    explicit ColumnCursor(wire::Bytes payload) : payload_(payload) {}

    std::size_t position() const { return position_; }
    bool at_end() const { return position_ == payload_.size(); }

    bool column_count(std::size_t& count) {
        if (payload_.size() < kCountSize) return false;
        count = (std::size_t{payload_[0]} << 8) | payload_[1];
        position_ = kCountSize;
        return true;
    }

    // Moves past one value; `value` is nullopt for NULL. False on a malformed length.
    bool next(std::optional<std::string_view>& value) {
        if (payload_.size() - position_ < kLengthSize) return false;
        const auto* at = payload_.data() + position_;
        const auto length = static_cast<std::int32_t>((std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) |
                                                      (std::uint32_t{at[2]} << 8) | std::uint32_t{at[3]});
        position_ += kLengthSize;
        if (length == -1) {
            value.reset();
            return true;
        }
        if (length < 0 || static_cast<std::size_t>(length) > payload_.size() - position_) return false;
        value.emplace(reinterpret_cast<const char*>(payload_.data() + position_), static_cast<std::size_t>(length));
        position_ += static_cast<std::size_t>(length);
        return true;
    }

private:
    wire::Bytes payload_;
    std::size_t position_ = 0;
};

std::vector<std::uint8_t> frame_with_payload(char tag, wire::Bytes payload) {
    std::vector<std::uint8_t> out(1 + kLengthSize + payload.size());
    out[0] = static_cast<std::uint8_t>(tag);
    put_uint32(out.data() + 1, static_cast<std::uint32_t>(kLengthSize + payload.size()));
    if (!payload.empty()) std::memcpy(out.data() + 1 + kLengthSize, payload.data(), payload.size());
    return out;
}

wire::CodecError data_row_error(std::string reason) { return wire::codec_error("DataRow: " + std::move(reason)); }

}  // namespace

std::size_t HiddenLayout::hidden_count() const {
    std::size_t count = 0;
    for (const auto& group : groups) count += group.key_count + 1;
    return count;
}

wire::Result<std::vector<std::uint8_t>> strip_row_description(const wire::Frame& frame, const HiddenLayout& layout) {
    auto description = wire::RowDescription::decode(frame);
    if (!description) return description.error();
    const std::size_t hidden = layout.hidden_count();
    auto& fields = description->fields;
    if (fields.size() < hidden) {
        return wire::codec_error("RowDescription: " + std::to_string(fields.size()) + " fields, fewer than the " +
                                 std::to_string(hidden) + " hidden ones");
    }
    fields.resize(fields.size() - hidden);
    return description->encode();
}

wire::Result<DataRowSplit> split_data_row(const wire::Frame& frame, const HiddenLayout& layout,
                                          std::vector<TrackedRow>& tracked_out) {
    if (frame.tag != kDataRowTag) {
        tracked_out.clear();
        return wire::codec_error("DataRow: wrong message type");
    }
    ColumnCursor cursor(frame.payload);
    std::size_t count = 0;
    if (!cursor.column_count(count)) {
        tracked_out.clear();
        return data_row_error("message ends inside column count");
    }
    const std::size_t hidden = layout.hidden_count();
    if (count < hidden) {
        tracked_out.clear();
        return data_row_error(std::to_string(count) + " columns, fewer than the " + std::to_string(hidden) +
                              " hidden ones");
    }
    const std::size_t visible = count - hidden;
    std::optional<std::string_view> value;
    for (std::size_t column = 0; column < visible; ++column) {
        if (!cursor.next(value)) {
            tracked_out.clear();
            return data_row_error("malformed column " + std::to_string(column + 1));
        }
    }
    const std::size_t visible_end = cursor.position();

    std::size_t used = 0;  // entries of tracked_out filled for this row
    std::size_t column = visible;
    for (std::size_t group = 0; group < layout.groups.size(); ++group) {
        if (used == tracked_out.size()) tracked_out.emplace_back();
        TrackedRow& row = tracked_out[used];
        row.group = group;
        row.keys.clear();
        bool complete = true;
        for (std::size_t part = 0; part <= layout.groups[group].key_count; ++part, ++column) {
            if (!cursor.next(value)) {
                tracked_out.clear();
                return data_row_error("malformed column " + std::to_string(column + 1));
            }
            if (!value) {
                complete = false;
            } else if (part < layout.groups[group].key_count) {
                row.keys.push_back(*value);
            } else {
                row.version = *value;
            }
        }
        if (complete) ++used;
    }
    if (!cursor.at_end()) {
        tracked_out.clear();
        return data_row_error(std::to_string(frame.payload.size() - cursor.position()) + " trailing bytes");
    }
    tracked_out.resize(used);

    DataRowSplit split;
    split.header[0] = static_cast<std::uint8_t>(kDataRowTag);
    put_uint32(split.header.data() + 1, static_cast<std::uint32_t>(kLengthSize + visible_end));
    put_uint16(split.header.data() + 1 + kLengthSize, static_cast<std::uint16_t>(visible));
    split.visible_columns = frame.payload.subspan(kCountSize, visible_end - kCountSize);
    return split;
}

wire::Result<std::vector<std::uint8_t>> strip_data_row(const wire::Frame& frame, const HiddenLayout& layout,
                                                       std::vector<TrackedRow>& tracked_out) {
    auto split = split_data_row(frame, layout, tracked_out);
    if (!split) return split.error();
    std::vector<std::uint8_t> out(split->frame_size());
    std::memcpy(out.data(), split->header.data(), split->header.size());
    if (!split->visible_columns.empty()) {
        std::memcpy(out.data() + split->header.size(), split->visible_columns.data(), split->visible_columns.size());
    }
    return out;
}

wire::Result<std::vector<std::uint8_t>> extend_bind_result_formats(const wire::Frame& bind_frame,
                                                                   std::size_t hidden_count) {
    const auto bind = wire::Bind::decode(bind_frame);
    if (!bind) return bind.error();
    const std::size_t formats = bind->result_formats.size();
    if (hidden_count == 0 || formats <= 1) return frame_with_payload(bind_frame.tag, bind_frame.payload);
    if (hidden_count > kMaxCount - formats) {
        return wire::codec_error("Bind: " + std::to_string(formats) + " result formats and " +
                                 std::to_string(hidden_count) + " hidden columns exceed 65535");
    }
    // Bind ends with its result formats (decode rejects trailing bytes): keep everything before
    // their count, write the new count, the old codes, then zeros (text) for the hidden columns.
    const auto payload = bind_frame.payload;
    const std::size_t codes_size = formats * kCountSize;
    const std::size_t head_size = payload.size() - codes_size - kCountSize;
    const std::size_t payload_size = payload.size() + hidden_count * kCountSize;
    std::vector<std::uint8_t> out(1 + kLengthSize + payload_size, 0);
    out[0] = static_cast<std::uint8_t>(bind_frame.tag);
    put_uint32(out.data() + 1, static_cast<std::uint32_t>(kLengthSize + payload_size));
    auto* at = out.data() + 1 + kLengthSize;
    std::memcpy(at, payload.data(), head_size);
    at += head_size;
    put_uint16(at, static_cast<std::uint16_t>(formats + hidden_count));
    at += kCountSize;
    std::memcpy(at, payload.data() + head_size + kCountSize, codes_size);
    return out;
}

}  // namespace staleguard::session
