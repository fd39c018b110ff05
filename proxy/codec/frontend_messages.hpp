// Messages a client sends after startup: one struct each, decoded from a Frame and encoded back.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "proxy/codec/frame.hpp"
#include "proxy/codec/result.hpp"

namespace staleguard::wire {

// String fields are views into the frame they were decoded from: valid while its buffer is.
// encode() writes a complete frame, type byte and length included.

struct Query {
    std::string_view sql;
    static Result<Query> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Parse {
    std::string_view statement;  // "" = the unnamed statement
    std::string_view query;
    std::vector<std::uint32_t> parameter_types;  // OIDs, 0 = unspecified
    static Result<Parse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Bind {
    std::string_view portal;
    std::string_view statement;
    std::vector<std::int16_t> parameter_formats;          // 0 = text, 1 = binary
    std::vector<std::optional<Bytes>> parameters;         // nullopt = SQL NULL
    std::vector<std::int16_t> result_formats;
    static Result<Bind> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

enum class ObjectKind : char { Statement = 'S', Portal = 'P' };

struct Describe {
    ObjectKind kind = ObjectKind::Statement;
    std::string_view name;
    static Result<Describe> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Execute {
    std::string_view portal;
    std::int32_t max_rows = 0;  // 0 = no limit
    static Result<Execute> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Close {
    ObjectKind kind = ObjectKind::Statement;
    std::string_view name;
    static Result<Close> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Sync {
    static Result<Sync> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Flush {
    static Result<Flush> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct Terminate {
    static Result<Terminate> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct FunctionCall {
    std::uint32_t function_oid = 0;
    std::vector<std::int16_t> argument_formats;
    std::vector<std::optional<Bytes>> arguments;
    std::int16_t result_format = 0;
    static Result<FunctionCall> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// CopyData and CopyDone are the same on both sides of the connection.
struct CopyData {
    Bytes data;
    static Result<CopyData> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct CopyDone {
    static Result<CopyDone> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct CopyFail {
    std::string_view message;
    static Result<CopyFail> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// 'p' carries a password (cleartext or md5), or a SASL step; the payload is kept opaque so that
// it can be forwarded without ever being interpreted or logged.
struct AuthenticationResponse {
    Bytes payload;
    static Result<AuthenticationResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct PasswordMessage {
    std::string_view password;
    static Result<PasswordMessage> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct SaslInitialResponse {
    std::string_view mechanism;
    std::optional<Bytes> data;  // nullopt when the length is -1
    static Result<SaslInitialResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

struct SaslResponse {
    Bytes data;
    static Result<SaslResponse> decode(const Frame& frame);
    std::vector<std::uint8_t> encode() const;
};

// Validates any frontend frame by its tag: an unknown tag or malformed body is an error.
Result<char> validate_frontend_frame(const Frame& frame);

}  // namespace staleguard::wire
