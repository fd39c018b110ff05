// Recognising and naming the message type bytes of each direction.
#include "proxy/codec/message_tag.hpp"

namespace staleguard::wire {

std::string_view frontend_tag_name(char tag) {
    switch (static_cast<FrontendTag>(tag)) {
        case FrontendTag::Query: return "Query";
        case FrontendTag::Parse: return "Parse";
        case FrontendTag::Bind: return "Bind";
        case FrontendTag::Describe: return "Describe";
        case FrontendTag::Execute: return "Execute";
        case FrontendTag::Close: return "Close";
        case FrontendTag::Sync: return "Sync";
        case FrontendTag::Flush: return "Flush";
        case FrontendTag::FunctionCall: return "FunctionCall";
        case FrontendTag::CopyData: return "CopyData";
        case FrontendTag::CopyDone: return "CopyDone";
        case FrontendTag::CopyFail: return "CopyFail";
        case FrontendTag::AuthenticationResponse: return "AuthenticationResponse";
        case FrontendTag::Terminate: return "Terminate";
    }
    return "unknown";
}

std::string_view backend_tag_name(char tag) {
    switch (static_cast<BackendTag>(tag)) {
        case BackendTag::Authentication: return "Authentication";
        case BackendTag::ParameterStatus: return "ParameterStatus";
        case BackendTag::BackendKeyData: return "BackendKeyData";
        case BackendTag::ReadyForQuery: return "ReadyForQuery";
        case BackendTag::RowDescription: return "RowDescription";
        case BackendTag::DataRow: return "DataRow";
        case BackendTag::CommandComplete: return "CommandComplete";
        case BackendTag::EmptyQueryResponse: return "EmptyQueryResponse";
        case BackendTag::ErrorResponse: return "ErrorResponse";
        case BackendTag::NoticeResponse: return "NoticeResponse";
        case BackendTag::NotificationResponse: return "NotificationResponse";
        case BackendTag::ParameterDescription: return "ParameterDescription";
        case BackendTag::ParseComplete: return "ParseComplete";
        case BackendTag::BindComplete: return "BindComplete";
        case BackendTag::CloseComplete: return "CloseComplete";
        case BackendTag::NoData: return "NoData";
        case BackendTag::PortalSuspended: return "PortalSuspended";
        case BackendTag::CopyInResponse: return "CopyInResponse";
        case BackendTag::CopyOutResponse: return "CopyOutResponse";
        case BackendTag::CopyBothResponse: return "CopyBothResponse";
        case BackendTag::CopyData: return "CopyData";
        case BackendTag::CopyDone: return "CopyDone";
        case BackendTag::FunctionCallResponse: return "FunctionCallResponse";
        case BackendTag::NegotiateProtocolVersion: return "NegotiateProtocolVersion";
    }
    return "unknown";
}

// The name tables are the single list of known tags, so the predicates cannot drift from them.
bool is_frontend_tag(char tag) { return frontend_tag_name(tag) != "unknown"; }
bool is_backend_tag(char tag) { return backend_tag_name(tag) != "unknown"; }

}  // namespace staleguard::wire
