// Tests for the backend messages: round trips, partial frames, truncation and malformed bodies.
#include "proxy/codec/backend_messages.hpp"

#include <gtest/gtest.h>

#include "proxy/codec/frontend_messages.hpp"
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

ErrorResponse error_with(std::vector<std::pair<char, std::string>> fields) {
    ErrorResponse error;
    error.fields = std::move(fields);
    return error;
}

NoticeResponse notice_with(std::vector<std::pair<char, std::string>> fields) {
    NoticeResponse notice;
    notice.fields = std::move(fields);
    return notice;
}

std::vector<RoundTripCase> round_trip_cases() {
    using B = MessageBuilder;
    const auto key32 = bytes_of("0123456789abcdef0123456789abcdef");
    return {
        round_trip("AuthenticationOk", Authentication{AuthenticationCode::Ok, {}}, B::tagged('R').i32(0)),
        round_trip("AuthenticationCleartext", Authentication{AuthenticationCode::CleartextPassword, {}},
                   B::tagged('R').i32(3)),
        round_trip("AuthenticationMd5", Authentication{AuthenticationCode::Md5Password, bytes_of("salt")},
                   B::tagged('R').i32(5).raw("salt")),
        round_trip("AuthenticationSasl",
                   Authentication{AuthenticationCode::Sasl, bytes_of(std::string_view("SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0", 34))},
                   B::tagged('R').i32(10).cstr("SCRAM-SHA-256").cstr("SCRAM-SHA-256-PLUS").u8(0)),
        round_trip("AuthenticationSaslContinue", Authentication{AuthenticationCode::SaslContinue, bytes_of("r=abc,s=xyz,i=4096")},
                   B::tagged('R').i32(11).raw("r=abc,s=xyz,i=4096")),
        round_trip("AuthenticationSaslFinal", Authentication{AuthenticationCode::SaslFinal, bytes_of("v=sig")},
                   B::tagged('R').i32(12).raw("v=sig")),
        round_trip("ParameterStatus", ParameterStatus{"server_version", "15.4"},
                   B::tagged('S').cstr("server_version").cstr("15.4")),
        round_trip("BackendKeyData4", BackendKeyData{1234, bytes_of("\x01\x02\x03\x04")},
                   B::tagged('K').i32(1234).raw("\x01\x02\x03\x04")),
        round_trip("BackendKeyData32", BackendKeyData{-7, key32}, B::tagged('K').i32(-7).raw(
                   "0123456789abcdef0123456789abcdef")),
        round_trip("ReadyForQueryIdle", ReadyForQuery{TransactionStatus::Idle}, B::tagged('Z').u8('I')),
        round_trip("ReadyForQueryInTransaction", ReadyForQuery{TransactionStatus::InTransaction}, B::tagged('Z').u8('T')),
        round_trip("ReadyForQueryFailed", ReadyForQuery{TransactionStatus::Failed}, B::tagged('Z').u8('E')),
        round_trip("RowDescription",
                   RowDescription{{FieldDescription{"id", 16384, 1, 23, 4, -1, 0},
                                   FieldDescription{"version", 16384, 3, 20, 8, -1, 1}}},
                   B::tagged('T').i16(2)
                       .cstr("id").u32(16384).i16(1).u32(23).i16(4).i32(-1).i16(0)
                       .cstr("version").u32(16384).i16(3).u32(20).i16(8).i32(-1).i16(1)),
        round_trip("RowDescriptionEmpty", RowDescription{}, B::tagged('T').i16(0)),
        round_trip("DataRow", DataRow{{bytes_of("42"), std::nullopt, bytes_of("")}},
                   B::tagged('D').i16(3).i32(2).raw("42").i32(-1).i32(0)),
        round_trip("DataRowEmpty", DataRow{}, B::tagged('D').i16(0)),
        round_trip("CommandComplete", CommandComplete{"UPDATE 3"}, B::tagged('C').cstr("UPDATE 3")),
        round_trip("EmptyQueryResponse", EmptyQueryResponse{}, B::tagged('I')),
        round_trip("ErrorResponse",
                   error_with({{'S', "ERROR"}, {'V', "ERROR"}, {'C', "40001"}, {'M', "row changed"}}),
                   B::tagged('E').u8('S').cstr("ERROR").u8('V').cstr("ERROR").u8('C').cstr("40001")
                       .u8('M').cstr("row changed").u8(0)),
        round_trip("ErrorResponseNoFields", error_with({}), B::tagged('E').u8(0)),
        round_trip("NoticeResponse", notice_with({{'S', "NOTICE"}, {'M', "hello"}}),
                   B::tagged('N').u8('S').cstr("NOTICE").u8('M').cstr("hello").u8(0)),
        round_trip("NotificationResponse", NotificationResponse{99, "jobs", "42"},
                   B::tagged('A').i32(99).cstr("jobs").cstr("42")),
        round_trip("ParameterDescription", ParameterDescription{{23, 25}}, B::tagged('t').i16(2).u32(23).u32(25)),
        round_trip("ParseComplete", ParseComplete{}, B::tagged('1')),
        round_trip("BindComplete", BindComplete{}, B::tagged('2')),
        round_trip("CloseComplete", CloseComplete{}, B::tagged('3')),
        round_trip("NoData", NoData{}, B::tagged('n')),
        round_trip("PortalSuspended", PortalSuspended{}, B::tagged('s')),
        round_trip("CopyInResponse", CopyResponse{'G', 0, {0, 0}}, B::tagged('G').u8(0).i16(2).i16(0).i16(0)),
        round_trip("CopyOutResponse", CopyResponse{'H', 1, {1}}, B::tagged('H').u8(1).i16(1).i16(1)),
        round_trip("CopyBothResponse", CopyResponse{'W', 0, {}}, B::tagged('W').u8(0).i16(0)),
        round_trip("CopyData", CopyData{bytes_of("row\n")}, B::tagged('d').raw("row\n")),
        round_trip("CopyDone", CopyDone{}, B::tagged('c')),
        round_trip("FunctionCallResponse", FunctionCallResponse{bytes_of("ok")}, B::tagged('V').i32(2).raw("ok")),
        round_trip("FunctionCallResponseNull", FunctionCallResponse{std::nullopt}, B::tagged('V').i32(-1)),
        round_trip("NegotiateProtocolVersion", NegotiateProtocolVersion{0, {"_pq_.a", "_pq_.b"}},
                   B::tagged('v').i32(0).i32(2).cstr("_pq_.a").cstr("_pq_.b")),
    };
}

class BackendRoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(BackendRoundTripTest, EncodesToHandBuiltBytes) {
    const auto& c = GetParam();
    EXPECT_EQ(c.typed_encoding, c.hand_built) << test_support::hex(c.typed_encoding) << "vs "
                                              << test_support::hex(c.hand_built);
}

TEST_P(BackendRoundTripTest, DecodeThenEncodeGivesSameBytes) {
    const auto& c = GetParam();
    const auto reencoded = c.decode_and_encode(test_support::frame_of(c.hand_built));
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    EXPECT_EQ(*reencoded, c.hand_built);
}

TEST_P(BackendRoundTripTest, ValidatesAsItsTag) {
    const auto& c = GetParam();
    const auto tag = validate_backend_frame(test_support::frame_of(c.hand_built));
    ASSERT_TRUE(tag.ok()) << tag.error().message;
    EXPECT_EQ(*tag, static_cast<char>(c.hand_built[0]));
    EXPECT_TRUE(is_backend_tag(*tag));
}

TEST_P(BackendRoundTripTest, EveryPrefixNeedsMore) {
    const auto& c = GetParam();
    const FrameReader reader(FrameLimits{});
    for (std::size_t k = 0; k < c.hand_built.size(); ++k) {
        const auto prefix = test_support::first_bytes(c.hand_built, k);
        const auto outcome = reader.next(prefix, FramePhase::Tagged);
        ASSERT_TRUE(outcome.needs_more()) << k << " bytes";
        EXPECT_EQ(outcome.needed, k < 5 ? 0 : c.hand_built.size()) << k << " bytes";
    }
}

TEST_P(BackendRoundTripTest, TruncatedBodyDecodesExactlyOrFails) {
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
        EXPECT_EQ(validate_backend_frame(frame).ok(), reencoded.ok()) << k << " body bytes";
    }
}

TEST_P(BackendRoundTripTest, FollowedByReadyForQueryInOneBuffer) {
    const auto& c = GetParam();
    const auto both = test_support::concat(c.hand_built, ReadyForQuery{}.encode());
    const FrameReader reader(FrameLimits{});
    const auto first = reader.next(both, FramePhase::Tagged);
    ASSERT_TRUE(first.is_frame());
    ASSERT_EQ(first.frame.bytes.size(), c.hand_built.size());
    const auto reencoded = c.decode_and_encode(first.frame);
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    EXPECT_EQ(*reencoded, c.hand_built);
    const auto second = reader.next(Bytes(both).subspan(c.hand_built.size()), FramePhase::Tagged);
    ASSERT_TRUE(second.is_frame());
    EXPECT_EQ(second.frame.tag, 'Z');
    EXPECT_EQ(second.frame.bytes.size(), 6u);
}

INSTANTIATE_TEST_SUITE_P(Messages, BackendRoundTripTest, ::testing::ValuesIn(round_trip_cases()),
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
    Check check = &validate_backend_frame;
};

Buffer key_bytes(std::size_t length) { return Buffer(length, 0x5a); }

std::vector<MalformedCase> malformed_cases() {
    using B = MessageBuilder;
    return {
        {"UnknownTag", B::tagged('z').build(), "backend: unknown message type 0x7a"},
        {"FrontendOnlyTag", B::tagged('Q').cstr("x").build(), "backend: unknown message type 0x51"},
        {"AuthenticationUnknownCode", B::tagged('R').i32(6).build(), "Authentication: unknown request code 6"},
        {"AuthenticationOkWithData", B::tagged('R').i32(0).u8(1).build(),
         "Authentication: request code 0 with 1 trailing bytes"},
        {"AuthenticationMd5ShortSalt", B::tagged('R').i32(5).raw("ab").build(),
         "Authentication: MD5 salt of 2 bytes, expected 4"},
        {"AuthenticationSaslUnterminatedList", B::tagged('R').i32(10).cstr("SCRAM-SHA-256").build(),
         "Authentication: SASL mechanism list is missing its NUL terminator"},
        {"AuthenticationSaslEmptyList", B::tagged('R').i32(10).u8(0).build(),
         "Authentication: empty SASL mechanism list"},
        {"AuthenticationSaslTrailing", B::tagged('R').i32(10).cstr("SCRAM-SHA-256").u8(0).u8(7).build(),
         "Authentication: 1 trailing bytes"},
        {"AuthenticationMissingCode", B::tagged('R').i16(0).build(), "Authentication: message ends inside request code"},
        {"ParameterStatusMissingValue", B::tagged('S').cstr("TimeZone").build(),
         "ParameterStatus: parameter value is missing its NUL terminator"},
        {"BackendKeyDataKey3", B::tagged('K').i32(1).raw(key_bytes(3)).build(),
         "BackendKeyData: secret key of 3 bytes, expected 4..256"},
        {"BackendKeyDataKey257", B::tagged('K').i32(1).raw(key_bytes(257)).build(),
         "BackendKeyData: secret key of 257 bytes, expected 4..256"},
        {"BackendKeyDataKey256", B::tagged('K').i32(1).raw(key_bytes(256)).u8(0).build(),
         "BackendKeyData: secret key of 257 bytes, expected 4..256"},
        {"ReadyForQueryBadStatus", B::tagged('Z').u8('X').build(),
         "ReadyForQuery: transaction status 0x58 is not I, T or E"},
        {"ReadyForQueryEmpty", B::tagged('Z').build(), "ReadyForQuery: message ends inside transaction status"},
        {"ReadyForQueryTrailing", B::tagged('Z').u8('I').u8('I').build(), "ReadyForQuery: 1 trailing bytes"},
        {"RowDescriptionCountExceeds", B::tagged('T').i16(2).cstr("id").u32(1).i16(1).u32(23).i16(4).i32(-1).i16(0).build(),
         "RowDescription: field count 2 exceeds message"},
        {"RowDescriptionNameMissingNul",
         B::tagged('T').i16(1).raw("abcdefghijklmnopqrstuvwxyz").build(),
         "RowDescription: field name is missing its NUL terminator"},
        {"DataRowCountExceeds", B::tagged('D').i16(30000).i32(1).raw("abcd").build(),
         "DataRow: column count 30000 exceeds message"},
        {"DataRowColumnLengthExceeds", B::tagged('D').i16(1).i32(9).raw("abc").build(),
         "DataRow: message ends inside column 1"},
        {"DataRowNegativeLength", B::tagged('D').i16(1).i32(-5).build(), "DataRow: column 1 has negative length -5"},
        {"DataRowTrailing", B::tagged('D').i16(1).i32(-1).u8(0).build(), "DataRow: 1 trailing bytes"},
        {"CommandCompleteMissingNul", B::tagged('C').raw("SELECT 1").build(),
         "CommandComplete: command tag is missing its NUL terminator"},
        {"EmptyQueryResponseWithBody", B::tagged('I').u8(0).build(), "EmptyQueryResponse: 1 trailing bytes"},
        {"ErrorResponseMissingTerminator", B::tagged('E').u8('S').cstr("ERROR").build(),
         "ErrorResponse: message ends inside field type"},
        {"ErrorResponseValueMissingNul", B::tagged('E').u8('M').raw("boom").build(),
         "ErrorResponse: field M is missing its NUL terminator"},
        {"ErrorResponseTrailing", B::tagged('E').u8('M').cstr("x").u8(0).u8('x').build(), "ErrorResponse: 1 trailing bytes"},
        {"NoticeResponseEmptyBody", B::tagged('N').build(), "NoticeResponse: message ends inside field type"},
        {"NotificationMissingPayload", B::tagged('A').i32(1).cstr("chan").build(),
         "NotificationResponse: payload is missing its NUL terminator"},
        {"ParameterDescriptionCountExceeds", B::tagged('t').i16(3).u32(23).build(),
         "ParameterDescription: parameter count 3 exceeds message"},
        {"ParseCompleteWithBody", B::tagged('1').u8(0).build(), "ParseComplete: 1 trailing bytes"},
        {"BindCompleteWithBody", B::tagged('2').u8(0).build(), "BindComplete: 1 trailing bytes"},
        {"CloseCompleteWithBody", B::tagged('3').u8(0).build(), "CloseComplete: 1 trailing bytes"},
        {"NoDataWithBody", B::tagged('n').u8(0).build(), "NoData: 1 trailing bytes"},
        {"PortalSuspendedWithBody", B::tagged('s').u8(0).build(), "PortalSuspended: 1 trailing bytes"},
        {"CopyInResponseCountExceeds", B::tagged('G').u8(0).i16(4).i16(0).build(),
         "CopyInResponse: column count 4 exceeds message"},
        {"CopyOutResponseMissingCount", B::tagged('H').u8(0).build(), "CopyOutResponse: message ends inside column count"},
        {"CopyDoneWithBody", B::tagged('c').u8(0).build(), "CopyDone: 1 trailing bytes"},
        {"FunctionCallResponseLengthExceeds", B::tagged('V').i32(10).raw("ab").build(),
         "FunctionCallResponse: message ends inside result value"},
        {"NegotiateNegativeCount", B::tagged('v').i32(0).i32(-1).build(),
         "NegotiateProtocolVersion: negative option count"},
        {"NegotiateCountExceeds", B::tagged('v').i32(0).i32(1000000).cstr("a").build(),
         "NegotiateProtocolVersion: option count 1000000 exceeds message"},
        {"CopyResponseFromWrongTag", B::tagged('D').u8(0).i16(0).build(),
         "CopyResponse: message type 0x44 is not G, H or W", &decode_as<CopyResponse>},
        {"DataRowDecodedFromWrongTag", B::tagged('T').i16(0).build(), "DataRow: expected message type 0x44, got 0x54",
         &decode_as<DataRow>},
    };
}

class BackendMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(BackendMalformedTest, IsRejectedWithReason) {
    const auto& c = GetParam();
    const auto result = c.check(test_support::frame_of(c.bytes));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().message, c.error);
}

INSTANTIATE_TEST_SUITE_P(Messages, BackendMalformedTest, ::testing::ValuesIn(malformed_cases()),
                         [](const auto& info) { return info.param.name; });

struct RowCountCase {
    std::string name;
    std::string tag;
    std::optional<std::uint64_t> expected;
};

class RowCountTest : public ::testing::TestWithParam<RowCountCase> {};

TEST_P(RowCountTest, ParsesLastToken) {
    EXPECT_EQ(CommandComplete{GetParam().tag}.row_count(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Tags, RowCountTest,
                         ::testing::Values(RowCountCase{"Update", "UPDATE 3", 3},
                                           RowCountCase{"UpdateZero", "UPDATE 0", 0},
                                           RowCountCase{"Delete", "DELETE 12", 12},
                                           RowCountCase{"Insert", "INSERT 0 1", 1},
                                           RowCountCase{"Select", "SELECT 100", 100},
                                           RowCountCase{"Begin", "BEGIN", std::nullopt},
                                           RowCountCase{"CreateTable", "CREATE TABLE", std::nullopt},
                                           RowCountCase{"TrailingSpace", "UPDATE ", std::nullopt},
                                           RowCountCase{"Empty", "", std::nullopt},
                                           RowCountCase{"SignedCount", "UPDATE -1", std::nullopt},
                                           RowCountCase{"MixedToken", "UPDATE 3x", std::nullopt},
                                           RowCountCase{"Max", "UPDATE 18446744073709551615", 18446744073709551615ull},
                                           RowCountCase{"Overflow", "UPDATE 18446744073709551616", std::nullopt}),
                         [](const auto& info) { return info.param.name; });

TEST(ErrorResponseTest, MakeFillsStandardFields) {
    const auto error = ErrorResponse::make("40001", "row was changed concurrently", "id=7 version 3");
    EXPECT_EQ(error.get(field::Severity), "ERROR");
    EXPECT_EQ(error.get(field::SeverityNonLocalized), "ERROR");
    EXPECT_EQ(error.get(field::Code), "40001");
    EXPECT_EQ(error.get(field::Message), "row was changed concurrently");
    EXPECT_EQ(error.get(field::Detail), "id=7 version 3");
    EXPECT_EQ(error.get(field::Hint), "");
    const auto bytes = error.encode();
    const auto decoded = ErrorResponse::decode(test_support::frame_of(bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->fields, error.fields);
}

TEST(ErrorResponseTest, MakeOmitsEmptyDetailAndTakesSeverity) {
    const auto error = ErrorResponse::make("08P01", "protocol violation", {}, "FATAL");
    EXPECT_EQ(error.fields, (std::vector<std::pair<char, std::string>>{
                                {'S', "FATAL"}, {'V', "FATAL"}, {'C', "08P01"}, {'M', "protocol violation"}}));
}

TEST(DataRowTest, DecodedColumnsViewTheFrame) {
    const auto bytes = MessageBuilder::tagged('D').i16(2).i32(1).raw("7").i32(-1).build();
    const auto row = DataRow::decode(test_support::frame_of(bytes));
    ASSERT_TRUE(row.ok()) << row.error().message;
    ASSERT_EQ(row->columns.size(), 2u);
    ASSERT_TRUE(row->columns[0].has_value());
    EXPECT_EQ(row->columns[0]->size(), 1u);
    EXPECT_EQ(row->columns[0]->data(), bytes.data() + 5 + 2 + 4);
    EXPECT_FALSE(row->columns[1].has_value());
}

TEST(RowDescriptionTest, DecodedFields) {
    const auto bytes = MessageBuilder::tagged('T').i16(1).cstr("version").u32(16384).i16(3).u32(20).i16(8)
                           .i32(-1).i16(0).build();
    const auto description = RowDescription::decode(test_support::frame_of(bytes));
    ASSERT_TRUE(description.ok()) << description.error().message;
    ASSERT_EQ(description->fields.size(), 1u);
    const auto& field = description->fields[0];
    EXPECT_EQ(field.name, "version");
    EXPECT_EQ(field.table_oid, 16384u);
    EXPECT_EQ(field.column_number, 3);
    EXPECT_EQ(field.type_oid, 20u);
    EXPECT_EQ(field.type_size, 8);
    EXPECT_EQ(field.type_modifier, -1);
    EXPECT_EQ(field.format, 0);
}

TEST(BackendTagTest, NamesAndMembership) {
    EXPECT_EQ(backend_tag_name('Z'), "ReadyForQuery");
    EXPECT_EQ(backend_tag_name('H'), "CopyOutResponse");
    EXPECT_EQ(backend_tag_name('Q'), "unknown");
    EXPECT_TRUE(is_backend_tag('v'));
    EXPECT_FALSE(is_backend_tag('Q'));
}

}  // namespace
}  // namespace staleguard::wire
