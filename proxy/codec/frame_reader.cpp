// Finding the first complete frame in a byte stream without consuming it.
#include <string>

#include "proxy/codec/frame.hpp"

namespace staleguard::wire {
namespace {

constexpr std::size_t kLengthWordSize = 4;
constexpr std::size_t kTagSize = 1;
// A startup packet holds at least its length and a request code or protocol version.
constexpr std::uint32_t kMinStartupLength = 8;
constexpr std::uint32_t kMinMessageLength = 4;

std::uint32_t read_length_word(Bytes at) {
    return (std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) |
           (std::uint32_t{at[2]} << 8) | std::uint32_t{at[3]};
}

FrameOutcome need_more(std::size_t needed) {
    FrameOutcome outcome;
    outcome.kind = FrameOutcome::Kind::NeedMore;
    outcome.needed = needed;
    return outcome;
}

FrameOutcome error(std::string reason) {
    FrameOutcome outcome;
    outcome.kind = FrameOutcome::Kind::Error;
    outcome.error = std::move(reason);
    return outcome;
}

}  // namespace

FrameOutcome FrameReader::next(Bytes buffered, FramePhase phase) const {
    const bool tagged = phase == FramePhase::Tagged;
    const std::size_t header_size = (tagged ? kTagSize : 0) + kLengthWordSize;
    if (buffered.size() < header_size) {
        return need_more(0);
    }
    // The length is checked before waiting for the body, so a forged length neither stalls the
    // stream nor makes the caller buffer up to it.
    const std::uint32_t length = read_length_word(buffered.subspan(header_size - kLengthWordSize));
    const std::uint32_t minimum = tagged ? kMinMessageLength : kMinStartupLength;
    const std::uint32_t maximum = tagged ? limits_.max_message_length : limits_.max_startup_length;
    const char* what = tagged ? "message length " : "startup packet length ";
    if (length < minimum) {
        return error(what + std::to_string(length) + " is below the minimum of " +
                     std::to_string(minimum));
    }
    if (length > maximum) {
        return error(what + std::to_string(length) + " exceeds the limit of " +
                     std::to_string(maximum));
    }
    const std::size_t frame_size = (tagged ? kTagSize : 0) + std::size_t{length};
    if (buffered.size() < frame_size) {
        return need_more(frame_size);
    }
    FrameOutcome outcome;
    outcome.kind = FrameOutcome::Kind::Frame;
    outcome.frame.tag = tagged ? static_cast<char>(buffered[0]) : '\0';
    outcome.frame.bytes = buffered.first(frame_size);
    outcome.frame.payload = buffered.subspan(header_size, frame_size - header_size);
    return outcome;
}

}  // namespace staleguard::wire
