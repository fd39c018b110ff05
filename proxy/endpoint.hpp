// HOST:PORT as given on the command line ("127.0.0.1:5432", "[::1]:5432", "db.internal:5432").
// As in libpq, a HOST that is an absolute path names the directory of a Unix-domain socket:
// "/var/run/postgresql:5432" is the socket file /var/run/postgresql/.s.PGSQL.5432.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace staleguard::session {

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;

    std::string to_string() const;
    bool is_unix_socket() const { return !host.empty() && host.front() == '/'; }
    // DIR/.s.PGSQL.PORT, PostgreSQL's name for the socket file; meaningful when is_unix_socket().
    std::string socket_path() const;
    // nullopt when the text is not HOST:PORT with a port in 1..65535.
    static std::optional<Endpoint> parse(std::string_view text);
};

}  // namespace staleguard::session
