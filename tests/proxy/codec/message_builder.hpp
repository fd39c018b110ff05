// Test helper: builds frames byte by byte from typed fields, independently of the codec's encoders.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::wire::test_support {

using Buffer = std::vector<std::uint8_t>;

class MessageBuilder {
public:
    static MessageBuilder tagged(char tag) { return MessageBuilder(tag, true); }
    static MessageBuilder startup() { return MessageBuilder('\0', false); }

    MessageBuilder& u8(std::uint8_t value) {
        body_.push_back(value);
        return *this;
    }
    MessageBuilder& i16(std::int16_t value) {
        const auto raw = static_cast<std::uint16_t>(value);
        body_.push_back(static_cast<std::uint8_t>(raw >> 8));
        body_.push_back(static_cast<std::uint8_t>(raw));
        return *this;
    }
    MessageBuilder& u32(std::uint32_t value) {
        for (int shift = 24; shift >= 0; shift -= 8) body_.push_back(static_cast<std::uint8_t>(value >> shift));
        return *this;
    }
    MessageBuilder& i32(std::int32_t value) { return u32(static_cast<std::uint32_t>(value)); }
    // A string with its NUL terminator.
    MessageBuilder& cstr(std::string_view text) {
        raw(text);
        return u8(0);
    }
    // Bytes as they are, with no terminator.
    MessageBuilder& raw(std::string_view text) {
        body_.insert(body_.end(), text.begin(), text.end());
        return *this;
    }
    MessageBuilder& raw(const Buffer& bytes) {
        body_.insert(body_.end(), bytes.begin(), bytes.end());
        return *this;
    }
    MessageBuilder& filler(std::size_t count, std::uint8_t value = 0xab) {
        body_.insert(body_.end(), count, value);
        return *this;
    }
    // Forges the length word instead of computing it.
    MessageBuilder& length(std::uint32_t forged) {
        forged_length_ = forged;
        return *this;
    }

    // Exactly sized (range construction allocates no spare capacity), so ASan sees over-reads.
    Buffer build() const {
        Buffer out;
        out.reserve((tagged_ ? 1 : 0) + 4 + body_.size());
        if (tagged_) out.push_back(static_cast<std::uint8_t>(tag_));
        const auto length = forged_length_.value_or(static_cast<std::uint32_t>(4 + body_.size()));
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
        out.insert(out.end(), body_.begin(), body_.end());
        return Buffer(out.begin(), out.end());
    }

private:
    MessageBuilder(char tag, bool tagged) : tag_(tag), tagged_(tagged) {}

    char tag_;
    bool tagged_;
    Buffer body_;
    std::optional<std::uint32_t> forged_length_;
};

// A fresh heap buffer holding exactly the first `count` bytes.
inline Buffer first_bytes(const Buffer& source, std::size_t count) {
    return Buffer(source.begin(), source.begin() + static_cast<std::ptrdiff_t>(count));
}

inline Buffer concat(const Buffer& a, const Buffer& b) {
    Buffer joined = a;
    joined.insert(joined.end(), b.begin(), b.end());
    return Buffer(joined.begin(), joined.end());
}

// Static storage for Bytes fields of typed test values.
inline Bytes bytes_of(std::string_view literal) {
    return {reinterpret_cast<const std::uint8_t*>(literal.data()), literal.size()};
}

inline std::string hex(Bytes bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    for (const auto byte : bytes) {
        text += kHex[byte >> 4];
        text += kHex[byte & 0xf];
        text += ' ';
    }
    return text;
}

// The frame at the front of `buffer`; fails the test when there is none.
inline Frame frame_of(const Buffer& buffer, FramePhase phase = FramePhase::Tagged) {
    const FrameReader reader(FrameLimits{});
    const auto outcome = reader.next(buffer, phase);
    EXPECT_TRUE(outcome.is_frame()) << "no frame in " << hex(buffer) << ": " << outcome.error;
    return outcome.frame;
}

// Decodes a frame as T and encodes the result again; the error text when decoding fails.
template <class T>
Result<Buffer> reencode(const Frame& frame) {
    auto decoded = T::decode(frame);
    if (!decoded) return decoded.error();
    return decoded->encode();
}

// One well-formed message: its typed value's encoding must equal bytes built by hand, and
// decoding those bytes and encoding again must give them back. Since encoding is injective over
// well-formed values, the two together mean decode(encode(x)) == x.
struct RoundTripCase {
    std::string name;
    Buffer typed_encoding;  // x.encode()
    Buffer hand_built;      // the same message from MessageBuilder
    std::function<Result<Buffer>(const Frame&)> decode_and_encode;
};

inline std::string case_name(const ::testing::TestParamInfo<RoundTripCase>& info) {
    return info.param.name;
}

}  // namespace staleguard::wire::test_support
