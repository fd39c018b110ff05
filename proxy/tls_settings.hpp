// The TLS settings of both sides (clients → staleguard, staleguard → upstream) and the rules that
// make a consistent set of them out of flags and config keys. No OpenSSL here: see tls_context.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace staleguard::session {

// --tls-mode: what staleguard answers a client's SSLRequest, and whether plaintext is refused.
enum class ClientTlsMode { Disable, Allow, Require };
// --upstream-tls: as libpq's sslmode, minus allow/verify-ca.
enum class UpstreamTlsMode { Disable, Prefer, Require, VerifyFull };

// Shared by the flags and the config file so that both accept exactly the same words.
inline constexpr std::array<std::string_view, 3> client_tls_mode_words{"disable", "allow", "require"};
inline constexpr std::array<std::string_view, 4> upstream_tls_mode_words{"disable", "prefer", "require",
                                                                         "verify-full"};

std::optional<ClientTlsMode> parse_client_tls_mode(std::string_view word);
std::optional<UpstreamTlsMode> parse_upstream_tls_mode(std::string_view word);
std::string_view to_string(ClientTlsMode mode);
std::string_view to_string(UpstreamTlsMode mode);

// What was asked for (flags over config file), before the consistency rules.
struct TlsRequest {
    std::string cert_file;
    std::string key_file;
    std::string ca_file;
    std::optional<ClientTlsMode> client_mode;  // unset: allow with cert and key, else disable
    std::optional<UpstreamTlsMode> upstream_mode;  // unset: prefer
    std::string upstream_ca_file;
    bool upstream_is_unix_socket = false;  // PostgreSQL never offers TLS there
};

struct TlsSettings {
    ClientTlsMode client_mode = ClientTlsMode::Disable;
    std::string cert_file;  // set exactly when client_mode != Disable, or when given with disable
    std::string key_file;
    std::string ca_file;  // client certificates: asked for, and verified when presented
    UpstreamTlsMode upstream_mode = UpstreamTlsMode::Prefer;
    std::string upstream_ca_file;  // verify-full only; empty: the system's default trust store

    bool accepts_client_tls() const { return client_mode != ClientTlsMode::Disable; }
};

struct [[nodiscard]] TlsSettingsResult {
    std::optional<TlsSettings> settings;
    std::string error;  // set exactly when settings is not, worded for the command line
};

// Applies the rules: cert and key go together; allow/require need them; --tls-ca needs them;
// --upstream-ca belongs to verify-full. Never throws.
TlsSettingsResult resolve_tls_settings(const TlsRequest& request);

}  // namespace staleguard::session
