// The two OpenSSL contexts staleguard needs, built once at start: a server context for clients
// (--tls-cert/--tls-key/--tls-ca) and a client context for the upstream (--upstream-tls).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "proxy/asio.hpp"

#include <boost/asio/ssl.hpp>

#include "proxy/tls_settings.hpp"

namespace staleguard::session {

// The ALPN protocol name PostgreSQL 17 and libpq 17 use; required for direct TLS.
inline constexpr std::string_view kPostgresAlpn = "postgresql";

class TlsContexts {
public:
    TlsContexts() = default;  // no TLS on either side
    // Throws std::runtime_error naming the flag and file at fault (unreadable file, not PEM,
    // key not matching the certificate): start-up errors are fatal.
    explicit TlsContexts(TlsSettings settings);

    const TlsSettings& settings() const { return settings_; }
    // Null when clients cannot have TLS (--tls-mode disable).
    boost::asio::ssl::context* for_clients() { return for_clients_.get(); }
    // Null with --upstream-tls disable.
    boost::asio::ssl::context* for_upstream() { return for_upstream_.get(); }

private:
    TlsSettings settings_;
    std::unique_ptr<boost::asio::ssl::context> for_clients_;
    std::unique_ptr<boost::asio::ssl::context> for_upstream_;
};

// Sets the upstream connection's expected name: SNI and the certificate's DNS name for a host
// name, the certificate's IP address for an IP literal. False when OpenSSL refuses the name.
bool expect_upstream_name(SSL* ssl, const std::string& host, bool verify);

// True when the upstream server showed the very certificate staleguard shows its clients. Then
// SCRAM channel binding (tls-server-end-point: a hash of that certificate) agrees on both legs.
bool presents_certificate_of(SSL* upstream, SSL_CTX* ours);

// True when the handshake on `ssl` agreed on ALPN "postgresql".
bool negotiated_postgres_alpn(const SSL* ssl);

}  // namespace staleguard::session
