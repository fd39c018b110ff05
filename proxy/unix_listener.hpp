// The Unix-domain listening socket (--unix-socket-dir): DIR/.s.PGSQL.PORT, as PostgreSQL and
// pgbouncer name theirs, so that `psql -h DIR -p PORT` finds it.
#pragma once

#include <string>

#include "proxy/asio.hpp"

namespace staleguard::session {

// Binds and listens on `path`, readable and writable by every local user (0777, as PostgreSQL's
// unix_socket_permissions and pgbouncer's unix_socket_mode default to): access is decided by
// authentication, as over TCP. A socket file left by a process that died is replaced; one that
// a live server still accepts on, or a path that is not a socket, is refused (throws with the
// reason).
boost::asio::local::stream_protocol::acceptor listen_on_unix_socket(const boost::asio::any_io_executor& executor,
                                                                    const std::string& path);

// Removes the socket file at `path` if it is still a socket; quiet when it is already gone.
void remove_unix_socket_file(const std::string& path);

}  // namespace staleguard::session
