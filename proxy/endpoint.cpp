// Parsing and printing HOST:PORT.
#include "proxy/endpoint.hpp"

#include <charconv>

namespace staleguard::session {

std::string Endpoint::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::string Endpoint::socket_path() const {
    std::string directory = host;
    while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
    if (directory != "/") directory += '/';
    return directory + ".s.PGSQL." + std::to_string(port);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
    }
    if (host.empty() || port_text.empty()) return std::nullopt;
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
        return std::nullopt;
    return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

}  // namespace staleguard::session
