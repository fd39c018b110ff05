// Tests for the frontend messages: round trips, partial frames, truncation and malformed bodies.
#include "proxy/codec/frontend_messages.hpp"

#include <gtest/gtest.h>

#include "proxy/codec/message_tag.hpp"
#include "tests/proxy/codec/message_builder.hpp"

namespace staleguard::wire {
namespace {

using test_support::Buffer;
using test_support::bytes_of;
using test_support::MessageBuilder;
using test_support::reencode;
using test_support::RoundTripCase;

template <class T>
RoundTripCase round_trip(std::string name, const T& typed, const MessageBuilder& hand_built) {
    return {std::move(name), typed.encode(), hand_built.build(), &reencode<T>};
}

std::vector<RoundTripCase> round_trip_cases() {
    using B = MessageBuilder;
    return {
        round_trip("Query", Query{"UPDATE t SET a = 1 WHERE id = 2"},
                   B::tagged('Q').cstr("UPDATE t SET a = 1 WHERE id = 2")),
        round_trip("QueryEmpty", Query{""}, B::tagged('Q').cstr("")),
        round_trip("ParseUnnamedNoTypes", Parse{"", "SELECT 1", {}}, B::tagged('P').cstr("").cstr("SELECT 1").i16(0)),
        round_trip("ParseNamedWithTypes", Parse{"s1", "SELECT $1, $2", {23, 0}},
                   B::tagged('P').cstr("s1").cstr("SELECT $1, $2").i16(2).u32(23).u32(0)),
        round_trip("ParseLargeOid", Parse{"", "x", {0xfffffff0u}}, B::tagged('P').cstr("").cstr("x").i16(1).u32(0xfffffff0u)),
        round_trip("BindEmpty", Bind{"", "", {}, {}, {}}, B::tagged('B').cstr("").cstr("").i16(0).i16(0).i16(0)),
        round_trip("BindParameters",
                   Bind{"p1", "s1", {0, 1}, {bytes_of("42"), std::nullopt, bytes_of("")}, {1}},
                   B::tagged('B').cstr("p1").cstr("s1").i16(2).i16(0).i16(1).i16(3)
                       .i32(2).raw("42").i32(-1).i32(0).i16(1).i16(1)),
        round_trip("DescribeStatement", Describe{ObjectKind::Statement, "s1"}, B::tagged('D').u8('S').cstr("s1")),
        round_trip("DescribePortal", Describe{ObjectKind::Portal, ""}, B::tagged('D').u8('P').cstr("")),
        round_trip("Execute", Execute{"p1", 100}, B::tagged('E').cstr("p1").i32(100)),
        round_trip("ExecuteUnlimited", Execute{"", 0}, B::tagged('E').cstr("").i32(0)),
        round_trip("CloseStatement", Close{ObjectKind::Statement, "s1"}, B::tagged('C').u8('S').cstr("s1")),
        round_trip("ClosePortal", Close{ObjectKind::Portal, "p"}, B::tagged('C').u8('P').cstr("p")),
        round_trip("Sync", Sync{}, B::tagged('S')),
        round_trip("Flush", Flush{}, B::tagged('H')),
        round_trip("Terminate", Terminate{}, B::tagged('X')),
        round_trip("FunctionCall", FunctionCall{1598, {1}, {bytes_of("\x01\x02"), std::nullopt}, 1},
                   B::tagged('F').u32(1598).i16(1).i16(1).i16(2).i32(2).raw("\x01\x02").i32(-1).i16(1)),
        round_trip("CopyData", CopyData{bytes_of("1\tfoo\n")}, B::tagged('d').raw("1\tfoo\n")),
        round_trip("CopyDataEmpty", CopyData{}, B::tagged('d')),
        round_trip("CopyDone", CopyDone{}, B::tagged('c')),
        round_trip("CopyFail", CopyFail{"aborted by user"}, B::tagged('f').cstr("aborted by user")),
        round_trip("AuthenticationResponse", AuthenticationResponse{bytes_of("n,,n=,r=abc")},
                   B::tagged('p').raw("n,,n=,r=abc")),
        round_trip("PasswordMessage", PasswordMessage{"md5abcdef"}, B::tagged('p').cstr("md5abcdef")),
        round_trip("SaslInitialResponse", SaslInitialResponse{"SCRAM-SHA-256", bytes_of("n,,n=,r=xyz")},
                   B::tagged('p').cstr("SCRAM-SHA-256").i32(11).raw("n,,n=,r=xyz")),
        round_trip("SaslInitialResponseNoData", SaslInitialResponse{"SCRAM-SHA-256", std::nullopt},
                   B::tagged('p').cstr("SCRAM-SHA-256").i32(-1)),
        round_trip("SaslResponse", SaslResponse{bytes_of("c=biws,r=xyz,p=proof")},
                   B::tagged('p').raw("c=biws,r=xyz,p=proof")),
    };
}

class FrontendRoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(FrontendRoundTripTest, EncodesToHandBuiltBytes) {
    const auto& c = GetParam();
    EXPECT_EQ(c.typed_encoding, c.hand_built) << test_support::hex(c.typed_encoding) << "vs "
                                              << test_support::hex(c.hand_built);
}

TEST_P(FrontendRoundTripTest, DecodeThenEncodeGivesSameBytes) {
    const auto& c = GetParam();
    const auto reencoded = c.decode_and_encode(test_support::frame_of(c.hand_built));
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    EXPECT_EQ(*reencoded, c.hand_built);
}

TEST_P(FrontendRoundTripTest, ValidatesAsItsTag) {
    const auto& c = GetParam();
    const auto tag = validate_frontend_frame(test_support::frame_of(c.hand_built));
    ASSERT_TRUE(tag.ok()) << tag.error().message;
    EXPECT_EQ(*tag, static_cast<char>(c.hand_built[0]));
    EXPECT_TRUE(is_frontend_tag(*tag));
}

TEST_P(FrontendRoundTripTest, EveryPrefixNeedsMore) {
    const auto& c = GetParam();
    const FrameReader reader(FrameLimits{});
    for (std::size_t k = 0; k < c.hand_built.size(); ++k) {
        const auto prefix = test_support::first_bytes(c.hand_built, k);
        const auto outcome = reader.next(prefix, FramePhase::Tagged);
        ASSERT_TRUE(outcome.needs_more()) << k << " bytes";
        EXPECT_EQ(outcome.needed, k < 5 ? 0 : c.hand_built.size()) << k << " bytes";
    }
}

// A body cut short but framed as complete must never be read past its end, and whatever still
// decodes must be exactly what it was decoded from.
TEST_P(FrontendRoundTripTest, TruncatedBodyDecodesExactlyOrFails) {
    const auto& c = GetParam();
    const std::size_t body_size = c.hand_built.size() - 5;
    for (std::size_t k = 0; k < body_size; ++k) {
        auto truncated = MessageBuilder::tagged(static_cast<char>(c.hand_built[0]))
                             .raw(Buffer(c.hand_built.begin() + 5, c.hand_built.begin() + 5 + static_cast<std::ptrdiff_t>(k)))
                             .build();
        const auto frame = test_support::frame_of(truncated);
        const auto reencoded = c.decode_and_encode(frame);
        if (reencoded.ok()) {
            EXPECT_EQ(*reencoded, truncated) << k << " body bytes";
        }
        EXPECT_EQ(validate_frontend_frame(frame).ok(), reencoded.ok() || c.hand_built[0] == 'p')
            << k << " body bytes";
    }
}

TEST_P(FrontendRoundTripTest, FollowedBySyncInOneBuffer) {
    const auto& c = GetParam();
    const auto both = test_support::concat(c.hand_built, Sync{}.encode());
    const FrameReader reader(FrameLimits{});
    const auto first = reader.next(both, FramePhase::Tagged);
    ASSERT_TRUE(first.is_frame());
    ASSERT_EQ(first.frame.bytes.size(), c.hand_built.size());
    const auto reencoded = c.decode_and_encode(first.frame);
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    EXPECT_EQ(*reencoded, c.hand_built);
    const auto second = reader.next(Bytes(both).subspan(c.hand_built.size()), FramePhase::Tagged);
    ASSERT_TRUE(second.is_frame());
    EXPECT_EQ(second.frame.tag, 'S');
    EXPECT_EQ(second.frame.bytes.size(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Messages, FrontendRoundTripTest, ::testing::ValuesIn(round_trip_cases()),
                         test_support::case_name);

using Check = Result<char> (*)(const Frame&);

template <class T>
Result<char> decode_as(const Frame& frame) {
    auto decoded = T::decode(frame);
    if (!decoded) return decoded.error();
    return frame.tag;
}

struct MalformedCase {
    std::string name;
    Buffer bytes;
    std::string error;
    Check check = &validate_frontend_frame;
};

std::vector<MalformedCase> malformed_cases() {
    using B = MessageBuilder;
    return {
        {"UnknownTag", B::tagged('z').build(), "frontend: unknown message type 0x7a"},
        {"BackendOnlyTag", B::tagged('Z').u8('I').build(), "frontend: unknown message type 0x5a"},
        {"QueryMissingNul", B::tagged('Q').raw("SELECT 1").build(), "Query: query string is missing its NUL terminator"},
        {"QueryEmptyBody", B::tagged('Q').build(), "Query: query string is missing its NUL terminator"},
        {"QueryTrailingBytes", B::tagged('Q').cstr("SELECT 1").raw("xy").build(), "Query: 2 trailing bytes"},
        {"ParseTypeCountExceeds", B::tagged('P').cstr("").cstr("x").i16(3).u32(1).u32(2).build(),
         "Parse: parameter type count 3 exceeds message"},
        {"ParseTypeCountNegativeIsHuge", B::tagged('P').cstr("").cstr("x").i16(-1).build(),
         "Parse: parameter type count 65535 exceeds message"},
        {"ParseMissingCount", B::tagged('P').cstr("").cstr("x").u8(0).build(),
         "Parse: message ends inside parameter type count"},
        {"BindParameterCountExceeds", B::tagged('B').cstr("").cstr("").i16(0).i16(5).i32(1).raw("a").i16(0).build(),
         "Bind: parameter count 5 exceeds message"},
        {"BindParameterFormatCountExceeds", B::tagged('B').cstr("").cstr("").i16(30000).i16(0).build(),
         "Bind: parameter format count 30000 exceeds message"},
        {"BindParameterLengthExceeds", B::tagged('B').cstr("").cstr("").i16(0).i16(1).i32(100).raw("abc").i16(0).build(),
         "Bind: message ends inside parameter 1"},
        {"BindNegativeParameterLength", B::tagged('B').cstr("").cstr("").i16(0).i16(1).i32(-2).i16(0).build(),
         "Bind: parameter 1 has negative length -2"},
        {"BindMissingResultFormats", B::tagged('B').cstr("").cstr("").i16(0).i16(0).build(),
         "Bind: message ends inside result format count"},
        {"BindTrailingBytes", B::tagged('B').cstr("").cstr("").i16(0).i16(0).i16(0).u8(9).build(),
         "Bind: 1 trailing bytes"},
        {"BindPortalMissingNul", B::tagged('B').raw("portal").build(), "Bind: portal name is missing its NUL terminator"},
        {"DescribeBadKind", B::tagged('D').u8('X').cstr("s").build(), "Describe: object kind 0x58 is neither 'S' nor 'P'"},
        {"DescribeEmpty", B::tagged('D').build(), "Describe: message ends inside object kind"},
        {"CloseBadKind", B::tagged('C').u8('s').cstr("").build(), "Close: object kind 0x73 is neither 'S' nor 'P'"},
        {"ExecuteShortRowLimit", B::tagged('E').cstr("").i16(0).build(), "Execute: message ends inside row limit"},
        {"SyncWithBody", B::tagged('S').u8(0).build(), "Sync: 1 trailing bytes"},
        {"FlushWithBody", B::tagged('H').u32(0).build(), "Flush: 4 trailing bytes"},
        {"TerminateWithBody", B::tagged('X').u8(1).build(), "Terminate: 1 trailing bytes"},
        {"CopyDoneWithBody", B::tagged('c').u8(1).build(), "CopyDone: 1 trailing bytes"},
        {"CopyFailMissingNul", B::tagged('f').raw("oops").build(), "CopyFail: error message is missing its NUL terminator"},
        {"FunctionCallArgumentCountExceeds", B::tagged('F').u32(1).i16(0).i16(9).i16(0).build(),
         "FunctionCall: argument count 9 exceeds message"},
        {"FunctionCallMissingResultFormat", B::tagged('F').u32(1).i16(0).i16(0).build(),
         "FunctionCall: message ends inside result format"},
        {"PasswordMissingNul", B::tagged('p').raw("secret").build(),
         "PasswordMessage: password is missing its NUL terminator", &decode_as<PasswordMessage>},
        {"PasswordTrailingBytes", B::tagged('p').cstr("secret").u8(1).build(), "PasswordMessage: 1 trailing bytes",
         &decode_as<PasswordMessage>},
        {"SaslInitialLengthExceeds", B::tagged('p').cstr("SCRAM-SHA-256").i32(50).raw("n,,").build(),
         "SASLInitialResponse: message ends inside initial response", &decode_as<SaslInitialResponse>},
        {"SaslInitialMissingLength", B::tagged('p').cstr("SCRAM-SHA-256").build(),
         "SASLInitialResponse: message ends inside initial response", &decode_as<SaslInitialResponse>},
        {"QueryDecodedFromWrongTag", B::tagged('P').cstr("x").build(), "Query: expected message type 0x51, got 0x50",
         &decode_as<Query>},
    };
}

class FrontendMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(FrontendMalformedTest, IsRejectedWithReason) {
    const auto& c = GetParam();
    const auto result = c.check(test_support::frame_of(c.bytes));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().message, c.error);
}

INSTANTIATE_TEST_SUITE_P(Messages, FrontendMalformedTest, ::testing::ValuesIn(malformed_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BindTest, DecodedFields) {
    const auto bytes = MessageBuilder::tagged('B').cstr("p1").cstr("s1").i16(1).i16(1).i16(2)
                           .i32(3).raw("abc").i32(-1).i16(2).i16(0).i16(1).build();
    const auto bind = Bind::decode(test_support::frame_of(bytes));
    ASSERT_TRUE(bind.ok()) << bind.error().message;
    EXPECT_EQ(bind->portal, "p1");
    EXPECT_EQ(bind->statement, "s1");
    EXPECT_EQ(bind->parameter_formats, (std::vector<std::int16_t>{1}));
    ASSERT_EQ(bind->parameters.size(), 2u);
    ASSERT_TRUE(bind->parameters[0].has_value());
    EXPECT_EQ(Buffer(bind->parameters[0]->begin(), bind->parameters[0]->end()), (Buffer{'a', 'b', 'c'}));
    // Views point into the frame rather than copying out of it.
    EXPECT_EQ(bind->parameters[0]->data(), bytes.data() + 5 + 3 + 3 + 2 + 2 + 2 + 4);
    EXPECT_FALSE(bind->parameters[1].has_value());
    EXPECT_EQ(bind->result_formats, (std::vector<std::int16_t>{0, 1}));
}

TEST(ParseTest, DecodedFields) {
    const auto bytes = MessageBuilder::tagged('P').cstr("s").cstr("SELECT $1").i16(1).u32(25).build();
    const auto parse = Parse::decode(test_support::frame_of(bytes));
    ASSERT_TRUE(parse.ok()) << parse.error().message;
    EXPECT_EQ(parse->statement, "s");
    EXPECT_EQ(parse->query, "SELECT $1");
    EXPECT_EQ(parse->parameter_types, (std::vector<std::uint32_t>{25}));
}

TEST(FrontendTagTest, NamesAndMembership) {
    EXPECT_EQ(frontend_tag_name('Q'), "Query");
    EXPECT_EQ(frontend_tag_name('p'), "AuthenticationResponse");
    EXPECT_EQ(frontend_tag_name('Z'), "unknown");
    EXPECT_TRUE(is_frontend_tag('X'));
    EXPECT_FALSE(is_frontend_tag('Z'));
    EXPECT_FALSE(is_frontend_tag('\0'));
}

}  // namespace
}  // namespace staleguard::wire
