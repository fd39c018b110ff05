// Private to the codec: bounds-checked big-endian reading of a payload and writing of a frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::wire::detail {

inline std::string quoted_tag(char tag) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(tag);
    std::string text = "0x";
    text += kHex[byte >> 4];
    text += kHex[byte & 0xf];
    return text;
}

// Names the field being read, for the error message only. Kept as parts and joined on failure:
// Bind is decoded for every execution, and building "parameter 7" per value was a tenth of the
// proxy's CPU on prepared statements.
class FieldLabel {
public:
    FieldLabel(const char* name) : name_(name) {}  // NOLINT(google-explicit-constructor)
    FieldLabel(std::string_view name) : name_(name) {}  // NOLINT(google-explicit-constructor)
    // Only for a label built for one call (startup parameters): the label must not outlive it.
    FieldLabel(const std::string& name) : name_(name) {}  // NOLINT(google-explicit-constructor)
    FieldLabel(std::string_view name, std::string_view suffix) : name_(name), suffix_(suffix) {}
    // "NAME NUMBER", e.g. "parameter 3"; numbers count from 1 as users do.
    FieldLabel(std::string_view name, std::size_t number) : name_(name), number_(number) {}
    // "NAME C", e.g. "field M" for an ErrorResponse field code.
    FieldLabel(std::string_view name, char code) : name_(name), code_(code) {}

    std::string text() const {
        std::string out(name_);
        out += suffix_;
        if (number_ != 0) out += " " + std::to_string(number_);
        if (code_ != '\0') {
            out += ' ';
            out += code_;
        }
        return out;
    }

private:
    std::string_view name_;
    std::string_view suffix_;
    std::size_t number_ = 0;
    char code_ = '\0';
};

// Reads one message payload. The first failure is kept with the message name and what was being
// read, and every later read fails too, so a decode can chain reads and check once at the end.
class PayloadReader {
public:
    PayloadReader(const Frame& frame, char expected_tag, std::string_view message_name)
        : data_(frame.payload), message_name_(message_name) {
        if (frame.tag != expected_tag) {
            fail("expected message type " + quoted_tag(expected_tag) + ", got " +
                 quoted_tag(frame.tag));
        }
    }

    // For messages shared by several tags (CopyInResponse/CopyOutResponse/CopyBothResponse).
    PayloadReader(Bytes payload, std::string_view message_name)
        : data_(payload), message_name_(message_name) {}

    std::size_t remaining() const { return failed_ ? 0 : data_.size() - position_; }
    bool failed() const { return failed_; }
    CodecError error() const { return codec_error(error_); }

    bool uint8(std::uint8_t& out, const FieldLabel& what) {
        if (!have(1, what)) return false;
        out = data_[position_++];
        return true;
    }
    bool int8(std::int8_t& out, const FieldLabel& what) {
        std::uint8_t raw = 0;
        if (!uint8(raw, what)) return false;
        out = static_cast<std::int8_t>(raw);
        return true;
    }
    bool uint16(std::uint16_t& out, const FieldLabel& what) {
        if (!have(2, what)) return false;
        out = static_cast<std::uint16_t>((data_[position_] << 8) | data_[position_ + 1]);
        position_ += 2;
        return true;
    }
    bool int16(std::int16_t& out, const FieldLabel& what) {
        std::uint16_t raw = 0;
        if (!uint16(raw, what)) return false;
        out = static_cast<std::int16_t>(raw);
        return true;
    }
    bool uint32(std::uint32_t& out, const FieldLabel& what) {
        if (!have(4, what)) return false;
        out = (std::uint32_t{data_[position_]} << 24) | (std::uint32_t{data_[position_ + 1]} << 16) |
              (std::uint32_t{data_[position_ + 2]} << 8) | std::uint32_t{data_[position_ + 3]};
        position_ += 4;
        return true;
    }
    bool int32(std::int32_t& out, const FieldLabel& what) {
        std::uint32_t raw = 0;
        if (!uint32(raw, what)) return false;
        out = static_cast<std::int32_t>(raw);
        return true;
    }

    // A NUL-terminated string that must end inside the payload; the view excludes the NUL.
    bool cstring(std::string_view& out, const FieldLabel& what) {
        if (failed_) return false;
        const std::size_t left = data_.size() - position_;
        // memchr's pointer must not be null even for a zero length, and an empty payload's may be.
        const auto* begin = left == 0 ? nullptr : data_.data() + position_;
        const auto* nul =
            left == 0 ? nullptr : static_cast<const std::uint8_t*>(std::memchr(begin, 0, left));
        if (nul == nullptr) {
            return fail(what.text() + " is missing its NUL terminator");
        }
        const auto length = static_cast<std::size_t>(nul - begin);
        out = std::string_view(reinterpret_cast<const char*>(begin), length);
        position_ += length + 1;
        return true;
    }

    bool bytes(std::size_t count, Bytes& out, const FieldLabel& what) {
        if (!have(count, what)) return false;
        out = data_.subspan(position_, count);
        position_ += count;
        return true;
    }

    // An Int32 length followed by that many bytes, where -1 means NULL and other negatives are
    // malformed.
    bool nullable_value(std::optional<Bytes>& out, const FieldLabel& what) {
        std::int32_t length = 0;
        if (!int32(length, what)) return false;
        if (length == -1) {
            out.reset();
            return true;
        }
        if (length < 0) {
            return fail(what.text() + " has negative length " + std::to_string(length));
        }
        Bytes value;
        if (!bytes(static_cast<std::size_t>(length), value, what)) return false;
        out = value;
        return true;
    }

    Bytes rest() {
        if (failed_) return {};
        auto tail = data_.subspan(position_);
        position_ = data_.size();
        return tail;
    }

    // Guards every reserve(): `count` items of at least `min_item_size` bytes each must fit in
    // what is left, so a forged count cannot make us allocate.
    bool count_fits(std::size_t count, std::size_t min_item_size, const FieldLabel& what) {
        if (failed_) return false;
        if (count > remaining() / min_item_size) {
            return fail(what.text() + " " + std::to_string(count) + " exceeds message");
        }
        return true;
    }

    // Rejects trailing bytes; the single check a decode returns on.
    bool finish() {
        if (failed_) return false;
        if (position_ != data_.size()) {
            return fail(std::to_string(data_.size() - position_) + " trailing bytes");
        }
        return true;
    }

    bool fail(std::string reason) {
        if (!failed_) {
            failed_ = true;
            error_ = std::string(message_name_) + ": " + std::move(reason);
        }
        return false;
    }

private:
    bool have(std::size_t count, const FieldLabel& what) {
        if (failed_) return false;
        if (count > data_.size() - position_) {
            return fail("message ends inside " + what.text());
        }
        return true;
    }

    Bytes data_;
    std::size_t position_ = 0;
    std::string_view message_name_;
    bool failed_ = false;
    std::string error_;
};

// Builds one frame; finish() fills in the length word.
class FrameWriter {
public:
    // Tagged message: type byte, then the length word.
    explicit FrameWriter(char tag) : length_offset_(1) {
        out_.reserve(kTypicalFrameSize);
        out_.push_back(static_cast<std::uint8_t>(tag));
        uint32(0);
    }
    // Startup-phase packet: the length word comes first.
    static FrameWriter untagged() { return FrameWriter(); }

    FrameWriter& uint8(std::uint8_t value) {
        out_.push_back(value);
        return *this;
    }
    FrameWriter& int8(std::int8_t value) { return uint8(static_cast<std::uint8_t>(value)); }
    FrameWriter& uint16(std::uint16_t value) {
        out_.push_back(static_cast<std::uint8_t>(value >> 8));
        out_.push_back(static_cast<std::uint8_t>(value));
        return *this;
    }
    FrameWriter& int16(std::int16_t value) { return uint16(static_cast<std::uint16_t>(value)); }
    FrameWriter& uint32(std::uint32_t value) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            out_.push_back(static_cast<std::uint8_t>(value >> shift));
        }
        return *this;
    }
    FrameWriter& int32(std::int32_t value) { return uint32(static_cast<std::uint32_t>(value)); }
    // Counts are Int16 on the wire but read back unsigned, as PostgreSQL does; the caller keeps
    // them below 65536.
    FrameWriter& count16(std::size_t count) { return uint16(static_cast<std::uint16_t>(count)); }
    FrameWriter& cstring(std::string_view text) {
        out_.insert(out_.end(), text.begin(), text.end());
        out_.push_back(0);
        return *this;
    }
    FrameWriter& bytes(Bytes data) {
        out_.insert(out_.end(), data.begin(), data.end());
        return *this;
    }
    FrameWriter& nullable_value(const std::optional<Bytes>& value) {
        if (!value) return int32(-1);
        int32(static_cast<std::int32_t>(value->size()));
        return bytes(*value);
    }

    std::vector<std::uint8_t> finish() {
        const auto length = static_cast<std::uint32_t>(out_.size() - length_offset_);
        for (std::size_t i = 0; i < 4; ++i) {
            out_[length_offset_ + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
        }
        return std::move(out_);
    }

private:
    // Most frames the proxy writes (Bind, RowDescription, CommandComplete) fit: growing a vector
    // from one byte up costs a malloc/free pair per doubling.
    static constexpr std::size_t kTypicalFrameSize = 256;

    FrameWriter() : length_offset_(0) { uint32(0); }

    std::vector<std::uint8_t> out_;
    std::size_t length_offset_;
};

}  // namespace staleguard::wire::detail
