// Decoding and encoding the untagged startup-phase packets.
#include "proxy/codec/startup_messages.hpp"

#include "proxy/codec/byte_io.hpp"

namespace staleguard::wire {
namespace {

constexpr char kUntagged = '\0';

std::uint32_t request_code_of(const Frame& frame) {
    // FrameReader guarantees the 4 code bytes of a startup frame; a hand-built frame may not.
    if (frame.payload.size() < 4) return 0;
    const auto& p = frame.payload;
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

std::vector<std::uint8_t> encode_request_code(std::uint32_t code) {
    return detail::FrameWriter::untagged().uint32(code).finish();
}

// SSLRequest and GSSENCRequest are nothing but their code.
template <class Request>
Result<StartupPacket> decode_bare_request(const Frame& frame, std::string_view name) {
    detail::PayloadReader in(frame, kUntagged, name);
    std::uint32_t code = 0;
    if (!in.uint32(code, "request code") || !in.finish()) return in.error();
    return StartupPacket{Request{}};
}

}  // namespace

std::string_view StartupMessage::parameter(std::string_view name) const {
    for (const auto& [key, value] : parameters) {
        if (key == name) return value;
    }
    return {};
}

Result<StartupMessage> StartupMessage::decode(const Frame& frame) {
    detail::PayloadReader in(frame, kUntagged, "StartupMessage");
    StartupMessage message;
    if (!in.uint32(message.protocol_version, "protocol version")) return in.error();
    switch (message.protocol_version) {
        case kSslRequestCode:
        case kGssEncRequestCode:
        case kCancelRequestCode:
            return codec_error("StartupMessage: request code " +
                               std::to_string(message.protocol_version) + " is not a protocol version");
        default:
            break;
    }
    // Any 3.x is accepted: negotiating the minor version is the server's job.
    if (message.major() != kProtocolMajor3) {
        return codec_error("StartupMessage: unsupported protocol version " +
                           std::to_string(message.major()) + "." + std::to_string(message.minor()));
    }
    // Pairs of NUL-terminated name and value; an empty name is the terminator.
    while (true) {
        std::string_view name;
        if (!in.cstring(name, "parameter name")) return in.error();
        if (name.empty()) break;
        std::string_view value;
        if (!in.cstring(value, "value of parameter \"" + std::string(name) + "\"")) return in.error();
        message.parameters.emplace_back(std::string(name), std::string(value));
    }
    if (!in.finish()) return in.error();
    bool has_user = false;
    for (const auto& [name, value] : message.parameters) {
        has_user = has_user || name == "user";
    }
    if (!has_user) return codec_error("StartupMessage: required parameter \"user\" is missing");
    return message;
}

std::vector<std::uint8_t> StartupMessage::encode() const {
    auto out = detail::FrameWriter::untagged();
    out.uint32(protocol_version);
    for (const auto& [name, value] : parameters) {
        out.cstring(name).cstring(value);
    }
    out.uint8(0);
    return out.finish();
}

std::vector<std::uint8_t> SslRequest::encode() const { return encode_request_code(kSslRequestCode); }

std::vector<std::uint8_t> GssEncRequest::encode() const {
    return encode_request_code(kGssEncRequestCode);
}

Result<CancelRequest> CancelRequest::decode(const Frame& frame) {
    detail::PayloadReader in(frame, kUntagged, "CancelRequest");
    std::uint32_t code = 0;
    CancelRequest request;
    if (!in.uint32(code, "request code") || !in.int32(request.process_id, "process id")) {
        return in.error();
    }
    if (code != kCancelRequestCode) {
        return codec_error("CancelRequest: request code " + std::to_string(code) +
                           " is not the cancel code");
    }
    const Bytes key = in.rest();
    if (key.size() < kMinCancelKeyLength || key.size() > kMaxCancelKeyLength) {
        return codec_error("CancelRequest: secret key of " + std::to_string(key.size()) +
                           " bytes, expected " + std::to_string(kMinCancelKeyLength) + ".." +
                           std::to_string(kMaxCancelKeyLength));
    }
    request.secret_key.assign(key.begin(), key.end());
    return request;
}

std::vector<std::uint8_t> CancelRequest::encode() const {
    return detail::FrameWriter::untagged()
        .uint32(kCancelRequestCode)
        .int32(process_id)
        .bytes(secret_key)
        .finish();
}

Result<StartupPacket> decode_startup_packet(const Frame& frame) {
    if (frame.tag != kUntagged || frame.payload.size() < 4) {
        return codec_error("startup packet: not an untagged frame with a request code");
    }
    switch (request_code_of(frame)) {
        case kSslRequestCode:
            return decode_bare_request<SslRequest>(frame, "SSLRequest");
        case kGssEncRequestCode:
            return decode_bare_request<GssEncRequest>(frame, "GSSENCRequest");
        case kCancelRequestCode: {
            auto cancel = CancelRequest::decode(frame);
            if (!cancel) return cancel.error();
            return StartupPacket{std::move(cancel).value()};
        }
        default: {
            auto startup = StartupMessage::decode(frame);
            if (!startup) return startup.error();
            return StartupPacket{std::move(startup).value()};
        }
    }
}

}  // namespace staleguard::wire
