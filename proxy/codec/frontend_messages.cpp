// Decoding and encoding the messages a client sends after startup.
#include "proxy/codec/frontend_messages.hpp"

#include <string>

#include "proxy/codec/byte_io.hpp"
#include "proxy/codec/message_tag.hpp"

namespace staleguard::wire {
namespace {

constexpr char tag_of(FrontendTag tag) { return static_cast<char>(tag); }

constexpr std::size_t kInt16Size = 2;
constexpr std::size_t kInt32Size = 4;

// An Int16 count followed by that many Int16 format codes.
bool read_formats(detail::PayloadReader& in, std::vector<std::int16_t>& out, std::string_view what) {
    std::uint16_t count = 0;
    if (!in.uint16(count, detail::FieldLabel(what, " count")) ||
        !in.count_fits(count, kInt16Size, detail::FieldLabel(what, " count"))) {
        return false;
    }
    out.resize(count);
    for (auto& format : out) {
        if (!in.int16(format, what)) return false;
    }
    return true;
}

// An Int16 count followed by that many length-prefixed values (-1 = NULL).
bool read_values(detail::PayloadReader& in, std::vector<std::optional<Bytes>>& out,
                 std::string_view what) {
    std::uint16_t count = 0;
    if (!in.uint16(count, detail::FieldLabel(what, " count")) ||
        !in.count_fits(count, kInt32Size, detail::FieldLabel(what, " count"))) {
        return false;
    }
    out.resize(count);
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (!in.nullable_value(out[i], detail::FieldLabel(what, i + 1))) return false;
    }
    return true;
}

void write_formats(detail::FrameWriter& out, const std::vector<std::int16_t>& formats) {
    out.count16(formats.size());
    for (const auto format : formats) out.int16(format);
}

void write_values(detail::FrameWriter& out, const std::vector<std::optional<Bytes>>& values) {
    out.count16(values.size());
    for (const auto& value : values) out.nullable_value(value);
}

bool read_object_kind(detail::PayloadReader& in, ObjectKind& out) {
    std::uint8_t kind = 0;
    if (!in.uint8(kind, "object kind")) return false;
    if (kind != 'S' && kind != 'P') {
        return in.fail("object kind " + detail::quoted_tag(static_cast<char>(kind)) +
                       " is neither 'S' nor 'P'");
    }
    out = static_cast<ObjectKind>(kind);
    return true;
}

// Messages without a body share one decode: anything in the payload is an error.
template <class Message>
Result<Message> decode_empty(const Frame& frame, FrontendTag tag, std::string_view name) {
    detail::PayloadReader in(frame, tag_of(tag), name);
    if (!in.finish()) return in.error();
    return Message{};
}

std::vector<std::uint8_t> encode_empty(FrontendTag tag) {
    return detail::FrameWriter(tag_of(tag)).finish();
}

template <class Message>
Result<char> validate_as(const Frame& frame) {
    auto decoded = Message::decode(frame);
    if (!decoded) return decoded.error();
    return frame.tag;
}

}  // namespace

Result<Query> Query::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Query), "Query");
    Query message;
    if (!in.cstring(message.sql, "query string") || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> Query::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::Query)).cstring(sql).finish();
}

Result<Parse> Parse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Parse), "Parse");
    Parse message;
    std::uint16_t count = 0;
    if (!in.cstring(message.statement, "statement name") || !in.cstring(message.query, "query string") ||
        !in.uint16(count, "parameter type count") ||
        !in.count_fits(count, kInt32Size, "parameter type count")) {
        return in.error();
    }
    message.parameter_types.resize(count);
    for (auto& oid : message.parameter_types) {
        if (!in.uint32(oid, "parameter type")) return in.error();
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> Parse::encode() const {
    detail::FrameWriter out(tag_of(FrontendTag::Parse));
    out.cstring(statement).cstring(query).count16(parameter_types.size());
    for (const auto oid : parameter_types) out.uint32(oid);
    return out.finish();
}

Result<Bind> Bind::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Bind), "Bind");
    Bind message;
    // Format/parameter count agreement is left to the server, which reports it to the client.
    if (!in.cstring(message.portal, "portal name") ||
        !in.cstring(message.statement, "statement name") ||
        !read_formats(in, message.parameter_formats, "parameter format") ||
        !read_values(in, message.parameters, "parameter") ||
        !read_formats(in, message.result_formats, "result format") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> Bind::encode() const {
    detail::FrameWriter out(tag_of(FrontendTag::Bind));
    out.cstring(portal).cstring(statement);
    write_formats(out, parameter_formats);
    write_values(out, parameters);
    write_formats(out, result_formats);
    return out.finish();
}

Result<Describe> Describe::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Describe), "Describe");
    Describe message;
    if (!read_object_kind(in, message.kind) || !in.cstring(message.name, "name") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> Describe::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::Describe))
        .uint8(static_cast<std::uint8_t>(kind))
        .cstring(name)
        .finish();
}

Result<Execute> Execute::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Execute), "Execute");
    Execute message;
    if (!in.cstring(message.portal, "portal name") || !in.int32(message.max_rows, "row limit") ||
        !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> Execute::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::Execute)).cstring(portal).int32(max_rows).finish();
}

Result<Close> Close::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::Close), "Close");
    Close message;
    if (!read_object_kind(in, message.kind) || !in.cstring(message.name, "name") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> Close::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::Close))
        .uint8(static_cast<std::uint8_t>(kind))
        .cstring(name)
        .finish();
}

Result<Sync> Sync::decode(const Frame& frame) {
    return decode_empty<Sync>(frame, FrontendTag::Sync, "Sync");
}
std::vector<std::uint8_t> Sync::encode() const { return encode_empty(FrontendTag::Sync); }

Result<Flush> Flush::decode(const Frame& frame) {
    return decode_empty<Flush>(frame, FrontendTag::Flush, "Flush");
}
std::vector<std::uint8_t> Flush::encode() const { return encode_empty(FrontendTag::Flush); }

Result<Terminate> Terminate::decode(const Frame& frame) {
    return decode_empty<Terminate>(frame, FrontendTag::Terminate, "Terminate");
}
std::vector<std::uint8_t> Terminate::encode() const { return encode_empty(FrontendTag::Terminate); }

Result<FunctionCall> FunctionCall::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::FunctionCall), "FunctionCall");
    FunctionCall message;
    if (!in.uint32(message.function_oid, "function oid") ||
        !read_formats(in, message.argument_formats, "argument format") ||
        !read_values(in, message.arguments, "argument") ||
        !in.int16(message.result_format, "result format") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> FunctionCall::encode() const {
    detail::FrameWriter out(tag_of(FrontendTag::FunctionCall));
    out.uint32(function_oid);
    write_formats(out, argument_formats);
    write_values(out, arguments);
    out.int16(result_format);
    return out.finish();
}

Result<CopyData> CopyData::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::CopyData), "CopyData");
    CopyData message;
    message.data = in.rest();
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> CopyData::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::CopyData)).bytes(data).finish();
}

Result<CopyDone> CopyDone::decode(const Frame& frame) {
    return decode_empty<CopyDone>(frame, FrontendTag::CopyDone, "CopyDone");
}
std::vector<std::uint8_t> CopyDone::encode() const { return encode_empty(FrontendTag::CopyDone); }

Result<CopyFail> CopyFail::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::CopyFail), "CopyFail");
    CopyFail message;
    if (!in.cstring(message.message, "error message") || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> CopyFail::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::CopyFail)).cstring(message).finish();
}

Result<AuthenticationResponse> AuthenticationResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::AuthenticationResponse),
                             "AuthenticationResponse");
    AuthenticationResponse message;
    message.payload = in.rest();
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> AuthenticationResponse::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::AuthenticationResponse)).bytes(payload).finish();
}

Result<PasswordMessage> PasswordMessage::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::AuthenticationResponse), "PasswordMessage");
    PasswordMessage message;
    if (!in.cstring(message.password, "password") || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> PasswordMessage::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::AuthenticationResponse)).cstring(password).finish();
}

Result<SaslInitialResponse> SaslInitialResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::AuthenticationResponse),
                             "SASLInitialResponse");
    SaslInitialResponse message;
    if (!in.cstring(message.mechanism, "mechanism name") ||
        !in.nullable_value(message.data, "initial response") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> SaslInitialResponse::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::AuthenticationResponse))
        .cstring(mechanism)
        .nullable_value(data)
        .finish();
}

Result<SaslResponse> SaslResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(FrontendTag::AuthenticationResponse), "SASLResponse");
    SaslResponse message;
    message.data = in.rest();
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> SaslResponse::encode() const {
    return detail::FrameWriter(tag_of(FrontendTag::AuthenticationResponse)).bytes(data).finish();
}

Result<char> validate_frontend_frame(const Frame& frame) {
    switch (static_cast<FrontendTag>(frame.tag)) {
        case FrontendTag::Query: return validate_as<Query>(frame);
        case FrontendTag::Parse: return validate_as<Parse>(frame);
        case FrontendTag::Bind: return validate_as<Bind>(frame);
        case FrontendTag::Describe: return validate_as<Describe>(frame);
        case FrontendTag::Execute: return validate_as<Execute>(frame);
        case FrontendTag::Close: return validate_as<Close>(frame);
        case FrontendTag::Sync: return validate_as<Sync>(frame);
        case FrontendTag::Flush: return validate_as<Flush>(frame);
        case FrontendTag::FunctionCall: return validate_as<FunctionCall>(frame);
        case FrontendTag::CopyData: return validate_as<CopyData>(frame);
        case FrontendTag::CopyDone: return validate_as<CopyDone>(frame);
        case FrontendTag::CopyFail: return validate_as<CopyFail>(frame);
        // Which of password, SASL initial response or SASL response this is depends on the
        // exchange in progress, which only the session knows.
        case FrontendTag::AuthenticationResponse: return validate_as<AuthenticationResponse>(frame);
        case FrontendTag::Terminate: return validate_as<Terminate>(frame);
    }
    return codec_error("frontend: unknown message type " + detail::quoted_tag(frame.tag));
}

}  // namespace staleguard::wire
