// Binding the Unix-domain listener, with PostgreSQL's handling of a socket file left behind.
#include "proxy/unix_listener.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <vector>

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

// The group id `group` names: a group name, else a number, as chgrp takes it.
gid_t group_id(const std::string& group) {
    std::vector<char> buffer(16384);
    struct group entry {};
    struct group* found = nullptr;
    if (::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr)
        return found->gr_gid;
    gid_t id = 0;
    const auto [end, error] = std::from_chars(group.data(), group.data() + group.size(), id);
    if (!group.empty() && error == std::errc() && end == group.data() + group.size()) return id;
    throw std::runtime_error("there is no group " + group);
}

void set_access(const std::string& path, const UnixSocketAccess& access) {
    if (!access.group.empty() && ::chown(path.c_str(), static_cast<uid_t>(-1), group_id(access.group)) != 0)
        throw std::runtime_error("cannot give " + path + " to group " + access.group + ": " + std::strerror(errno));
    if (::chmod(path.c_str(), access.mode) != 0)
        throw std::runtime_error("cannot set the mode of " + path + ": " + std::strerror(errno));
}

}  // namespace

local::acceptor listen_on_unix_socket(const asio::any_io_executor& executor, const std::string& path,
                                      const UnixSocketAccess& access) {
    // sockaddr_un holds 107 bytes of path; asio would refuse a longer one with a vaguer message.
    if (path.size() >= sizeof(sockaddr_un::sun_path))
        throw std::runtime_error("socket path " + path + " is longer than the " +
                                 std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes a Unix-domain socket allows");
    clear_leftover_socket(path);
    local::acceptor acceptor(executor);
    acceptor.open();
    acceptor.bind(local::endpoint(path));
    try {
        set_access(path, access);
    } catch (...) {
        ::unlink(path.c_str());
        throw;
    }
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor;
}

void remove_unix_socket_file(const std::string& path) {
    struct stat status {};
    if (::lstat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode)) ::unlink(path.c_str());
}

}  // namespace staleguard::session
