// The --metrics listener: a small Boost.Beast HTTP/1.1 server that answers GET /metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "proxy/asio.hpp"
#include "proxy/endpoint.hpp"

namespace staleguard::session {

// A scraper is trusted with nothing: it gets small buffers, a deadline per request, and a cap on
// connections at once, so that a slow or hostile one cannot hold the proxy's memory or threads.
struct MetricsServerLimits {
    std::size_t max_header_bytes = 8 * 1024;
    std::size_t max_body_bytes = 1024;
    std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};  // per request, idle keep-alive included
    std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
    std::size_t max_connections = 16;  // more are closed at once
};

class MetricsServer {
public:
    // `render` is called on `io`'s thread for each scrape and returns the exposition text.
    MetricsServer(boost::asio::io_context& io, Endpoint endpoint, std::function<std::string()> render,
                  MetricsServerLimits limits = {});
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds (throws on failure: a start-up error like --listen's) and accepts.
    void start();
    // Thread-safe, idempotent: closes the listener and every scrape connection, so that nothing
    // of it keeps the io_context running.
    void stop();

    boost::asio::ip::tcp::endpoint local_endpoint() const;

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace staleguard::session
