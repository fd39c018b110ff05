// One end of a session (the client's or the upstream's connection): a TCP or Unix-domain socket,
// the TCP one optionally wrapped in TLS once the startup exchange asks for it. Plaintext takes the
// same path as a bare socket; TLS adds OpenSSL through Asio's ssl::stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proxy/asio.hpp"

#include <boost/asio/ssl.hpp>

namespace staleguard::session {

class PeerStream {
public:
    // Generic rather than ip::tcp, so the upstream may be a Unix-domain socket.
    using Socket = boost::asio::generic::stream_protocol::socket;
    using Tls = boost::asio::ssl::stream<Socket&>;

    explicit PeerStream(Socket socket) : socket_(std::move(socket)) {}
    template <class Executor>
    explicit PeerStream(const Executor& executor) : socket_(executor) {}
    // The TLS stream refers to socket_: the object stays where it was built.
    PeerStream(const PeerStream&) = delete;
    PeerStream& operator=(const PeerStream&) = delete;

    Socket& socket() { return socket_; }
    bool is_tls() const { return tls_ != nullptr; }
    // From here on every read and write goes through TLS. The caller sets up the SSL object
    // (native_tls: SNI, host check) and then runs the handshake.
    void start_tls(boost::asio::ssl::context& context);
    SSL* native_tls() { return tls_ ? tls_->native_handle() : nullptr; }
    // "TLSv1.3/TLS_AES_256_GCM_SHA384", or "none" for plaintext: one word for the session log line.
    std::string describe_tls();

    boost::asio::awaitable<void> handshake(Tls::handshake_type type, boost::system::error_code& ec);

    // Waits until data is there, then reads what is: for plaintext a readiness wait and a
    // non-blocking read, as a plain async_read_some would first try a read that, right after
    // forwarding a request, almost always fails with EAGAIN (twice the system calls).
    // Waits until data is there and copies the first bytes without consuming them (MSG_PEEK):
    // plaintext only, before the first read.
    boost::asio::awaitable<std::size_t> peek(boost::asio::mutable_buffer buffer, boost::system::error_code& ec);

    boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer buffer, boost::system::error_code& ec);

    // Writes the whole buffer sequence (asio::async_write). Under TLS the sequence is copied into
    // one buffer first: the ssl stream encrypts one buffer per record and write, and a batch may
    // hold many small frames. With use_awaitable both branches are the same awaitable type.
    // One write at a time per stream (both pumps write to different streams).
    template <class ConstBuffers, class Token>
    auto async_write(const ConstBuffers& buffers, Token&& token) {
        if (!tls_) return boost::asio::async_write(socket_, buffers, std::forward<Token>(token));
        tls_out_.resize(boost::asio::buffer_size(buffers));
        boost::asio::buffer_copy(boost::asio::buffer(tls_out_), buffers);
        return boost::asio::async_write(*tls_, boost::asio::buffer(tls_out_), std::forward<Token>(token));
    }

    // Closes the connection without a TLS close_notify: every peer we end a session with has
    // either been sent a final ErrorResponse or is already gone.
    void close();

private:
    Socket socket_;
    std::unique_ptr<Tls> tls_;
    std::vector<std::uint8_t> tls_out_;
};

}  // namespace staleguard::session
