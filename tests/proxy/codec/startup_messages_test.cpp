// Tests for the startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
#include "proxy/codec/startup_messages.hpp"

#include <gtest/gtest.h>

#include "tests/proxy/codec/message_builder.hpp"

namespace staleguard::wire {
namespace {

using test_support::Buffer;
using test_support::MessageBuilder;

Buffer key_of(std::size_t length) {
    Buffer key(length);
    for (std::size_t i = 0; i < length; ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return key;
}

MessageBuilder cancel_with_key(std::size_t length) {
    return std::move(MessageBuilder::startup().u32(kCancelRequestCode).i32(4242).raw(key_of(length)));
}

struct ValidCase {
    std::string name;
    StartupPacket typed;
    Buffer hand_built;
};

std::vector<ValidCase> valid_cases() {
    const auto user_only = StartupMessage{3u << 16, {{"user", "alice"}}};
    const auto full = StartupMessage{
        3u << 16, {{"user", "alice"}, {"database", "shop"}, {"options", "-c search_path=app"},
                   {"application_name", ""}}};
    const auto minor_two = StartupMessage{(3u << 16) | 2, {{"_pq_.opt", "x"}, {"user", "u"}}};
    return {
        {"UserOnly", user_only, MessageBuilder::startup().u32(196608).cstr("user").cstr("alice").u8(0).build()},
        {"SeveralParameters", full,
         MessageBuilder::startup()
             .u32(196608)
             .cstr("user").cstr("alice")
             .cstr("database").cstr("shop")
             .cstr("options").cstr("-c search_path=app")
             .cstr("application_name").cstr("")
             .u8(0)
             .build()},
        {"Protocol3Minor2", minor_two,
         MessageBuilder::startup().u32(196610).cstr("_pq_.opt").cstr("x").cstr("user").cstr("u").u8(0).build()},
        {"SslRequest", SslRequest{}, MessageBuilder::startup().u32(80877103).build()},
        {"GssEncRequest", GssEncRequest{}, MessageBuilder::startup().u32(80877104).build()},
        {"CancelKey4", CancelRequest{4242, key_of(4)}, cancel_with_key(4).build()},
        {"CancelKey32", CancelRequest{4242, key_of(32)}, cancel_with_key(32).build()},
        {"CancelKey256", CancelRequest{4242, key_of(256)}, cancel_with_key(256).build()},
    };
}

Buffer encode_packet(const StartupPacket& packet) {
    return std::visit([](const auto& message) { return message.encode(); }, packet);
}

class ValidStartupTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidStartupTest, EncodesToHandBuiltBytes) {
    EXPECT_EQ(encode_packet(GetParam().typed), GetParam().hand_built);
}

TEST_P(ValidStartupTest, DecodesToSameKindAndEncodesBack) {
    const auto& c = GetParam();
    const auto frame = test_support::frame_of(c.hand_built, FramePhase::Startup);
    const auto decoded = decode_startup_packet(frame);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->index(), c.typed.index());
    EXPECT_EQ(encode_packet(*decoded), c.hand_built);
}

TEST_P(ValidStartupTest, EveryPrefixNeedsMore) {
    const auto& c = GetParam();
    const FrameReader reader(FrameLimits{});
    for (std::size_t k = 0; k < c.hand_built.size(); ++k) {
        const auto prefix = test_support::first_bytes(c.hand_built, k);
        EXPECT_TRUE(reader.next(prefix, FramePhase::Startup).needs_more()) << k << " bytes";
    }
}

INSTANTIATE_TEST_SUITE_P(Packets, ValidStartupTest, ::testing::ValuesIn(valid_cases()),
                         [](const auto& info) { return info.param.name; });

struct InvalidCase {
    std::string name;
    Buffer bytes;
    std::string error;
};

std::vector<InvalidCase> invalid_cases() {
    return {
        {"CancelKey3", cancel_with_key(3).build(), "CancelRequest: secret key of 3 bytes, expected 4..256"},
        {"CancelKey257", cancel_with_key(257).build(),
         "CancelRequest: secret key of 257 bytes, expected 4..256"},
        {"CancelKey0", cancel_with_key(0).build(), "CancelRequest: secret key of 0 bytes, expected 4..256"},
        {"CancelWithoutProcessId", MessageBuilder::startup().u32(kCancelRequestCode).build(),
         "CancelRequest: message ends inside process id"},
        {"SslRequestTrailingBytes", MessageBuilder::startup().u32(80877103).u32(0).build(),
         "SSLRequest: 4 trailing bytes"},
        {"GssEncRequestTrailingBytes", MessageBuilder::startup().u32(80877104).u8(1).build(),
         "GSSENCRequest: 1 trailing bytes"},
        {"Protocol2", MessageBuilder::startup().u32(2u << 16).cstr("user").cstr("a").u8(0).build(),
         "StartupMessage: unsupported protocol version 2.0"},
        {"Protocol4", MessageBuilder::startup().u32(4u << 16).cstr("user").cstr("a").u8(0).build(),
         "StartupMessage: unsupported protocol version 4.0"},
        {"UnknownRequestCode", MessageBuilder::startup().u32(80877199).build(),
         "StartupMessage: unsupported protocol version 1234.5775"},
        {"MissingUser", MessageBuilder::startup().u32(196608).cstr("database").cstr("d").u8(0).build(),
         "StartupMessage: required parameter \"user\" is missing"},
        {"NoParameters", MessageBuilder::startup().u32(196608).u8(0).build(),
         "StartupMessage: required parameter \"user\" is missing"},
        {"MissingFinalNul", MessageBuilder::startup().u32(196608).cstr("user").cstr("a").build(),
         "StartupMessage: parameter name is missing its NUL terminator"},
        {"ValueMissingNul", MessageBuilder::startup().u32(196608).cstr("user").raw("alice").build(),
         "StartupMessage: value of parameter \"user\" is missing its NUL terminator"},
        {"NameMissingNul", MessageBuilder::startup().u32(196608).raw("user").build(),
         "StartupMessage: parameter name is missing its NUL terminator"},
        // An empty name ends the list, so whatever follows it is trailing.
        {"EmptyNameThenMore",
         MessageBuilder::startup().u32(196608).cstr("user").cstr("a").u8(0).cstr("x").cstr("y").u8(0).build(),
         "StartupMessage: 5 trailing bytes"},
    };
}

class InvalidStartupTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidStartupTest, IsRejected) {
    const auto& c = GetParam();
    const auto frame = test_support::frame_of(c.bytes, FramePhase::Startup);
    const auto decoded = decode_startup_packet(frame);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().message, c.error);
}

INSTANTIATE_TEST_SUITE_P(Packets, InvalidStartupTest, ::testing::ValuesIn(invalid_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(StartupMessageTest, DecodedFieldsAndParameterLookup) {
    const auto bytes =
        MessageBuilder::startup().u32(196610).cstr("user").cstr("alice").cstr("database").cstr("shop").u8(0).build();
    const auto decoded = StartupMessage::decode(test_support::frame_of(bytes, FramePhase::Startup));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->major(), 3);
    EXPECT_EQ(decoded->minor(), 2);
    ASSERT_EQ(decoded->parameters.size(), 2u);
    EXPECT_EQ(decoded->parameter("user"), "alice");
    EXPECT_EQ(decoded->parameter("database"), "shop");
    EXPECT_EQ(decoded->parameter("options"), "");
}

TEST(StartupMessageTest, RefusesRequestCodes) {
    const auto bytes = MessageBuilder::startup().u32(kSslRequestCode).build();
    const auto decoded = StartupMessage::decode(test_support::frame_of(bytes, FramePhase::Startup));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().message, "StartupMessage: request code 80877103 is not a protocol version");
}

TEST(CancelRequestTest, DecodedFields) {
    const auto bytes = cancel_with_key(32).build();
    const auto decoded = CancelRequest::decode(test_support::frame_of(bytes, FramePhase::Startup));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->process_id, 4242);
    EXPECT_EQ(decoded->secret_key, key_of(32));
}

TEST(CancelRequestTest, RefusesOtherCodes) {
    const auto bytes = MessageBuilder::startup().u32(kSslRequestCode).i32(1).u32(2).build();
    const auto decoded = CancelRequest::decode(test_support::frame_of(bytes, FramePhase::Startup));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().message, "CancelRequest: request code 80877103 is not the cancel code");
}

TEST(DecodeStartupPacketTest, RefusesTaggedFrame) {
    const auto bytes = MessageBuilder::tagged('Q').cstr("x").build();
    const auto decoded = decode_startup_packet(test_support::frame_of(bytes));
    ASSERT_FALSE(decoded.ok());
}

}  // namespace
}  // namespace staleguard::wire
