// GET/HEAD /metrics over HTTP/1.1 with Boost.Beast: keep-alive, size limits, read deadlines, clean stop.
#include "proxy/metrics_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <list>
#include <stdexcept>

namespace staleguard::session {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
    State(asio::io_context& io, Endpoint where, std::function<std::string()> renderer, MetricsServerLimits l)
        : strand(asio::make_strand(io)), acceptor(strand), endpoint(std::move(where)), render(std::move(renderer)), limits(l) {}

    asio::strand<asio::io_context::executor_type> strand;
    tcp::acceptor acceptor;
    Endpoint endpoint;
    std::function<std::string()> render;
    MetricsServerLimits limits;
    // Touched on the strand only.
    std::list<std::weak_ptr<beast::tcp_stream>> connections;
    bool stopped = false;

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(std::shared_ptr<beast::tcp_stream> stream);
    http::response<http::string_body> answer(const http::request<http::string_body>& request);
};

namespace {

http::response<http::string_body> plain_response(http::status status, unsigned version, std::string body) {
    http::response<http::string_body> response{status, version};
    response.set(http::field::server, "staleguard");
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = std::move(body);
    return response;
}

}  // namespace

http::response<http::string_body> MetricsServer::State::answer(const http::request<http::string_body>& request) {
    std::string_view target(request.target().data(), request.target().size());
    if (auto query = target.find('?'); query != std::string_view::npos) target = target.substr(0, query);
    if (target != "/metrics") return plain_response(http::status::not_found, request.version(), "not found; try /metrics\n");
    const bool head = request.method() == http::verb::head;
    if (request.method() != http::verb::get && !head) {
        auto response = plain_response(http::status::method_not_allowed, request.version(), "method not allowed\n");
        response.set(http::field::allow, "GET, HEAD");
        return response;
    }
    auto response = plain_response(http::status::ok, request.version(), render());
    response.set(http::field::content_type, kMetricsContentType);
    if (head) {
        response.content_length(response.body().size());
        response.body().clear();
    }
    return response;
}

asio::awaitable<void> MetricsServer::State::serve(std::shared_ptr<beast::tcp_stream> stream) {
    beast::flat_buffer buffer(limits.max_header_bytes + limits.max_body_bytes);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
        parser.body_limit(limits.max_body_bytes);
        stream->expires_after(limits.read_timeout);
        boost::system::error_code ec;
        co_await http::async_read(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            // A request we cannot read (garbage, too large) gets a 400 and the connection ends;
            // EOF, timeouts and shutdown just end it.
            const bool malformed = ec != http::error::end_of_stream && ec != beast::error::timeout &&
                                   ec != asio::error::operation_aborted && ec != asio::error::eof &&
                                   ec != asio::error::connection_reset && !stopped;
            if (malformed) {
                spdlog::debug("metrics: bad request: {}", ec.message());
                auto response = plain_response(http::status::bad_request, 11, "bad request\n");
                response.keep_alive(false);
                response.prepare_payload();
                stream->expires_after(limits.write_timeout);
                co_await http::async_write(*stream, response, asio::redirect_error(asio::use_awaitable, ec));
            }
            break;
        }
        const auto& request = parser.get();
        auto response = answer(request);
        response.keep_alive(request.keep_alive());
        if (request.method() != http::verb::head) response.prepare_payload();
        stream->expires_after(limits.write_timeout);
        co_await http::async_write(*stream, response, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !response.keep_alive() || stopped) break;
    }
    boost::system::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->close();
}

asio::awaitable<void> MetricsServer::State::accept_loop() {
    auto self = shared_from_this();
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open() || stopped) co_return;
            spdlog::warn("metrics: accept failed: {}", ec.message());
            asio::steady_timer pause(strand, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        connections.remove_if([](const auto& weak) { return weak.expired(); });
        if (connections.size() >= limits.max_connections) {
            spdlog::debug("metrics: {} scrape connections open; closing a new one", connections.size());
            socket.close(ec);
            continue;
        }
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        connections.push_back(stream);
        asio::co_spawn(strand, [self, stream]() { return self->serve(stream); }, asio::detached);
    }
}

MetricsServer::MetricsServer(asio::io_context& io, Endpoint endpoint, std::function<std::string()> render,
                             MetricsServerLimits limits)
    : state_(std::make_shared<State>(io, std::move(endpoint), std::move(render), limits)) {}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::start() {
    auto& s = *state_;
    tcp::resolver resolver(s.strand);
    auto results = resolver.resolve(s.endpoint.host, std::to_string(s.endpoint.port), tcp::resolver::passive);
    if (results.empty()) throw std::runtime_error("cannot resolve metrics address " + s.endpoint.to_string());
    const tcp::endpoint where = results.begin()->endpoint();
    s.acceptor.open(where.protocol());
    s.acceptor.set_option(tcp::acceptor::reuse_address(true));
    s.acceptor.bind(where);
    s.acceptor.listen(asio::socket_base::max_listen_connections);
    spdlog::info("metrics on {}", s.endpoint.to_string());
    asio::co_spawn(s.strand, [state = state_]() { return state->accept_loop(); }, asio::detached);
}

void MetricsServer::stop() {
    asio::post(state_->strand, [state = state_] {
        if (state->stopped) return;
        state->stopped = true;
        boost::system::error_code ec;
        state->acceptor.close(ec);
        for (auto& weak : state->connections) {
            if (auto stream = weak.lock()) stream->cancel();
        }
        state->connections.clear();
    });
}

tcp::endpoint MetricsServer::local_endpoint() const { return state_->acceptor.local_endpoint(); }

}  // namespace staleguard::session
