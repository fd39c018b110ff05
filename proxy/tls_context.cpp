// Builds the OpenSSL contexts from the TLS settings, with modern defaults (TLS 1.2 or later, no
// compression, no session resumption), and checks every file at start.
#include "proxy/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace staleguard::session {

namespace asio = boost::asio;

namespace {

// OpenSSL's queued reasons, oldest first, cleared.
std::string openssl_errors() {
    std::string text;
    while (unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty()) text += "; ";
        text += buffer;
    }
    return text.empty() ? "unknown OpenSSL error" : text;
}

[[noreturn]] void fail(const std::string& what) {
    ERR_clear_error();
    throw std::runtime_error(what);
}

void require_readable(const char* flag, const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) fail(std::string(flag) + " " + path + ": cannot read: " + std::strerror(errno));
}

// Wire-format ALPN list: length-prefixed names.
constexpr unsigned char kAlpnWireList[] = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};
static_assert(sizeof kAlpnWireList == 1 + kPostgresAlpn.size());

// Offered ALPN without "postgresql" is refused with the no_application_protocol alert, as
// PostgreSQL 17 does; no ALPN at all is allowed here (the session refuses it for direct TLS).
int select_postgres_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                         unsigned int offered_length, void*) {
    unsigned char* selected = nullptr;
    const int outcome =
        SSL_select_next_proto(&selected, out_length, kAlpnWireList, sizeof kAlpnWireList, offered, offered_length);
    if (outcome != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

void apply_common_defaults(asio::ssl::context& context) {
    context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                        asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
}

std::unique_ptr<asio::ssl::context> context_for_clients(const TlsSettings& settings) {
    require_readable("--tls-cert", settings.cert_file);
    require_readable("--tls-key", settings.key_file);
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    apply_common_defaults(*context);
    SSL_CTX* native = context->native_handle();
    // Each connection is a new handshake, as with PostgreSQL: no cache to size or share.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(native, settings.cert_file.c_str()) != 1)
        fail("--tls-cert " + settings.cert_file + ": not a usable PEM certificate: " + openssl_errors());
    if (SSL_CTX_use_PrivateKey_file(native, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL 3 compares the key with the certificate while loading it.
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            fail("--tls-key " + settings.key_file + " does not match the certificate in --tls-cert " + settings.cert_file);
        fail("--tls-key " + settings.key_file + ": not a usable PEM private key: " + openssl_errors());
    }
    if (SSL_CTX_check_private_key(native) != 1)
        fail("--tls-key " + settings.key_file + " does not match the certificate in --tls-cert " + settings.cert_file);
    if (!settings.ca_file.empty()) {
        require_readable("--tls-ca", settings.ca_file);
        if (SSL_CTX_load_verify_locations(native, settings.ca_file.c_str(), nullptr) != 1)
            fail("--tls-ca " + settings.ca_file + ": not a usable PEM CA file: " + openssl_errors());
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str());
        if (names == nullptr) fail("--tls-ca " + settings.ca_file + ": no CA certificate in it: " + openssl_errors());
        SSL_CTX_set_client_CA_list(native, names);
        // Asked for and checked when sent, not mandatory: like PostgreSQL's ssl_ca_file, where
        // pg_hba's clientcert decides. staleguard has no hba, so a certificate is optional.
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    }
    SSL_CTX_set_alpn_select_cb(native, select_postgres_alpn, nullptr);
    return context;
}

std::unique_ptr<asio::ssl::context> context_for_upstream(const TlsSettings& settings) {
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    apply_common_defaults(*context);
    SSL_CTX* native = context->native_handle();
    if (settings.upstream_mode == UpstreamTlsMode::VerifyFull) {
        if (settings.upstream_ca_file.empty()) {
            if (SSL_CTX_set_default_verify_paths(native) != 1)
                fail("--upstream-tls verify-full: cannot load the system's trusted certificates: " + openssl_errors());
        } else {
            require_readable("--upstream-ca", settings.upstream_ca_file);
            if (SSL_CTX_load_verify_locations(native, settings.upstream_ca_file.c_str(), nullptr) != 1)
                fail("--upstream-ca " + settings.upstream_ca_file + ": not a usable PEM CA file: " + openssl_errors());
        }
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    } else {
        // prefer and require encrypt without authenticating the server, as libpq's sslmode does.
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }
    SSL_CTX_set_alpn_protos(native, kAlpnWireList, sizeof kAlpnWireList);
    return context;
}

}  // namespace

TlsContexts::TlsContexts(TlsSettings settings) : settings_(std::move(settings)) {
    if (settings_.accepts_client_tls() || !settings_.cert_file.empty()) for_clients_ = context_for_clients(settings_);
    // A certificate given with --tls-mode disable is still checked, but not offered.
    if (!settings_.accepts_client_tls()) for_clients_.reset();
    if (settings_.upstream_mode != UpstreamTlsMode::Disable) for_upstream_ = context_for_upstream(settings_);
}

bool expect_upstream_name(SSL* ssl, const std::string& host, bool verify) {
    boost::system::error_code not_an_address;
    static_cast<void>(asio::ip::make_address(host, not_an_address));
    const bool ip_literal = !not_an_address;
    // SNI is for names only (RFC 6066).
    if (!ip_literal && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
    if (!verify) return true;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip_literal) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

bool presents_certificate_of(SSL* upstream, SSL_CTX* ours) {
    if (upstream == nullptr || ours == nullptr) return false;
    X509* mine = SSL_CTX_get0_certificate(ours);
    X509* theirs = SSL_get0_peer_certificate(upstream);
    return mine != nullptr && theirs != nullptr && X509_cmp(mine, theirs) == 0;
}

bool negotiated_postgres_alpn(const SSL* ssl) {
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &data, &length);
    return data != nullptr && std::string_view(reinterpret_cast<const char*>(data), length) == kPostgresAlpn;
}

}  // namespace staleguard::session
