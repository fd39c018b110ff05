// The untagged messages of the startup phase: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::wire {

inline constexpr std::uint32_t kProtocolMajor3 = 3;
inline constexpr std::uint32_t kSslRequestCode = 80877103;     // 1234.5679
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;  // 1234.5680
inline constexpr std::uint32_t kCancelRequestCode = 80877102;  // 1234.5678
inline constexpr std::size_t kMinCancelKeyLength = 4;
inline constexpr std::size_t kMaxCancelKeyLength = 256;  // protocol 3.2 allows keys up to 256 bytes

struct StartupMessage {
    std::uint32_t protocol_version = 3u << 16;  // major << 16 | minor
    std::vector<std::pair<std::string, std::string>> parameters;  // in wire order

    std::uint16_t major() const { return static_cast<std::uint16_t>(protocol_version >> 16); }
    std::uint16_t minor() const { return static_cast<std::uint16_t>(protocol_version & 0xffff); }
    // The value of a parameter ("user", "database", "options", ...), empty when absent.
    std::string_view parameter(std::string_view name) const;

    static Result<StartupMessage> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct SslRequest {
    std::vector<std::uint8_t> encode() const;
};

struct GssEncRequest {
    std::vector<std::uint8_t> encode() const;
};

struct CancelRequest {
    std::int32_t process_id = 0;
    std::vector<std::uint8_t> secret_key;  // 4..256 bytes

    static Result<CancelRequest> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

// Tells the four startup-phase messages apart by their request code, and validates each.
Result<StartupPacket> decode_startup_packet(const Frame& frame);

}  // namespace staleguard::wire
