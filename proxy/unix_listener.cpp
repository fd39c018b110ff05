// Binding the Unix-domain listener, with PostgreSQL's handling of a socket file left behind.
#include "proxy/unix_listener.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace staleguard::session {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// A socket file outlives a process killed with SIGKILL. Whether one is stale is told the way
// PostgreSQL and pgbouncer tell it: a live server accepts a connection on it.
void clear_leftover_socket(const std::string& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0) {
        if (errno == ENOENT) return;
        throw std::runtime_error("cannot inspect " + path + ": " + std::strerror(errno));
    }
    if (!S_ISSOCK(status.st_mode)) throw std::runtime_error(path + " exists and is not a socket; not replacing it");
    asio::io_context probe_context;
    local::socket probe(probe_context);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) throw std::runtime_error("another server is already accepting connections on " + path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw std::runtime_error("cannot remove the stale socket file " + path + ": " + std::strerror(errno));
}

}  // namespace

local::acceptor listen_on_unix_socket(const asio::any_io_executor& executor, const std::string& path) {
    // sockaddr_un holds 107 bytes of path; asio would refuse a longer one with a vaguer message.
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        throw std::runtime_error("socket path " + path + " is longer than the " +
                                 std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes a Unix-domain socket allows");
    clear_leftover_socket(path);
    local::acceptor acceptor(executor);
    acceptor.open();
    acceptor.bind(local::endpoint(path));
    if (::chmod(path.c_str(), 0777) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw std::runtime_error("cannot set the mode of " + path + ": " + std::strerror(error));
    }
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor;
}

void remove_unix_socket_file(const std::string& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode)) ::unlink(path.c_str());
}

}  // namespace staleguard::session
