// The Unix-domain listening socket (--unix-socket-dir): DIR/.s.PGSQL.PORT, as PostgreSQL and
// pgbouncer name theirs, so that `psql -h DIR -p PORT` finds it.
#pragma once

#include <string>

#include "proxy/asio.hpp"

namespace staleguard::session {

// Who may connect to the socket file: its permission bits and, when named, its group (a name
// or a numeric id). The default lets every local user in, as PostgreSQL's
// unix_socket_permissions and pgbouncer's unix_socket_mode do: authentication decides, as over TCP.
struct UnixSocketAccess {
    unsigned mode = 0777;
    std::string group;  // empty: the group the file is created with
};

// Binds and listens on `path` with `access` set before the first client can connect. A socket
// file left by a process that died is replaced; one that a live server still accepts on, a path
// that is not a socket, or a group that does not exist is refused (throws with the reason).
boost::asio::local::stream_protocol::acceptor listen_on_unix_socket(const boost::asio::any_io_executor& executor,
                                                                    const std::string& path,
                                                                    const UnixSocketAccess& access = {});

// Removes the socket file at `path` if it is still a socket; quiet when it is already gone.
void remove_unix_socket_file(const std::string& path);

}  // namespace staleguard::session
