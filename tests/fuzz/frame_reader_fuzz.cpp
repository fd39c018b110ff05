// libFuzzer target: frames split from arbitrary bytes in both phases, validated and re-encoded.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frame.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/codec/message_tag.hpp"
#include "proxy/codec/startup_messages.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace staleguard::wire {
namespace {

bool same_bytes(const std::vector<std::uint8_t>& encoded, Bytes original) {
    return encoded.size() == original.size() &&
           std::equal(encoded.begin(), encoded.end(), original.begin());
}

// Decoding is exact (no trailing bytes, counts as read), so whatever decodes must encode back
// to the very bytes it came from.
template <class T>
bool decodes_and_round_trips(const Frame& frame) {
    auto decoded = T::decode(frame);
    if (!decoded) {
        FUZZ_REQUIRE(!decoded.error().message.empty());
        return false;
    }
    FUZZ_REQUIRE(same_bytes(decoded->encode(), frame.bytes));
    return true;
}

bool round_trip_frontend(const Frame& frame) {
    switch (static_cast<FrontendTag>(frame.tag)) {
        case FrontendTag::Query: return decodes_and_round_trips<Query>(frame);
        case FrontendTag::Parse: return decodes_and_round_trips<Parse>(frame);
        case FrontendTag::Bind: return decodes_and_round_trips<Bind>(frame);
        case FrontendTag::Describe: return decodes_and_round_trips<Describe>(frame);
        case FrontendTag::Execute: return decodes_and_round_trips<Execute>(frame);
        case FrontendTag::Close: return decodes_and_round_trips<Close>(frame);
        case FrontendTag::Sync: return decodes_and_round_trips<Sync>(frame);
        case FrontendTag::Flush: return decodes_and_round_trips<Flush>(frame);
        case FrontendTag::FunctionCall: return decodes_and_round_trips<FunctionCall>(frame);
        case FrontendTag::CopyData: return decodes_and_round_trips<CopyData>(frame);
        case FrontendTag::CopyDone: return decodes_and_round_trips<CopyDone>(frame);
        case FrontendTag::CopyFail: return decodes_and_round_trips<CopyFail>(frame);
        case FrontendTag::AuthenticationResponse:
            // The three readings of 'p' that only the session can choose between.
            (void)decodes_and_round_trips<PasswordMessage>(frame);
            (void)decodes_and_round_trips<SaslInitialResponse>(frame);
            (void)decodes_and_round_trips<SaslResponse>(frame);
            return decodes_and_round_trips<AuthenticationResponse>(frame);
        case FrontendTag::Terminate: return decodes_and_round_trips<Terminate>(frame);
    }
    return false;
}

bool round_trip_backend(const Frame& frame) {
    switch (static_cast<BackendTag>(frame.tag)) {
        case BackendTag::Authentication: return decodes_and_round_trips<Authentication>(frame);
        case BackendTag::ParameterStatus: return decodes_and_round_trips<ParameterStatus>(frame);
        case BackendTag::BackendKeyData: return decodes_and_round_trips<BackendKeyData>(frame);
        case BackendTag::ReadyForQuery: return decodes_and_round_trips<ReadyForQuery>(frame);
        case BackendTag::RowDescription: return decodes_and_round_trips<RowDescription>(frame);
        case BackendTag::DataRow: return decodes_and_round_trips<DataRow>(frame);
        case BackendTag::CommandComplete: {
            auto complete = CommandComplete::decode(frame);
            if (complete) (void)complete->row_count();
            return decodes_and_round_trips<CommandComplete>(frame);
        }
        case BackendTag::EmptyQueryResponse: return decodes_and_round_trips<EmptyQueryResponse>(frame);
        case BackendTag::ErrorResponse: return decodes_and_round_trips<ErrorResponse>(frame);
        case BackendTag::NoticeResponse: return decodes_and_round_trips<NoticeResponse>(frame);
        case BackendTag::NotificationResponse: return decodes_and_round_trips<NotificationResponse>(frame);
        case BackendTag::ParameterDescription: return decodes_and_round_trips<ParameterDescription>(frame);
        case BackendTag::ParseComplete: return decodes_and_round_trips<ParseComplete>(frame);
        case BackendTag::BindComplete: return decodes_and_round_trips<BindComplete>(frame);
        case BackendTag::CloseComplete: return decodes_and_round_trips<CloseComplete>(frame);
        case BackendTag::NoData: return decodes_and_round_trips<NoData>(frame);
        case BackendTag::PortalSuspended: return decodes_and_round_trips<PortalSuspended>(frame);
        case BackendTag::CopyInResponse:
        case BackendTag::CopyOutResponse:
        case BackendTag::CopyBothResponse: return decodes_and_round_trips<CopyResponse>(frame);
        case BackendTag::CopyData: return decodes_and_round_trips<CopyData>(frame);
        case BackendTag::CopyDone: return decodes_and_round_trips<CopyDone>(frame);
        case BackendTag::FunctionCallResponse: return decodes_and_round_trips<FunctionCallResponse>(frame);
        case BackendTag::NegotiateProtocolVersion:
            return decodes_and_round_trips<NegotiateProtocolVersion>(frame);
    }
    return false;
}

void check_tagged_frame(const Frame& frame) {
    const auto frontend = validate_frontend_frame(frame);
    FUZZ_REQUIRE(frontend.ok() == round_trip_frontend(frame));
    FUZZ_REQUIRE(!frontend.ok() || (*frontend == frame.tag && is_frontend_tag(frame.tag)));
    const auto backend = validate_backend_frame(frame);
    FUZZ_REQUIRE(backend.ok() == round_trip_backend(frame));
    FUZZ_REQUIRE(!backend.ok() || (*backend == frame.tag && is_backend_tag(frame.tag)));
}

void check_startup_frame(const Frame& frame) {
    const auto packet = decode_startup_packet(frame);
    if (!packet) return;
    const auto encoded = std::visit([](const auto& message) { return message.encode(); }, *packet);
    FUZZ_REQUIRE(same_bytes(encoded, frame.bytes));
}

// Splits the whole input as a stream, checking the reader's own promises on every answer.
// Returns how many bytes were consumed.
std::size_t split_stream(const FrameReader& reader, Bytes input, FramePhase first_phase) {
    std::size_t consumed = 0;
    FramePhase phase = first_phase;
    while (true) {
        const Bytes rest = input.subspan(consumed);
        const auto outcome = reader.next(rest, phase);
        if (outcome.needs_more()) {
            FUZZ_REQUIRE(outcome.needed == 0 || outcome.needed > rest.size());
            return consumed;
        }
        if (outcome.is_error()) {
            FUZZ_REQUIRE(!outcome.error.empty());
            return consumed;
        }
        const Frame& frame = outcome.frame;
        FUZZ_REQUIRE(frame.bytes.data() == rest.data() && frame.bytes.size() <= rest.size());
        FUZZ_REQUIRE(frame.payload.data() + frame.payload.size() == frame.bytes.data() + frame.bytes.size());
        if (phase == FramePhase::Startup) {
            FUZZ_REQUIRE(frame.tag == '\0' && frame.payload.size() + 4 == frame.bytes.size());
            FUZZ_REQUIRE(frame.bytes.size() <= reader.limits().max_startup_length);
            check_startup_frame(frame);
        } else {
            FUZZ_REQUIRE(frame.payload.size() + 5 == frame.bytes.size());
            check_tagged_frame(frame);
        }
        consumed += frame.bytes.size();
        // A client sends one startup packet, then tagged messages.
        phase = FramePhase::Tagged;
    }
}

}  // namespace
}  // namespace staleguard::wire

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace staleguard::wire;
    // An exact-size copy, so that reading one byte past the input is an ASan report.
    const std::vector<std::uint8_t> input(data, data + size);
    const Bytes bytes(input.data(), input.size());
    const FrameReader default_reader(FrameLimits{});
    (void)split_stream(default_reader, bytes, FramePhase::Startup);
    (void)split_stream(default_reader, bytes, FramePhase::Tagged);
    // Small limits reach the over-limit paths with short inputs.
    const FrameReader small_reader(FrameLimits{.max_startup_length = 64, .max_message_length = 64});
    (void)split_stream(small_reader, bytes, FramePhase::Startup);
    (void)split_stream(small_reader, bytes, FramePhase::Tagged);
    return 0;
}
