// Tests for FrameReader: complete frames, partial input, forged lengths, in both phases.
#include "proxy/codec/frame.hpp"

#include <gtest/gtest.h>

#include "tests/proxy/codec/message_builder.hpp"

namespace staleguard::wire {
namespace {

using test_support::Buffer;
using test_support::MessageBuilder;
using Kind = FrameOutcome::Kind;

struct ReaderCase {
    std::string name;
    FramePhase phase;
    Buffer input;
    Kind kind;
    std::size_t needed = 0;          // NeedMore
    std::size_t frame_size = 0;      // Frame
    std::size_t payload_size = 0;    // Frame
    char tag = '\0';                 // Frame
    std::string error_substring;     // Error
    FrameLimits limits = {};
};

ReaderCase frame_case(std::string name, FramePhase phase, Buffer input, std::size_t frame_size,
                      std::size_t payload_size, char tag) {
    return {std::move(name), phase, std::move(input), Kind::Frame, 0, frame_size, payload_size, tag, {}};
}
ReaderCase need_case(std::string name, FramePhase phase, Buffer input, std::size_t needed,
                     FrameLimits limits = {}) {
    return {std::move(name), phase, std::move(input), Kind::NeedMore, needed, 0, 0, '\0', {}, limits};
}
ReaderCase error_case(std::string name, FramePhase phase, Buffer input, std::string error,
                      FrameLimits limits = {}) {
    return {std::move(name), phase, std::move(input), Kind::Error, 0, 0, 0, '\0', std::move(error), limits};
}

constexpr auto kTagged = FramePhase::Tagged;
constexpr auto kStartup = FramePhase::Startup;

std::vector<ReaderCase> reader_cases() {
    const auto sync = MessageBuilder::tagged('S').build();
    const auto query = MessageBuilder::tagged('Q').cstr("SELECT 1").build();  // 1 + 4 + 9
    const auto ssl = MessageBuilder::startup().u32(80877103).build();
    const auto small_limit = FrameLimits{.max_startup_length = 10000, .max_message_length = 100};
    return {
        need_case("TaggedEmpty", kTagged, {}, 0),
        need_case("TaggedTagOnly", kTagged, {'Q'}, 0),
        need_case("TaggedFourHeaderBytes", kTagged, {'Q', 0, 0, 0}, 0),
        need_case("TaggedHeaderOnly", kTagged, test_support::first_bytes(query, 5), 14),
        need_case("TaggedAllButLastByte", kTagged, test_support::first_bytes(query, 13), 14),
        frame_case("TaggedEmptyBody", kTagged, sync, 5, 0, 'S'),
        frame_case("TaggedWithBody", kTagged, query, 14, 9, 'Q'),
        frame_case("TaggedFollowedByMore", kTagged, test_support::concat(query, sync), 14, 9, 'Q'),
        frame_case("TaggedFollowedByPartial", kTagged, test_support::concat(sync, {'Q', 0}), 5, 0, 'S'),
        error_case("TaggedLength3", kTagged, MessageBuilder::tagged('Q').length(3).build(),
                   "message length 3 is below the minimum of 4"),
        error_case("TaggedLength0", kTagged, MessageBuilder::tagged('Q').length(0).build(),
                   "message length 0 is below the minimum of 4"),
        error_case("TaggedLengthNegative", kTagged, MessageBuilder::tagged('Q').length(0xffffffff).build(),
                   "message length 4294967295 exceeds the limit of 1073741823"),
        error_case("TaggedLengthAboveDefaultLimit", kTagged,
                   MessageBuilder::tagged('d').length(0x40000000).build(),
                   "message length 1073741824 exceeds the limit of 1073741823"),
        need_case("TaggedLengthAtLimit", kTagged, MessageBuilder::tagged('d').length(100).build(), 101,
                  small_limit),
        error_case("TaggedLengthAboveLimitHeaderOnly", kTagged,
                   MessageBuilder::tagged('d').length(101).build(),
                   "message length 101 exceeds the limit of 100", small_limit),
        need_case("StartupEmpty", kStartup, {}, 0),
        need_case("StartupThreeBytes", kStartup, {0, 0, 0}, 0),
        need_case("StartupLengthOnly", kStartup, {0, 0, 0, 8}, 8),
        need_case("StartupLengthAtLimit", kStartup, MessageBuilder::startup().length(10000).build(), 10000),
        frame_case("StartupSslRequest", kStartup, ssl, 8, 4, '\0'),
        frame_case("StartupFollowedByTagged", kStartup, test_support::concat(ssl, sync), 8, 4, '\0'),
        error_case("StartupLength7", kStartup, MessageBuilder::startup().u32(80877103).length(7).build(),
                   "startup packet length 7 is below the minimum of 8"),
        error_case("StartupLength4", kStartup, MessageBuilder::startup().build(),
                   "startup packet length 4 is below the minimum of 8"),
        error_case("StartupLength10001", kStartup, MessageBuilder::startup().length(10001).build(),
                   "startup packet length 10001 exceeds the limit of 10000"),
        error_case("StartupLengthNegative", kStartup, MessageBuilder::startup().length(0xfffffff0).build(),
                   "startup packet length 4294967280 exceeds the limit of 10000"),
    };
}

class FrameReaderTest : public ::testing::TestWithParam<ReaderCase> {};

TEST_P(FrameReaderTest, Outcome) {
    const auto& c = GetParam();
    const FrameReader reader(c.limits);
    const auto outcome = reader.next(c.input, c.phase);
    ASSERT_EQ(outcome.kind, c.kind) << outcome.error;
    switch (c.kind) {
        case Kind::NeedMore:
            EXPECT_EQ(outcome.needed, c.needed);
            break;
        case Kind::Frame:
            EXPECT_EQ(outcome.frame.tag, c.tag);
            EXPECT_EQ(outcome.frame.bytes.data(), c.input.data());
            EXPECT_EQ(outcome.frame.bytes.size(), c.frame_size);
            EXPECT_EQ(outcome.frame.payload.size(), c.payload_size);
            EXPECT_EQ(outcome.frame.payload.data() + outcome.frame.payload.size(),
                      outcome.frame.bytes.data() + outcome.frame.bytes.size());
            break;
        case Kind::Error:
            EXPECT_EQ(outcome.error, c.error_substring);
            break;
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, FrameReaderTest, ::testing::ValuesIn(reader_cases()),
                         [](const auto& info) { return info.param.name; });

struct WholeFrame {
    std::string name;
    FramePhase phase;
    Buffer bytes;
};

std::vector<WholeFrame> whole_frames() {
    return {
        {"Sync", kTagged, MessageBuilder::tagged('S').build()},
        {"Query", kTagged, MessageBuilder::tagged('Q').cstr("UPDATE t SET a = 1 WHERE id = 2").build()},
        {"DataRow", kTagged, MessageBuilder::tagged('D').i16(2).i32(1).raw("7").i32(-1).build()},
        {"SslRequest", kStartup, MessageBuilder::startup().u32(80877103).build()},
        {"StartupMessage", kStartup,
         MessageBuilder::startup().u32(3u << 16).cstr("user").cstr("alice").u8(0).build()},
    };
}

class WholeFrameTest : public ::testing::TestWithParam<WholeFrame> {};

// Every proper prefix asks for more, and says how much once the header is in.
TEST_P(WholeFrameTest, EveryPrefixNeedsMore) {
    const auto& c = GetParam();
    const FrameReader reader(FrameLimits{});
    const std::size_t header = c.phase == kTagged ? 5 : 4;
    for (std::size_t k = 0; k < c.bytes.size(); ++k) {
        const auto prefix = test_support::first_bytes(c.bytes, k);
        const auto outcome = reader.next(prefix, c.phase);
        ASSERT_TRUE(outcome.needs_more()) << "prefix of " << k << " bytes: " << outcome.error;
        EXPECT_EQ(outcome.needed, k < header ? 0 : c.bytes.size()) << "prefix of " << k << " bytes";
    }
    const auto outcome = reader.next(c.bytes, c.phase);
    ASSERT_TRUE(outcome.is_frame());
    EXPECT_EQ(outcome.frame.bytes.size(), c.bytes.size());
}

// Two frames back to back come out one at a time, each exactly.
TEST_P(WholeFrameTest, TwoInOneBuffer) {
    const auto& c = GetParam();
    const FrameReader reader(FrameLimits{});
    const auto second = MessageBuilder::tagged('Q').cstr("SELECT 2").build();
    const auto both = test_support::concat(c.bytes, second);
    const auto first_outcome = reader.next(both, c.phase);
    ASSERT_TRUE(first_outcome.is_frame());
    ASSERT_EQ(first_outcome.frame.bytes.size(), c.bytes.size());
    const auto rest = Bytes(both).subspan(first_outcome.frame.bytes.size());
    const auto second_outcome = reader.next(rest, kTagged);
    ASSERT_TRUE(second_outcome.is_frame());
    EXPECT_EQ(second_outcome.frame.tag, 'Q');
    EXPECT_EQ(second_outcome.frame.bytes.size(), second.size());
    EXPECT_EQ(second_outcome.frame.bytes.data() + second.size(), both.data() + both.size());
}

INSTANTIATE_TEST_SUITE_P(Frames, WholeFrameTest, ::testing::ValuesIn(whole_frames()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::wire
