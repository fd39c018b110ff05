// Every limit and timeout of the proxy, named in one place; main.cpp fills them from flags.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/unix_listener.hpp"

namespace staleguard::session {

struct ProxySettings {
    Endpoint listen{"127.0.0.1", 6432};
    Endpoint upstream{"127.0.0.1", 5432};
    // --unix-socket-dir: also accept clients on DIR/.s.PGSQL.<listen port>; empty: TCP only.
    std::string unix_socket_dir;
    // --unix-socket-mode, --unix-socket-group: who may connect to that socket file.
    UnixSocketAccess unix_socket_access;
    std::string rules_file;  // empty: no rules, a transparent proxy
    unsigned threads = 0;    // 0: one per core
    std::size_t max_connections = 1000;
    wire::FrameLimits frame_limits{};
    // Client connect → first ReadyForQuery (startup packet and authentication), like
    // PostgreSQL's authentication_timeout.
    std::chrono::milliseconds startup_timeout{std::chrono::seconds(60)};
    std::chrono::milliseconds upstream_connect_timeout{std::chrono::seconds(10)};
    // After SIGTERM/SIGINT: how long busy sessions may take to reach a ReadyForQuery.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};
    // Bytes read from a socket at once; buffers grow beyond it only for larger messages.
    std::size_t read_chunk = 16 * 1024;
    // Log each statement staleguard rewrote, before and after (debug level). Off by default:
    // statements carry the application's data.
    bool log_statements = false;
    // --metrics: where Prometheus scrapes /metrics; nullopt = no metrics listener.
    std::optional<Endpoint> metrics;
    // --admin-users: roles that may open the admin console (database "staleguard").
    std::vector<std::string> admin_users;
};

}  // namespace staleguard::session
