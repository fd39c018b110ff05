// The TLS parts of a session: direct-TLS detection, the handshake with the client, and the
// SSLRequest exchange and handshake with the upstream server.
#include "proxy/session.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <array>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/startup_messages.hpp"
#include "proxy/server.hpp"
#include "proxy/tls_context.hpp"
#include "proxy/tls_sniff.hpp"

namespace staleguard::session {

namespace {

using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

// Why a handshake failed, with OpenSSL's certificate verdict when there is one.
std::string handshake_failure(const error_code& ec, SSL* ssl) {
    std::string why = ec.message();
    if (ssl != nullptr) {
        const long verdict = SSL_get_verify_result(ssl);
        if (verdict != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verdict) + ")";
    }
    return why;
}

}  // namespace

awaitable<bool> Session::starts_with_tls_handshake() {
    std::array<std::uint8_t, 1> first{};
    error_code ec;
    const std::size_t n = co_await client_.peek(asio::buffer(first), ec);
    // An error or EOF shows up again at the first read, which reports it.
    co_return !ec && classify_first_bytes(std::span(first.data(), n)) == FirstBytes::TlsHandshake;
}

awaitable<bool> Session::accept_client_tls(bool direct) {
    client_.start_tls(*server_.tls().for_clients());
    error_code ec;
    co_await client_.handshake(PeerStream::Tls::server, ec);
    if (ec) {
        // Nothing can be told to a client whose handshake failed; this is its only trace.
        spdlog::info("{} TLS handshake with client failed{}: {}", prefix(), direct ? " (direct TLS)" : "",
                     handshake_failure(ec, client_.native_tls()));
        note_end("TLS handshake failed");
        close_client();
        co_return false;
    }
    // Without the ALPN check, bytes of another protocol sent over TLS could pass for PostgreSQL
    // (the cross-protocol attack ALPN exists against); PostgreSQL 17 refuses the same.
    if (direct && !negotiated_postgres_alpn(client_.native_tls())) {
        spdlog::info("{} direct TLS connection without ALPN \"postgresql\" refused", prefix());
        set_final_client_message(
            fatal("08P01", "direct TLS connection without ALPN protocol negotiation (expected \"postgresql\")"));
        note_end("direct TLS without ALPN");
        co_return false;
    }
    spdlog::debug("{} client TLS {}: {}", prefix(), direct ? "(direct)" : "(after SSLRequest)", client_.describe_tls());
    co_return true;
}

awaitable<std::optional<std::string>> Session::negotiate_upstream_tls() {
    asio::ssl::context* context = server_.tls().for_upstream();
    if (context == nullptr) co_return std::nullopt;
    const UpstreamTlsMode mode = server_.tls().settings().upstream_mode;
    error_code ec;
    const auto request = wire::SslRequest{}.encode();
    co_await upstream_.async_write(asio::buffer(request), asio::redirect_error(use_awaitable, ec));
    std::uint8_t answer = 0;
    // Exactly one byte: anything the server sent after it must be the TLS handshake's, or it is
    // the injection CVE-2021-23222 is about, and the handshake fails on it.
    if (!ec) co_await asio::async_read(upstream_.socket(), asio::buffer(&answer, 1), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return "lost connection during the TLS request: " + ec.message();
    if (answer == 'N') {
        if (mode == UpstreamTlsMode::Prefer) co_return std::nullopt;
        co_return "the server does not support TLS (--upstream-tls " + std::string(to_string(mode)) + ")";
    }
    if (answer != 'S') co_return "unexpected answer to the TLS request (" + std::to_string(answer) + ")";

    upstream_.start_tls(*context);
    const bool verify = mode == UpstreamTlsMode::VerifyFull;
    if (!expect_upstream_name(upstream_.native_tls(), settings_.upstream.host, verify))
        co_return "cannot set the expected server name " + settings_.upstream.host;
    co_await upstream_.handshake(PeerStream::Tls::client, ec);
    if (ec) co_return "TLS handshake failed: " + handshake_failure(ec, upstream_.native_tls());
    asio::ssl::context* ours = server_.tls().for_clients();
    channel_binding_passes_ = presents_certificate_of(upstream_.native_tls(), ours ? ours->native_handle() : nullptr);
    spdlog::debug("{} upstream TLS: {}{}", prefix(), upstream_.describe_tls(),
                  channel_binding_passes_ ? " (the server shows our certificate: channel binding passes)" : "");
    co_return std::nullopt;
}

}  // namespace staleguard::session
