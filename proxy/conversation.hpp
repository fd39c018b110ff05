// Follows one client/server conversation from the messages it forwards: what each side is waiting
// for, which response answers which request, the transaction status, and COPY sub-protocols.
// Pure bookkeeping: no I/O, so later layers can correlate a CommandComplete with its statement.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

#include "proxy/codec/backend_messages.hpp"

namespace staleguard::session {

enum class ConversationState {
    Startup,         // before the StartupMessage reached the server
    Authenticating,  // server asked for credentials or is still sending parameters
    Idle,            // ReadyForQuery seen and nothing outstanding
    Busy,            // requests outstanding
    CopyIn,          // server sent CopyInResponse: client streams CopyData
    CopyOut,         // server sent CopyOutResponse: server streams CopyData
    CopyBoth,        // replication streaming
    Terminated,      // client sent Terminate
};

std::string_view to_string(ConversationState state);

// One request of the client that still waits for its response(s).
struct PendingRequest {
    enum class Kind { Query, Parse, Bind, Describe, Execute, Close, Sync, FunctionCall };
    Kind kind = Kind::Query;
    // Chosen by the caller on the frontend side, handed back when the response arrives: later
    // layers use it to find the statement a CommandComplete belongs to.
    std::uint64_t correlation = 0;
};

// What one backend message meant for the outstanding requests.
struct BackendStep {
    // The request this message completed (ParseComplete completes a Parse, CommandComplete an
    // Execute, ReadyForQuery a Sync or Query, ...). For a simple Query, each CommandComplete
    // completes one statement of the string while the Query stays pending until ReadyForQuery.
    std::optional<PendingRequest> completed;
    // Requests the server skipped because an earlier one in the same batch failed.
    std::size_t skipped = 0;
    bool is_error = false;
    // For a CommandComplete or EmptyQueryResponse inside a simple Query: its 0-based index.
    std::optional<std::size_t> statement_index;
};

class Conversation {
public:
    // Record a client message before it is forwarded. Returns false for a message that is not
    // legal in the current state (e.g. CopyData outside COPY IN); the caller decides what to do.
    bool on_frontend(char tag, std::uint64_t correlation = 0);
    // Account for a server message. `frame_payload` is needed only for ReadyForQuery/'R'.
    BackendStep on_backend(char tag, wire::Bytes payload);

    ConversationState state() const { return state_; }
    wire::TransactionStatus transaction_status() const { return transaction_status_; }
    const std::deque<PendingRequest>& pending() const { return pending_; }
    // Nothing outstanding and at a ReadyForQuery boundary: the only moment at which the proxy may
    // end the session or speak to the server on its own without the client noticing.
    bool at_rest() const { return state_ == ConversationState::Idle && pending_.empty(); }
    bool startup_complete() const { return startup_complete_; }
    // An extended-protocol request failed and the client has not sent the Sync that ends it: the
    // server discards whatever the client sends until then, answering none of it.
    bool server_skips_to_sync() const { return skips_to_sync_; }

private:
    void set_state(ConversationState next) { state_ = next; }
    std::optional<PendingRequest> pop_front_if(PendingRequest::Kind kind);
    void settle();

    ConversationState state_ = ConversationState::Startup;
    wire::TransactionStatus transaction_status_ = wire::TransactionStatus::Idle;
    std::deque<PendingRequest> pending_;
    bool startup_complete_ = false;
    bool skips_to_sync_ = false;
    std::size_t query_statement_index_ = 0;  // statements completed so far in the current Query
};

}  // namespace staleguard::session
