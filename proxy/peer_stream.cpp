// Reads, handshakes and closing of one end of a session, plaintext or TLS.
#include "proxy/peer_stream.hpp"

namespace staleguard::session {

namespace asio = boost::asio;
using boost::system::error_code;

void PeerStream::start_tls(asio::ssl::context& context) { tls_ = std::make_unique<Tls>(socket_, context); }

std::string PeerStream::describe_tls() {
    if (!tls_) return "none";
    SSL* ssl = tls_->native_handle();
    const char* cipher = SSL_get_cipher_name(ssl);
    return std::string(SSL_get_version(ssl)) + "/" + (cipher ? cipher : "?");
}

asio::awaitable<void> PeerStream::handshake(Tls::handshake_type type, error_code& ec) {
    co_await tls_->async_handshake(type, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<std::size_t> PeerStream::peek(asio::mutable_buffer buffer, error_code& ec) {
    for (;;) {
        co_await socket_.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return 0;
        std::size_t n = socket_.receive(buffer, Socket::message_peek, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        co_return n;
    }
}

asio::awaitable<std::size_t> PeerStream::read_some(asio::mutable_buffer buffer, error_code& ec) {
    if (tls_) co_return co_await tls_->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
    for (;;) {
        co_await socket_.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return 0;
        std::size_t n = socket_.read_some(buffer, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        co_return n;
    }
}

void PeerStream::close() {
    error_code ec;
    socket_.shutdown(Socket::shutdown_both, ec);
    socket_.close(ec);
}

}  // namespace staleguard::session
