// AuthenticationSASL through a TLS-terminating proxy: -PLUS mechanisms stripped, everything else
// (other messages, malformed lists, lists with nothing to strip) left for forwarding as it came.
#include "proxy/sasl_mechanisms.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/proxy/codec/message_builder.hpp"

namespace staleguard::session {
namespace {

using wire::test_support::Buffer;
using wire::test_support::frame_of;
using wire::test_support::MessageBuilder;

Buffer sasl(const std::vector<std::string>& mechanisms) {
    auto builder = MessageBuilder::tagged('R');
    builder.i32(10);
    for (const auto& name : mechanisms) builder.cstr(name);
    builder.u8(0);
    return builder.build();
}

struct SaslCase {
    std::string name;
    Buffer frame;
    std::optional<Buffer> expected;  // nullopt: forwarded unchanged
};

std::vector<SaslCase> sasl_cases() {
    return {
        {"PlusFirst", sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}), sasl({"SCRAM-SHA-256"})},
        {"PlusLast", sasl({"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}), sasl({"SCRAM-SHA-256"})},
        {"EveryPlusGoes", sasl({"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}), sasl({"SCRAM-SHA-256"})},
        {"NothingToStrip", sasl({"SCRAM-SHA-256"}), std::nullopt},
        {"OnlyPlusIsLeftForTheClientToRefuse", sasl({"SCRAM-SHA-256-PLUS"}), std::nullopt},
        {"PlusOnlyAsSuffix", sasl({"PLUS-SCRAM", "SCRAM-SHA-256"}), std::nullopt},
        {"AuthenticationOk", MessageBuilder::tagged('R').i32(0).build(), std::nullopt},
        {"SaslContinueMentioningPlus", MessageBuilder::tagged('R').i32(11).raw("SCRAM-SHA-256-PLUS").build(),
         std::nullopt},
        {"MissingListTerminator", MessageBuilder::tagged('R').i32(10).cstr("SCRAM-SHA-256-PLUS").build(), std::nullopt},
        {"NotAuthentication", MessageBuilder::tagged('S').cstr("a").cstr("b").build(), std::nullopt},
    };
}

class WithoutChannelBinding : public testing::TestWithParam<SaslCase> {};

TEST_P(WithoutChannelBinding, GivesTheExpectedFrame) {
    const auto result = without_channel_binding(frame_of(GetParam().frame));
    ASSERT_EQ(result.has_value(), GetParam().expected.has_value());
    if (result) {
        EXPECT_EQ(*result, *GetParam().expected);
    }
}

INSTANTIATE_TEST_SUITE_P(SaslMechanisms, WithoutChannelBinding, testing::ValuesIn(sasl_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::session
