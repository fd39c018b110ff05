// Accept loop, session registry and two-stage shutdown.
#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "proxy/session.hpp"
#include "proxy/unix_listener.hpp"

namespace staleguard::session {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

namespace {

AcceptedClient accepted(tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    const auto remote = socket.remote_endpoint(ec);
    std::string address = ec ? std::string("unknown") : remote.address().to_string() + ":" + std::to_string(remote.port());
    return {PeerStream::Socket(std::move(socket)), std::move(address), false};
}

AcceptedClient accepted(local::socket socket) {
    return {PeerStream::Socket(std::move(socket)), "[local]", true};
}

}  // namespace

Server::Server(std::vector<asio::io_context*> contexts, ProxySettings settings, RuleRuntime& rules, TlsContexts tls)
    : contexts_(std::move(contexts)),
      settings_(std::move(settings)),
      rules_(rules),
      tls_(std::move(tls)),
      acceptor_(asio::make_strand(*contexts_.front())),
      force_timer_(acceptor_.get_executor()) {}

Server::~Server() {
    if (!unix_socket_path_.empty()) remove_unix_socket_file(unix_socket_path_);
}

void Server::start() {
    try {
        tcp::resolver resolver(io());
        auto results = resolver.resolve(settings_.listen.host, std::to_string(settings_.listen.port),
                                        tcp::resolver::passive);
        if (results.empty()) throw std::runtime_error("the address resolves to nothing");
        const tcp::endpoint endpoint = results.begin()->endpoint();
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(asio::socket_base::max_listen_connections);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot listen on " + settings_.listen.to_string() + ": " + e.what());
    }
    if (!settings_.unix_socket_dir.empty()) {
        const std::string path = Endpoint{settings_.unix_socket_dir, settings_.listen.port}.socket_path();
        try {
            unix_acceptor_.emplace(listen_on_unix_socket(acceptor_.get_executor(), path, settings_.unix_socket_access));
        } catch (const std::exception& e) {
            throw std::runtime_error("cannot listen on socket " + path + ": " + e.what());
        }
        unix_socket_path_ = path;
    }
    spdlog::info("staleguard listening on {} (upstream {}; client TLS {}, upstream TLS {})", settings_.listen.to_string(),
                 settings_.upstream.to_string(), to_string(tls_.settings().client_mode),
                 to_string(tls_.settings().upstream_mode));
    if (unix_acceptor_) spdlog::info("staleguard listening on socket {}", unix_socket_path_);
    asio::co_spawn(acceptor_.get_executor(), accept_loop(acceptor_), asio::detached);
    if (unix_acceptor_) asio::co_spawn(acceptor_.get_executor(), accept_loop(*unix_acceptor_), asio::detached);
}

template <typename Acceptor>
asio::awaitable<void> Server::accept_loop(Acceptor& acceptor) {
    for (;;) {
        boost::system::error_code ec;
        // Both loops run on acceptor_'s strand, so they share the round robin without a lock.
        asio::io_context& home = *contexts_[next_context_++ % contexts_.size()];
        auto socket = co_await acceptor.async_accept(home, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            // Out of descriptors and similar: keep serving the sessions we have.
            spdlog::error("accept failed: {}", ec.message());
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        std::shared_ptr<Session> session;
        {
            std::lock_guard lock(mutex_);
            if (shutting_down_) co_return;
            const bool over_capacity = sessions_.size() >= settings_.max_connections;
            const std::uint64_t id = next_session_id_++;
            session = std::make_shared<Session>(accepted(std::move(socket)), *this, id, over_capacity);
            sessions_.emplace(id, session);
            stats_.emplace(id, session->stats());
        }
        session->start();
    }
}

void Server::session_ended(std::uint64_t id) {
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(id);
        stats_.erase(id);
    }
    maybe_finish_shutdown();
}

std::size_t Server::session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

MetricsSnapshot Server::metrics_snapshot() const {
    auto snapshot = metrics_.snapshot();
    const auto lookups = rules_.cache_lookups();
    snapshot.parse_cache_hits = lookups.hits;
    snapshot.parse_cache_misses = lookups.misses;
    return snapshot;
}

RuleLoadOutcome Server::reload_rules() {
    // One reload at a time: SIGHUP and RELOAD from two admin sessions must not interleave.
    std::lock_guard lock(reload_mutex_);
    spdlog::info("reloading {}", settings_.rules_file.empty() ? "(no rule file)" : settings_.rules_file);
    auto outcome = rules_.load();
    metrics_.rule_reload(outcome.ok);
    return outcome;
}

std::vector<std::shared_ptr<const SessionStats>> Server::session_stats() const {
    std::vector<std::shared_ptr<const SessionStats>> out;
    {
        std::lock_guard lock(mutex_);
        out.reserve(stats_.size());
        for (const auto& [id, stats] : stats_) out.push_back(stats);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id() < b->id(); });
    return out;
}

void Server::begin_shutdown() {
    {
        std::lock_guard lock(mutex_);
        if (shutting_down_) return;
        shutting_down_ = true;
    }
    const auto live = live_sessions();
    spdlog::info("shutting down: no new connections; {} session(s) end at their next ReadyForQuery (at most {} ms)",
                 live.size(), settings_.shutdown_timeout.count());
    for (auto& session : live) session->request_shutdown();
    // The acceptor and the force timer live on one strand; every touch of them goes through it.
    asio::post(acceptor_.get_executor(), [this] {
        close_listeners();
        force_timer_.expires_after(settings_.shutdown_timeout);
        force_timer_.async_wait([this](const boost::system::error_code& wait_ec) {
            if (wait_ec) return;
            const auto remaining = live_sessions();
            if (!remaining.empty())
                spdlog::warn("shutdown timeout: closing {} busy session(s)", remaining.size());
            for (auto& session : remaining) session->force_stop("shutdown timeout");
        });
        // Sessions that ended before the timer was armed found nothing to cancel.
        {
            std::lock_guard lock(mutex_);
            if (drained_) force_timer_.cancel();
        }
    });
    maybe_finish_shutdown();
}

void Server::close_listeners() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    if (unix_acceptor_) unix_acceptor_->close(ec);
    // As PostgreSQL does at shutdown: a socket file nobody accepts on only misleads clients.
    if (!unix_socket_path_.empty()) remove_unix_socket_file(std::exchange(unix_socket_path_, std::string()));
}

void Server::maybe_finish_shutdown() {
    {
        std::lock_guard lock(mutex_);
        if (!shutting_down_ || !sessions_.empty() || drained_) return;
        drained_ = true;
    }
    // With no session left, nothing must keep the io_context running until the timeout.
    asio::post(acceptor_.get_executor(), [this] {
        force_timer_.cancel();
        if (on_drained_) on_drained_();
    });
}

std::vector<std::shared_ptr<Session>> Server::live_sessions() const {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(mutex_);
    for (const auto& [id, weak] : sessions_)
        if (auto session = weak.lock()) live.push_back(std::move(session));
    return live;
}

void Server::force_shutdown() {
    begin_shutdown();
    for (auto& session : live_sessions()) session->force_stop("forced shutdown");
}

}  // namespace staleguard::session
