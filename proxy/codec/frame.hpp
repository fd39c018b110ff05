// Splitting a byte stream into protocol frames, with limits fixed at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace staleguard::wire {

using Bytes = std::span<const std::uint8_t>;

// One message as it stands in the stream. Views point into the caller's buffer.
struct Frame {
    char tag = '\0';  // '\0' for startup-phase frames, which have no type byte
    Bytes payload;    // the bytes after the length word
    Bytes bytes;      // the whole frame as received: what is forwarded unchanged
};

struct FrameLimits {
    // PostgreSQL refuses startup packets above 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
    std::uint32_t max_startup_length = 10000;
    // PostgreSQL's own ceiling for any message (PQ_LARGE_MESSAGE_LIMIT, 1 GiB - 1).
    std::uint32_t max_message_length = 0x3fffffff;
};

enum class FramePhase {
    Startup,  // untagged: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest
    Tagged,   // every later message, from either side
};

struct FrameOutcome {
    enum class Kind { Frame, NeedMore, Error };
    Kind kind = Kind::NeedMore;
    Frame frame;             // when kind == Frame
    std::size_t needed = 0;  // when NeedMore: total bytes the frame needs, or 0 if still unknown
    std::string error;       // when Error: why the stream is malformed

    bool is_frame() const { return kind == Kind::Frame; }
    bool needs_more() const { return kind == Kind::NeedMore; }
    bool is_error() const { return kind == Kind::Error; }
};

// Pure: looks at the front of `buffered`, consumes nothing. The caller drops frame.bytes.size()
// bytes after handling a frame. Tags are not checked here (is_frontend_tag/is_backend_tag do that),
// because which tags are legal depends on the direction.
class FrameReader {
public:
    explicit FrameReader(FrameLimits limits) : limits_(limits) {}

    [[nodiscard]] FrameOutcome next(Bytes buffered, FramePhase phase) const;

    const FrameLimits& limits() const { return limits_; }

private:
    FrameLimits limits_;
};

}  // namespace staleguard::wire
