// The listener: accepts clients, owns the registry of live sessions, enforces the connection
// cap, and runs the two-stage shutdown (stop accepting, end sessions at rest, then force).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/asio.hpp"
#include "proxy/metrics.hpp"
#include "proxy/rule_runtime.hpp"
#include "proxy/session_stats.hpp"
#include "proxy/settings.hpp"
#include "proxy/tls_context.hpp"

namespace staleguard::session {

class Session;

class Server {
public:
    // One io_context per worker thread: a session lives on one of them (round robin) for its whole
    // life, so its two sockets never hand work across threads. The first also runs the acceptor.
    Server(std::vector<boost::asio::io_context*> contexts, ProxySettings settings, RuleRuntime& rules,
           TlsContexts tls = {});
    // Removes the Unix-domain socket file, if shutdown has not already.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the listening sockets (throws on failure: start-up errors are fatal) and accepts.
    void start();
    // Thread-safe and idempotent.
    void begin_shutdown();
    // Thread-safe: the second signal does not wait for sessions to reach rest.
    void force_shutdown();
    // Called once, from a worker thread, when shutdown has begun and no session is left.
    void on_drained(std::function<void()> callback) { on_drained_ = std::move(callback); }

    const ProxySettings& settings() const { return settings_; }
    const RuleRuntime& rules() const { return rules_; }
    // Thread-safe: OpenSSL contexts are only read once built.
    TlsContexts& tls() { return tls_; }
    boost::asio::io_context& io() { return *contexts_.front(); }
    boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void session_ended(std::uint64_t id);
    std::size_t session_count() const;

    // Counters for /metrics and SHOW STATS; sessions update them from every worker thread.
    ProxyMetrics& metrics() { return metrics_; }
    // The counters plus what lives elsewhere (parse caches, with the rules).
    MetricsSnapshot metrics_snapshot() const;
    // What SIGHUP and the admin console's RELOAD do: load the rule file again (the old rules stay
    // on any problem) and count the outcome. Thread-safe.
    RuleLoadOutcome reload_rules();
    // The live sessions' shared records, by id (SHOW SESSIONS).
    std::vector<std::shared_ptr<const SessionStats>> session_stats() const;

private:
    template <typename Acceptor>
    boost::asio::awaitable<void> accept_loop(Acceptor& acceptor);
    void close_listeners();
    void maybe_finish_shutdown();
    std::vector<std::shared_ptr<Session>> live_sessions() const;

    std::vector<boost::asio::io_context*> contexts_;
    std::size_t next_context_ = 0;  // touched by the accept loop only
    ProxySettings settings_;
    RuleRuntime& rules_;
    TlsContexts tls_;
    ProxyMetrics metrics_;
    boost::asio::ip::tcp::acceptor acceptor_;
    // --unix-socket-dir; on acceptor_'s strand, like it.
    std::optional<boost::asio::local::stream_protocol::acceptor> unix_acceptor_;
    std::string unix_socket_path_;  // set while our socket file exists
    boost::asio::steady_timer force_timer_;

    mutable std::mutex mutex_;
    std::mutex reload_mutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
    std::unordered_map<std::uint64_t, std::shared_ptr<const SessionStats>> stats_;
    std::uint64_t next_session_id_ = 1;
    bool shutting_down_ = false;
    bool drained_ = false;
    std::function<void()> on_drained_;
};

}  // namespace staleguard::session
