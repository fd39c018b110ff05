// Message type bytes of protocol 3.0, named as PostgreSQL's "Message Formats" names them.
#pragma once

#include <cstdint>
#include <string_view>

namespace staleguard::wire {

enum class FrontendTag : char {
    Query = 'Q',
    Parse = 'P',
    Bind = 'B',
    Describe = 'D',
    Execute = 'E',
    Close = 'C',
    Sync = 'S',
    Flush = 'H',
    FunctionCall = 'F',
    CopyData = 'd',
    CopyDone = 'c',
    CopyFail = 'f',
    // PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share 'p';
    // only the authentication exchange in progress tells them apart.
    AuthenticationResponse = 'p',
    Terminate = 'X',
};

enum class BackendTag : char {
    Authentication = 'R',
    ParameterStatus = 'S',
    BackendKeyData = 'K',
    ReadyForQuery = 'Z',
    RowDescription = 'T',
    DataRow = 'D',
    CommandComplete = 'C',
    EmptyQueryResponse = 'I',
    ErrorResponse = 'E',
    NoticeResponse = 'N',
    NotificationResponse = 'A',
    ParameterDescription = 't',
    ParseComplete = '1',
    BindComplete = '2',
    CloseComplete = '3',
    NoData = 'n',
    PortalSuspended = 's',
    CopyInResponse = 'G',
    CopyOutResponse = 'H',
    CopyBothResponse = 'W',
    CopyData = 'd',
    CopyDone = 'c',
    FunctionCallResponse = 'V',
    NegotiateProtocolVersion = 'v',
};

// True when the byte names a message a client may send after startup.
bool is_frontend_tag(char tag);
// True when the byte names a message a server may send.
bool is_backend_tag(char tag);

std::string_view frontend_tag_name(char tag);  // "Query", ... or "unknown"
std::string_view backend_tag_name(char tag);

}  // namespace staleguard::wire
