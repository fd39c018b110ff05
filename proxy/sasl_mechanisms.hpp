// AuthenticationSASL as the client may see it through a TLS-terminating proxy: without the
// channel-binding (-PLUS) mechanisms, which would bind to staleguard's certificate, not the server's.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "proxy/codec/frame.hpp"

namespace staleguard::session {

// The AuthenticationSASL frame re-encoded without its "-PLUS" mechanisms; nullopt when the frame
// is not AuthenticationSASL, is malformed (forwarded unchanged: the client judges it), or offers
// no -PLUS mechanism. A list of -PLUS mechanisms only is left alone: the client fails it clearly.
std::optional<std::vector<std::uint8_t>> without_channel_binding(const wire::Frame& frame);

}  // namespace staleguard::session
