// First-byte classification: a TLS handshake record tells direct TLS from a startup packet.
#include "proxy/tls_sniff.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace staleguard::session {
namespace {

struct SniffCase {
    std::string name;
    std::vector<std::uint8_t> bytes;
    FirstBytes expected;
};

std::vector<SniffCase> sniff_cases() {
    return {
        {"Nothing", {}, FirstBytes::Unknown},
        {"ClientHelloRecord", {0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, FirstBytes::TlsHandshake},
        {"HandshakeByteAlone", {0x16}, FirstBytes::TlsHandshake},
        {"SslRequest", {0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f}, FirstBytes::StartupPacket},
        {"StartupMessage", {0x00, 0x00, 0x00, 0x29, 0x00, 0x03, 0x00, 0x00}, FirstBytes::StartupPacket},
        {"TlsAlertRecordIsNotAHello", {0x15, 0x03, 0x01}, FirstBytes::StartupPacket},
        {"HttpRequest", {'G', 'E', 'T', ' '}, FirstBytes::StartupPacket},
    };
}

class ClassifyFirstBytes : public testing::TestWithParam<SniffCase> {};

TEST_P(ClassifyFirstBytes, Classifies) {
    EXPECT_EQ(classify_first_bytes(GetParam().bytes), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(TlsSniff, ClassifyFirstBytes, testing::ValuesIn(sniff_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::session
