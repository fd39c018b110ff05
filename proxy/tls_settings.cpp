// Mode words and the consistency rules of the TLS flags.
#include "proxy/tls_settings.hpp"

namespace staleguard::session {

std::optional<ClientTlsMode> parse_client_tls_mode(std::string_view word) {
    if (word == "disable") return ClientTlsMode::Disable;
    if (word == "allow") return ClientTlsMode::Allow;
    if (word == "require") return ClientTlsMode::Require;
    return std::nullopt;
}

std::optional<UpstreamTlsMode> parse_upstream_tls_mode(std::string_view word) {
    if (word == "disable") return UpstreamTlsMode::Disable;
    if (word == "prefer") return UpstreamTlsMode::Prefer;
    if (word == "require") return UpstreamTlsMode::Require;
    if (word == "verify-full") return UpstreamTlsMode::VerifyFull;
    return std::nullopt;
}

std::string_view to_string(ClientTlsMode mode) {
    switch (mode) {
        case ClientTlsMode::Disable: return "disable";
        case ClientTlsMode::Allow: return "allow";
        case ClientTlsMode::Require: return "require";
    }
    return "?";
}

std::string_view to_string(UpstreamTlsMode mode) {
    switch (mode) {
        case UpstreamTlsMode::Disable: return "disable";
        case UpstreamTlsMode::Prefer: return "prefer";
        case UpstreamTlsMode::Require: return "require";
        case UpstreamTlsMode::VerifyFull: return "verify-full";
    }
    return "?";
}

TlsSettingsResult resolve_tls_settings(const TlsRequest& request) {
    const auto fail = [](std::string message) { return TlsSettingsResult{std::nullopt, std::move(message)}; };
    const bool has_cert = !request.cert_file.empty();
    const bool has_key = !request.key_file.empty();
    if (has_cert && !has_key) return fail("--tls-cert needs --tls-key (the certificate's private key)");
    if (has_key && !has_cert) return fail("--tls-key needs --tls-cert (the certificate it belongs to)");
    if (!request.ca_file.empty() && !has_cert)
        return fail("--tls-ca needs --tls-cert and --tls-key (client certificates are checked over TLS only)");

    TlsSettings settings;
    settings.client_mode = request.client_mode.value_or(has_cert ? ClientTlsMode::Allow : ClientTlsMode::Disable);
    if (settings.client_mode != ClientTlsMode::Disable && !has_cert)
        return fail("--tls-mode " + std::string(to_string(settings.client_mode)) +
                    " needs --tls-cert and --tls-key");
    settings.cert_file = request.cert_file;
    settings.key_file = request.key_file;
    settings.ca_file = request.ca_file;

    settings.upstream_mode = request.upstream_mode.value_or(UpstreamTlsMode::Prefer);
    if (!request.upstream_ca_file.empty() && settings.upstream_mode != UpstreamTlsMode::VerifyFull)
        return fail("--upstream-ca is used by --upstream-tls verify-full only (got --upstream-tls " +
                    std::string(to_string(settings.upstream_mode)) + ")");
    settings.upstream_ca_file = request.upstream_ca_file;
    if (request.upstream_is_unix_socket) {
        // As libpq does, no SSLRequest goes over a Unix socket (the server would answer 'N'):
        // prefer means plaintext there, and a mode that insists on TLS cannot be met.
        if (settings.upstream_mode == UpstreamTlsMode::Require || settings.upstream_mode == UpstreamTlsMode::VerifyFull)
            return fail("--upstream-tls " + std::string(to_string(settings.upstream_mode)) +
                        " cannot be met over a Unix-domain socket (--upstream DIR:PORT): PostgreSQL offers no "
                        "TLS there; use --upstream-tls disable or prefer, or a TCP --upstream");
        settings.upstream_mode = UpstreamTlsMode::Disable;
    }
    return TlsSettingsResult{std::move(settings), {}};
}

}  // namespace staleguard::session
