// First-byte classification of a new client connection.
#include "proxy/tls_sniff.hpp"

namespace staleguard::session {

namespace {
// TLS record content type "handshake"; a startup packet's length word would have to be over
// 369 MB to start with it, far beyond any startup packet limit.
constexpr std::uint8_t kTlsHandshakeRecord = 0x16;
}  // namespace

FirstBytes classify_first_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.empty()) return FirstBytes::Unknown;
    return bytes[0] == kTlsHandshakeRecord ? FirstBytes::TlsHandshake : FirstBytes::StartupPacket;
}

}  // namespace staleguard::session
