// Strips channel-binding SASL mechanisms from AuthenticationSASL.
#include "proxy/sasl_mechanisms.hpp"

#include <string_view>

#include "proxy/codec/backend_messages.hpp"

namespace staleguard::session {

std::optional<std::vector<std::uint8_t>> without_channel_binding(const wire::Frame& frame) {
    if (frame.tag != 'R') return std::nullopt;
    auto message = wire::Authentication::decode(frame);
    if (!message || message->code != wire::AuthenticationCode::Sasl) return std::nullopt;
    // decode validated the list: NUL-terminated names, then an empty one.
    const auto* data = reinterpret_cast<const char*>(message->data.data());
    std::string_view rest(data, message->data.size());
    std::vector<std::uint8_t> kept;
    bool stripped = false;
    while (!rest.empty()) {
        const std::string_view name = rest.substr(0, rest.find('\0'));
        rest.remove_prefix(name.size() + 1);
        if (name.empty()) break;
        if (name.ends_with("-PLUS")) {
            stripped = true;
            continue;
        }
        kept.insert(kept.end(), name.begin(), name.end());
        kept.push_back(0);
    }
    if (!stripped || kept.empty()) return std::nullopt;
    kept.push_back(0);
    wire::Authentication filtered;
    filtered.code = wire::AuthenticationCode::Sasl;
    filtered.data = kept;
    return filtered.encode();
}

}  // namespace staleguard::session
