// TLS flag rules: which combinations start, with what modes, and the exact refusal otherwise.
#include "proxy/tls_settings.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace staleguard::session {
namespace {

struct TlsCase {
    std::string name;
    TlsRequest request;
    // Valid: the modes it resolves to. Invalid: the error.
    ClientTlsMode client_mode = ClientTlsMode::Disable;
    UpstreamTlsMode upstream_mode = UpstreamTlsMode::Prefer;
    std::string error;
};

TlsRequest request(auto&& change) {
    TlsRequest r;
    change(r);
    return r;
}

const auto with_pair = [](TlsRequest& r) {
    r.cert_file = "server.pem";
    r.key_file = "server.key";
};

std::vector<TlsCase> tls_cases() {
    return {
        {"NothingGiven", {}, ClientTlsMode::Disable, UpstreamTlsMode::Prefer, ""},
        {"CertAndKeyDefaultToAllow", request(with_pair), ClientTlsMode::Allow, UpstreamTlsMode::Prefer, ""},
        {"RequireWithPair", request([](TlsRequest& r) { with_pair(r); r.client_mode = ClientTlsMode::Require; }),
         ClientTlsMode::Require, UpstreamTlsMode::Prefer, ""},
        {"DisableWithPair", request([](TlsRequest& r) { with_pair(r); r.client_mode = ClientTlsMode::Disable; }),
         ClientTlsMode::Disable, UpstreamTlsMode::Prefer, ""},
        {"ClientCaWithPair", request([](TlsRequest& r) { with_pair(r); r.ca_file = "ca.pem"; }),
         ClientTlsMode::Allow, UpstreamTlsMode::Prefer, ""},
        {"UpstreamVerifyFullWithCa", request([](TlsRequest& r) {
             r.upstream_mode = UpstreamTlsMode::VerifyFull;
             r.upstream_ca_file = "ca.pem";
         }), ClientTlsMode::Disable, UpstreamTlsMode::VerifyFull, ""},
        {"UpstreamVerifyFullWithSystemStore", request([](TlsRequest& r) { r.upstream_mode = UpstreamTlsMode::VerifyFull; }),
         ClientTlsMode::Disable, UpstreamTlsMode::VerifyFull, ""},
        {"UpstreamDisable", request([](TlsRequest& r) { r.upstream_mode = UpstreamTlsMode::Disable; }),
         ClientTlsMode::Disable, UpstreamTlsMode::Disable, ""},
        {"CertWithoutKey", request([](TlsRequest& r) { r.cert_file = "server.pem"; }), {}, {},
         "--tls-cert needs --tls-key (the certificate's private key)"},
        {"KeyWithoutCert", request([](TlsRequest& r) { r.key_file = "server.key"; }), {}, {},
         "--tls-key needs --tls-cert (the certificate it belongs to)"},
        {"AllowWithoutPair", request([](TlsRequest& r) { r.client_mode = ClientTlsMode::Allow; }), {}, {},
         "--tls-mode allow needs --tls-cert and --tls-key"},
        {"RequireWithoutPair", request([](TlsRequest& r) { r.client_mode = ClientTlsMode::Require; }), {}, {},
         "--tls-mode require needs --tls-cert and --tls-key"},
        {"ClientCaWithoutPair", request([](TlsRequest& r) { r.ca_file = "ca.pem"; }), {}, {},
         "--tls-ca needs --tls-cert and --tls-key (client certificates are checked over TLS only)"},
        {"UpstreamCaWithPrefer", request([](TlsRequest& r) { r.upstream_ca_file = "ca.pem"; }), {}, {},
         "--upstream-ca is used by --upstream-tls verify-full only (got --upstream-tls prefer)"},
        {"UpstreamCaWithRequire", request([](TlsRequest& r) {
             r.upstream_mode = UpstreamTlsMode::Require;
             r.upstream_ca_file = "ca.pem";
         }), {}, {}, "--upstream-ca is used by --upstream-tls verify-full only (got --upstream-tls require)"},
        // A Unix-socket upstream: no SSLRequest goes there, so prefer becomes disable.
        {"UnixSocketUpstreamDefault", request([](TlsRequest& r) { r.upstream_is_unix_socket = true; }),
         ClientTlsMode::Disable, UpstreamTlsMode::Disable, ""},
        {"UnixSocketUpstreamPrefer", request([](TlsRequest& r) {
             r.upstream_is_unix_socket = true;
             r.upstream_mode = UpstreamTlsMode::Prefer;
         }), ClientTlsMode::Disable, UpstreamTlsMode::Disable, ""},
        {"UnixSocketUpstreamWithClientTls", request([](TlsRequest& r) {
             with_pair(r);
             r.upstream_is_unix_socket = true;
         }), ClientTlsMode::Allow, UpstreamTlsMode::Disable, ""},
        {"UnixSocketUpstreamRequire", request([](TlsRequest& r) {
             r.upstream_is_unix_socket = true;
             r.upstream_mode = UpstreamTlsMode::Require;
         }), {}, {},
         "--upstream-tls require cannot be met over a Unix-domain socket (--upstream DIR:PORT): PostgreSQL "
         "offers no TLS there; use --upstream-tls disable or prefer, or a TCP --upstream"},
        {"UnixSocketUpstreamVerifyFull", request([](TlsRequest& r) {
             r.upstream_is_unix_socket = true;
             r.upstream_mode = UpstreamTlsMode::VerifyFull;
         }), {}, {},
         "--upstream-tls verify-full cannot be met over a Unix-domain socket (--upstream DIR:PORT): PostgreSQL "
         "offers no TLS there; use --upstream-tls disable or prefer, or a TCP --upstream"},
    };
}

class ResolveTlsSettings : public testing::TestWithParam<TlsCase> {};

TEST_P(ResolveTlsSettings, ResolvesOrRefuses) {
    const auto& c = GetParam();
    const auto result = resolve_tls_settings(c.request);
    if (!c.error.empty()) {
        EXPECT_FALSE(result.settings.has_value());
        EXPECT_EQ(result.error, c.error);
        return;
    }
    ASSERT_TRUE(result.settings.has_value()) << result.error;
    EXPECT_EQ(result.settings->client_mode, c.client_mode);
    EXPECT_EQ(result.settings->upstream_mode, c.upstream_mode);
    EXPECT_EQ(result.settings->cert_file, c.request.cert_file);
    EXPECT_EQ(result.settings->upstream_ca_file, c.request.upstream_ca_file);
}

INSTANTIATE_TEST_SUITE_P(TlsSettings, ResolveTlsSettings, testing::ValuesIn(tls_cases()),
                         [](const auto& info) { return info.param.name; });

struct ModeWordCase {
    std::string word;
    bool client_valid;
    bool upstream_valid;
};

class TlsModeWords : public testing::TestWithParam<ModeWordCase> {};

TEST_P(TlsModeWords, ParseAndPrintBack) {
    const auto& c = GetParam();
    const auto client = parse_client_tls_mode(c.word);
    const auto upstream = parse_upstream_tls_mode(c.word);
    ASSERT_EQ(client.has_value(), c.client_valid);
    ASSERT_EQ(upstream.has_value(), c.upstream_valid);
    if (client) {
        EXPECT_EQ(to_string(*client), c.word);
    }
    if (upstream) {
        EXPECT_EQ(to_string(*upstream), c.word);
    }
}

INSTANTIATE_TEST_SUITE_P(TlsSettings, TlsModeWords,
                         testing::Values(ModeWordCase{"disable", true, true}, ModeWordCase{"allow", true, false},
                                         ModeWordCase{"require", true, true}, ModeWordCase{"prefer", false, true},
                                         ModeWordCase{"verify-full", false, true},
                                         ModeWordCase{"verify-ca", false, false}, ModeWordCase{"Require", false, false},
                                         ModeWordCase{"", false, false}),
                         [](const auto& info) {
                             std::string name = info.param.word.empty() ? "Empty" : info.param.word;
                             for (char& c : name) if (c == '-') c = '_';
                             return name;
                         });

}  // namespace
}  // namespace staleguard::session
