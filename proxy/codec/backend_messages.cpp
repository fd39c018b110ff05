// Decoding and encoding the messages a server sends.
#include "proxy/codec/backend_messages.hpp"

#include <charconv>
#include <string>

#include "proxy/codec/byte_io.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "proxy/codec/message_tag.hpp"
#include "proxy/codec/startup_messages.hpp"

namespace staleguard::wire {
namespace {

constexpr char tag_of(BackendTag tag) { return static_cast<char>(tag); }

constexpr std::size_t kInt16Size = 2;
constexpr std::size_t kInt32Size = 4;
// Name NUL, table oid, column number, type oid, type size, type modifier, format.
constexpr std::size_t kMinFieldDescriptionSize = 1 + 4 + 2 + 4 + 2 + 4 + 2;
constexpr std::size_t kMd5SaltLength = 4;

template <class Message>
Result<Message> decode_empty(const Frame& frame, BackendTag tag, std::string_view name) {
    detail::PayloadReader in(frame, tag_of(tag), name);
    if (!in.finish()) return in.error();
    return Message{};
}

std::vector<std::uint8_t> encode_empty(BackendTag tag) {
    return detail::FrameWriter(tag_of(tag)).finish();
}

template <class Message>
Result<char> validate_as(const Frame& frame) {
    auto decoded = Message::decode(frame);
    if (!decoded) return decoded.error();
    return frame.tag;
}

// What each request code carries after it, so that a malformed request is caught here rather
// than by the client.
std::optional<CodecError> check_authentication_data(AuthenticationCode code, Bytes data) {
    const auto reject = [](std::string reason) { return codec_error("Authentication: " + reason); };
    switch (code) {
        case AuthenticationCode::Ok:
        case AuthenticationCode::KerberosV5:
        case AuthenticationCode::CleartextPassword:
        case AuthenticationCode::Gss:
        case AuthenticationCode::Sspi:
            if (!data.empty()) {
                return reject("request code " + std::to_string(static_cast<int>(code)) + " with " +
                              std::to_string(data.size()) + " trailing bytes");
            }
            return std::nullopt;
        case AuthenticationCode::Md5Password:
            if (data.size() != kMd5SaltLength) {
                return reject("MD5 salt of " + std::to_string(data.size()) + " bytes, expected 4");
            }
            return std::nullopt;
        case AuthenticationCode::Sasl: {
            // One or more NUL-terminated mechanism names, then an empty one.
            detail::PayloadReader list(data, "Authentication");
            std::size_t mechanisms = 0;
            std::string_view name;
            while (list.cstring(name, "SASL mechanism list") && !name.empty()) ++mechanisms;
            if (list.failed() || !list.finish()) return list.error();
            if (mechanisms == 0) return reject("empty SASL mechanism list");
            return std::nullopt;
        }
        case AuthenticationCode::GssContinue:
        case AuthenticationCode::SaslContinue:
        case AuthenticationCode::SaslFinal:
            return std::nullopt;
    }
    return reject("unknown request code " + std::to_string(static_cast<int>(code)));
}

bool read_error_fields(detail::PayloadReader& in, ErrorFields& out) {
    while (true) {
        std::uint8_t code = 0;
        if (!in.uint8(code, "field type")) return false;
        if (code == 0) return true;
        std::string_view value;
        if (!in.cstring(value, detail::FieldLabel("field", static_cast<char>(code)))) return false;
        out.fields.emplace_back(static_cast<char>(code), std::string(value));
    }
}

void write_error_fields(detail::FrameWriter& out, const ErrorFields& fields) {
    for (const auto& [code, value] : fields.fields) {
        out.uint8(static_cast<std::uint8_t>(code)).cstring(value);
    }
    out.uint8(0);
}

}  // namespace

Result<Authentication> Authentication::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::Authentication), "Authentication");
    Authentication message;
    std::int32_t code = 0;
    if (!in.int32(code, "request code")) return in.error();
    message.code = static_cast<AuthenticationCode>(code);
    message.data = in.rest();
    if (!in.finish()) return in.error();
    if (auto malformed = check_authentication_data(message.code, message.data)) return *malformed;
    return message;
}

std::vector<std::uint8_t> Authentication::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::Authentication))
        .int32(static_cast<std::int32_t>(code))
        .bytes(data)
        .finish();
}

Result<ParameterStatus> ParameterStatus::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::ParameterStatus), "ParameterStatus");
    ParameterStatus message;
    if (!in.cstring(message.name, "parameter name") || !in.cstring(message.value, "parameter value") ||
        !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> ParameterStatus::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::ParameterStatus)).cstring(name).cstring(value).finish();
}

Result<BackendKeyData> BackendKeyData::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::BackendKeyData), "BackendKeyData");
    BackendKeyData message;
    if (!in.int32(message.process_id, "process id")) return in.error();
    message.secret_key = in.rest();
    if (message.secret_key.size() < kMinCancelKeyLength ||
        message.secret_key.size() > kMaxCancelKeyLength) {
        return codec_error("BackendKeyData: secret key of " +
                           std::to_string(message.secret_key.size()) + " bytes, expected " +
                           std::to_string(kMinCancelKeyLength) + ".." +
                           std::to_string(kMaxCancelKeyLength));
    }
    return message;
}

std::vector<std::uint8_t> BackendKeyData::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::BackendKeyData))
        .int32(process_id)
        .bytes(secret_key)
        .finish();
}

Result<ReadyForQuery> ReadyForQuery::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::ReadyForQuery), "ReadyForQuery");
    std::uint8_t status = 0;
    if (!in.uint8(status, "transaction status") || !in.finish()) return in.error();
    if (status != 'I' && status != 'T' && status != 'E') {
        return codec_error("ReadyForQuery: transaction status " +
                           detail::quoted_tag(static_cast<char>(status)) + " is not I, T or E");
    }
    ReadyForQuery message;
    message.status = static_cast<TransactionStatus>(status);
    return message;
}

std::vector<std::uint8_t> ReadyForQuery::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::ReadyForQuery))
        .uint8(static_cast<std::uint8_t>(status))
        .finish();
}

Result<RowDescription> RowDescription::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::RowDescription), "RowDescription");
    RowDescription message;
    std::uint16_t count = 0;
    if (!in.uint16(count, "field count") ||
        !in.count_fits(count, kMinFieldDescriptionSize, "field count")) {
        return in.error();
    }
    message.fields.resize(count);
    for (auto& field : message.fields) {
        if (!in.cstring(field.name, "field name") || !in.uint32(field.table_oid, "table oid") ||
            !in.int16(field.column_number, "column number") || !in.uint32(field.type_oid, "type oid") ||
            !in.int16(field.type_size, "type size") || !in.int32(field.type_modifier, "type modifier") ||
            !in.int16(field.format, "format code")) {
            return in.error();
        }
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> RowDescription::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::RowDescription));
    out.count16(fields.size());
    for (const auto& field : fields) {
        out.cstring(field.name)
            .uint32(field.table_oid)
            .int16(field.column_number)
            .uint32(field.type_oid)
            .int16(field.type_size)
            .int32(field.type_modifier)
            .int16(field.format);
    }
    return out.finish();
}

Result<DataRow> DataRow::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::DataRow), "DataRow");
    DataRow message;
    std::uint16_t count = 0;
    if (!in.uint16(count, "column count") || !in.count_fits(count, kInt32Size, "column count")) {
        return in.error();
    }
    message.columns.resize(count);
    for (std::size_t i = 0; i < message.columns.size(); ++i) {
        if (!in.nullable_value(message.columns[i], detail::FieldLabel("column", i + 1))) {
            return in.error();
        }
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> DataRow::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::DataRow));
    out.count16(columns.size());
    for (const auto& column : columns) out.nullable_value(column);
    return out.finish();
}

std::optional<std::uint64_t> CommandComplete::row_count() const {
    const auto space = tag.rfind(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto token = tag.substr(space + 1);
    if (token.empty()) return std::nullopt;
    std::uint64_t count = 0;
    const auto* end = token.data() + token.size();
    const auto [stop, status] = std::from_chars(token.data(), end, count);
    if (status != std::errc{} || stop != end) return std::nullopt;
    return count;
}

Result<CommandComplete> CommandComplete::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::CommandComplete), "CommandComplete");
    CommandComplete message;
    if (!in.cstring(message.tag, "command tag") || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> CommandComplete::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::CommandComplete)).cstring(tag).finish();
}

Result<EmptyQueryResponse> EmptyQueryResponse::decode(const Frame& frame) {
    return decode_empty<EmptyQueryResponse>(frame, BackendTag::EmptyQueryResponse,
                                            "EmptyQueryResponse");
}
std::vector<std::uint8_t> EmptyQueryResponse::encode() const {
    return encode_empty(BackendTag::EmptyQueryResponse);
}

std::string_view ErrorFields::get(char code) const {
    for (const auto& [field_code, value] : fields) {
        if (field_code == code) return value;
    }
    return {};
}

Result<ErrorResponse> ErrorResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::ErrorResponse), "ErrorResponse");
    ErrorResponse message;
    if (!read_error_fields(in, message) || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> ErrorResponse::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::ErrorResponse));
    write_error_fields(out, *this);
    return out.finish();
}

ErrorResponse ErrorResponse::make(std::string_view sqlstate, std::string_view message,
                                  std::string_view detail, std::string_view severity) {
    ErrorResponse error;
    error.fields.emplace_back(field::Severity, std::string(severity));
    error.fields.emplace_back(field::SeverityNonLocalized, std::string(severity));
    error.fields.emplace_back(field::Code, std::string(sqlstate));
    error.fields.emplace_back(field::Message, std::string(message));
    if (!detail.empty()) error.fields.emplace_back(field::Detail, std::string(detail));
    return error;
}

Result<NoticeResponse> NoticeResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::NoticeResponse), "NoticeResponse");
    NoticeResponse message;
    if (!read_error_fields(in, message) || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> NoticeResponse::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::NoticeResponse));
    write_error_fields(out, *this);
    return out.finish();
}

Result<NotificationResponse> NotificationResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::NotificationResponse), "NotificationResponse");
    NotificationResponse message;
    if (!in.int32(message.process_id, "process id") || !in.cstring(message.channel, "channel name") ||
        !in.cstring(message.payload, "payload") || !in.finish()) {
        return in.error();
    }
    return message;
}

std::vector<std::uint8_t> NotificationResponse::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::NotificationResponse))
        .int32(process_id)
        .cstring(channel)
        .cstring(payload)
        .finish();
}

Result<ParameterDescription> ParameterDescription::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::ParameterDescription), "ParameterDescription");
    ParameterDescription message;
    std::uint16_t count = 0;
    if (!in.uint16(count, "parameter count") ||
        !in.count_fits(count, kInt32Size, "parameter count")) {
        return in.error();
    }
    message.type_oids.resize(count);
    for (auto& oid : message.type_oids) {
        if (!in.uint32(oid, "parameter type")) return in.error();
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> ParameterDescription::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::ParameterDescription));
    out.count16(type_oids.size());
    for (const auto oid : type_oids) out.uint32(oid);
    return out.finish();
}

Result<ParseComplete> ParseComplete::decode(const Frame& frame) {
    return decode_empty<ParseComplete>(frame, BackendTag::ParseComplete, "ParseComplete");
}
std::vector<std::uint8_t> ParseComplete::encode() const { return encode_empty(BackendTag::ParseComplete); }

Result<BindComplete> BindComplete::decode(const Frame& frame) {
    return decode_empty<BindComplete>(frame, BackendTag::BindComplete, "BindComplete");
}
std::vector<std::uint8_t> BindComplete::encode() const { return encode_empty(BackendTag::BindComplete); }

Result<CloseComplete> CloseComplete::decode(const Frame& frame) {
    return decode_empty<CloseComplete>(frame, BackendTag::CloseComplete, "CloseComplete");
}
std::vector<std::uint8_t> CloseComplete::encode() const { return encode_empty(BackendTag::CloseComplete); }

Result<NoData> NoData::decode(const Frame& frame) {
    return decode_empty<NoData>(frame, BackendTag::NoData, "NoData");
}
std::vector<std::uint8_t> NoData::encode() const { return encode_empty(BackendTag::NoData); }

Result<PortalSuspended> PortalSuspended::decode(const Frame& frame) {
    return decode_empty<PortalSuspended>(frame, BackendTag::PortalSuspended, "PortalSuspended");
}
std::vector<std::uint8_t> PortalSuspended::encode() const {
    return encode_empty(BackendTag::PortalSuspended);
}

Result<CopyResponse> CopyResponse::decode(const Frame& frame) {
    const bool copy_tag = frame.tag == tag_of(BackendTag::CopyInResponse) ||
                          frame.tag == tag_of(BackendTag::CopyOutResponse) ||
                          frame.tag == tag_of(BackendTag::CopyBothResponse);
    if (!copy_tag) {
        return codec_error("CopyResponse: message type " + detail::quoted_tag(frame.tag) +
                           " is not G, H or W");
    }
    detail::PayloadReader in(frame.payload, backend_tag_name(frame.tag));
    CopyResponse message;
    message.tag = frame.tag;
    std::uint16_t count = 0;
    if (!in.int8(message.overall_format, "overall format") || !in.uint16(count, "column count") ||
        !in.count_fits(count, kInt16Size, "column count")) {
        return in.error();
    }
    message.column_formats.resize(count);
    for (auto& format : message.column_formats) {
        if (!in.int16(format, "column format")) return in.error();
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> CopyResponse::encode() const {
    detail::FrameWriter out(tag);
    out.int8(overall_format).count16(column_formats.size());
    for (const auto format : column_formats) out.int16(format);
    return out.finish();
}

Result<FunctionCallResponse> FunctionCallResponse::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::FunctionCallResponse), "FunctionCallResponse");
    FunctionCallResponse message;
    if (!in.nullable_value(message.value, "result value") || !in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> FunctionCallResponse::encode() const {
    return detail::FrameWriter(tag_of(BackendTag::FunctionCallResponse)).nullable_value(value).finish();
}

Result<NegotiateProtocolVersion> NegotiateProtocolVersion::decode(const Frame& frame) {
    detail::PayloadReader in(frame, tag_of(BackendTag::NegotiateProtocolVersion),
                             "NegotiateProtocolVersion");
    NegotiateProtocolVersion message;
    std::int32_t count = 0;
    if (!in.int32(message.newest_minor, "newest minor version") ||
        !in.int32(count, "option count")) {
        return in.error();
    }
    if (count < 0) return codec_error("NegotiateProtocolVersion: negative option count");
    // Each option name is at least its NUL.
    if (!in.count_fits(static_cast<std::size_t>(count), 1, "option count")) return in.error();
    message.unrecognized_options.resize(static_cast<std::size_t>(count));
    for (auto& option : message.unrecognized_options) {
        if (!in.cstring(option, "option name")) return in.error();
    }
    if (!in.finish()) return in.error();
    return message;
}

std::vector<std::uint8_t> NegotiateProtocolVersion::encode() const {
    detail::FrameWriter out(tag_of(BackendTag::NegotiateProtocolVersion));
    out.int32(newest_minor).int32(static_cast<std::int32_t>(unrecognized_options.size()));
    for (const auto option : unrecognized_options) out.cstring(option);
    return out.finish();
}

Result<char> validate_backend_frame(const Frame& frame) {
    switch (static_cast<BackendTag>(frame.tag)) {
        case BackendTag::Authentication: return validate_as<Authentication>(frame);
        case BackendTag::ParameterStatus: return validate_as<ParameterStatus>(frame);
        case BackendTag::BackendKeyData: return validate_as<BackendKeyData>(frame);
        case BackendTag::ReadyForQuery: return validate_as<ReadyForQuery>(frame);
        case BackendTag::RowDescription: return validate_as<RowDescription>(frame);
        case BackendTag::DataRow: return validate_as<DataRow>(frame);
        case BackendTag::CommandComplete: return validate_as<CommandComplete>(frame);
        case BackendTag::EmptyQueryResponse: return validate_as<EmptyQueryResponse>(frame);
        case BackendTag::ErrorResponse: return validate_as<ErrorResponse>(frame);
        case BackendTag::NoticeResponse: return validate_as<NoticeResponse>(frame);
        case BackendTag::NotificationResponse: return validate_as<NotificationResponse>(frame);
        case BackendTag::ParameterDescription: return validate_as<ParameterDescription>(frame);
        case BackendTag::ParseComplete: return validate_as<ParseComplete>(frame);
        case BackendTag::BindComplete: return validate_as<BindComplete>(frame);
        case BackendTag::CloseComplete: return validate_as<CloseComplete>(frame);
        case BackendTag::NoData: return validate_as<NoData>(frame);
        case BackendTag::PortalSuspended: return validate_as<PortalSuspended>(frame);
        case BackendTag::CopyInResponse:
        case BackendTag::CopyOutResponse:
        case BackendTag::CopyBothResponse: return validate_as<CopyResponse>(frame);
        case BackendTag::CopyData: return validate_as<CopyData>(frame);
        case BackendTag::CopyDone: return validate_as<CopyDone>(frame);
        case BackendTag::FunctionCallResponse: return validate_as<FunctionCallResponse>(frame);
        case BackendTag::NegotiateProtocolVersion: return validate_as<NegotiateProtocolVersion>(frame);
    }
    return codec_error("backend: unknown message type " + detail::quoted_tag(frame.tag));
}

}  // namespace staleguard::wire
