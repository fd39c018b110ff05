// Tells a direct TLS connection (libpq 17's sslnegotiation=direct) from a PostgreSQL startup
// packet by the first byte, as PostgreSQL 17 does.
#pragma once

#include <cstdint>
#include <span>

namespace staleguard::session {

enum class FirstBytes {
    Unknown,         // nothing read yet
    TlsHandshake,    // a TLS record of type handshake (0x16): a ClientHello
    StartupPacket,   // anything else: a length word, whose first byte is 0 for any sane packet
};

FirstBytes classify_first_bytes(std::span<const std::uint8_t> bytes);

}  // namespace staleguard::session
