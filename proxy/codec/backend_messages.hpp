// Messages a server sends: one struct each, decoded from a Frame and encoded back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::wire {

// Authentication request codes ('R').
enum class AuthenticationCode : std::int32_t {
    Ok = 0,
    KerberosV5 = 2,
    CleartextPassword = 3,
    Md5Password = 5,
    Gss = 7,
    GssContinue = 8,
    Sspi = 9,
    Sasl = 10,
    SaslContinue = 11,
    SaslFinal = 12,
};

struct Authentication {
    AuthenticationCode code = AuthenticationCode::Ok;
    Bytes data;  // md5 salt, SASL mechanism list or SASL data; empty for the others
    static Result<Authentication> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct ParameterStatus {
    std::string_view name;
    std::string_view value;
    static Result<ParameterStatus> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct BackendKeyData {
    std::int32_t process_id = 0;
    Bytes secret_key;  // 4 bytes in protocol 3.0, up to 256 in 3.2
    static Result<BackendKeyData> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

enum class TransactionStatus : char { Idle = 'I', InTransaction = 'T', Failed = 'E' };

struct ReadyForQuery {
    TransactionStatus status = TransactionStatus::Idle;
    static Result<ReadyForQuery> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct FieldDescription {
    std::string_view name;
    std::uint32_t table_oid = 0;
    std::int16_t column_number = 0;
    std::uint32_t type_oid = 0;
    std::int16_t type_size = 0;
    std::int32_t type_modifier = 0;
    std::int16_t format = 0;
};

struct RowDescription {
    std::vector<FieldDescription> fields;
    static Result<RowDescription> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct DataRow {
    std::vector<std::optional<Bytes>> columns;  // nullopt = SQL NULL
    static Result<DataRow> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct CommandComplete {
    std::string_view tag;  // "UPDATE 3", "SELECT 1", "INSERT 0 1", ...
    // The trailing row count of the tag, when it has one.
    std::optional<std::uint64_t> row_count() const;
    static Result<CommandComplete> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct EmptyQueryResponse {
    static Result<EmptyQueryResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// Field codes of ErrorResponse and NoticeResponse.
namespace field {
inline constexpr char Severity = 'S';
inline constexpr char SeverityNonLocalized = 'V';
inline constexpr char Code = 'C';
inline constexpr char Message = 'M';
inline constexpr char Detail = 'D';
inline constexpr char Hint = 'H';
inline constexpr char Position = 'P';
}  // namespace field

// ErrorResponse ('E') and NoticeResponse ('N') share one body: typed fields ending in a NUL.
struct ErrorFields {
    std::vector<std::pair<char, std::string>> fields;  // owned: errors are built by us too
    std::string_view get(char code) const;             // "" when absent
};

struct ErrorResponse : ErrorFields {
    static Result<ErrorResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
    // An ERROR with severity, SQLSTATE and message (and detail, when not empty).
    static ErrorResponse make(std::string_view sqlstate, std::string_view message,
                              std::string_view detail = {}, std::string_view severity = "ERROR");
};

struct NoticeResponse : ErrorFields {
    static Result<NoticeResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct NotificationResponse {
    std::int32_t process_id = 0;
    std::string_view channel;
    std::string_view payload;
    static Result<NotificationResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct ParameterDescription {
    std::vector<std::uint32_t> type_oids;
    static Result<ParameterDescription> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct ParseComplete {
    static Result<ParseComplete> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};
struct BindComplete {
    static Result<BindComplete> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};
struct CloseComplete {
    static Result<CloseComplete> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};
struct NoData {
    static Result<NoData> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};
struct PortalSuspended {
    static Result<PortalSuspended> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// CopyInResponse ('G'), CopyOutResponse ('H') and CopyBothResponse ('W') share one body.
struct CopyResponse {
    char tag = 'G';
    std::int8_t overall_format = 0;  // 0 = text, 1 = binary
    std::vector<std::int16_t> column_formats;
    static Result<CopyResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct FunctionCallResponse {
    std::optional<Bytes> value;  // nullopt = NULL
    static Result<FunctionCallResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct NegotiateProtocolVersion {
    std::int32_t newest_minor = 0;
    std::vector<std::string_view> unrecognized_options;
    static Result<NegotiateProtocolVersion> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// Validates any backend frame by its tag: an unknown tag or malformed body is an error.
Result<char> validate_backend_frame(const Frame& frame);

}  // namespace staleguard::wire
