// Request/response bookkeeping for one proxied conversation (see conversation.hpp).
#include "proxy/conversation.hpp"

namespace staleguard::session {

std::string_view to_string(ConversationState state) {
    switch (state) {
        case ConversationState::Startup: return "startup";
        case ConversationState::Authenticating: return "authenticating";
        case ConversationState::Idle: return "idle";
        case ConversationState::Busy: return "busy";
        case ConversationState::CopyIn: return "copy-in";
        case ConversationState::CopyOut: return "copy-out";
        case ConversationState::CopyBoth: return "copy-both";
        case ConversationState::Terminated: return "terminated";
    }
    return "unknown";
}

bool Conversation::on_frontend(char tag, std::uint64_t correlation) {
    using Kind = PendingRequest::Kind;
    auto push = [&](Kind kind) {
        pending_.push_back(PendingRequest{kind, correlation});
        if (state_ == ConversationState::Idle) set_state(ConversationState::Busy);
        return true;
    };
    switch (tag) {
        // A server skipping to Sync discards a Query or FunctionCall without a word: no
        // ReadyForQuery will answer it, and the next one belongs to the Sync.
        case 'Q': return skips_to_sync_ || push(Kind::Query);
        case 'P': return push(Kind::Parse);
        case 'B': return push(Kind::Bind);
        case 'D': return push(Kind::Describe);
        case 'E': return push(Kind::Execute);
        case 'C': return push(Kind::Close);
        case 'S':
            skips_to_sync_ = false;
            return push(Kind::Sync);
        case 'F': return skips_to_sync_ || push(Kind::FunctionCall);
        case 'H': return true;
        case 'p': return true;
        case 'd': return true;
        case 'c':
        case 'f':
            // The server ignores copy messages outside COPY IN (a COPY that already failed), so
            // they are legal anywhere; inside COPY IN they end the data stream.
            if (state_ == ConversationState::CopyIn) set_state(ConversationState::Busy);
            return true;
        case 'X':
            set_state(ConversationState::Terminated);
            return true;
        default:
            return false;
    }
}

std::optional<PendingRequest> Conversation::pop_front_if(PendingRequest::Kind kind) {
    if (pending_.empty() || pending_.front().kind != kind) return std::nullopt;
    PendingRequest front = pending_.front();
    pending_.pop_front();
    return front;
}

void Conversation::settle() {
    if (state_ == ConversationState::Terminated) return;
    if (!startup_complete_) return;
    if (state_ == ConversationState::CopyIn || state_ == ConversationState::CopyOut ||
        state_ == ConversationState::CopyBoth)
        return;
    set_state(pending_.empty() ? ConversationState::Idle : ConversationState::Busy);
}

BackendStep Conversation::on_backend(char tag, wire::Bytes payload) {
    using Kind = PendingRequest::Kind;
    BackendStep step;
    auto front_is = [&](Kind kind) { return !pending_.empty() && pending_.front().kind == kind; };
    auto leave_copy = [&] {
        if (state_ == ConversationState::CopyIn || state_ == ConversationState::CopyOut ||
            state_ == ConversationState::CopyBoth)
            set_state(ConversationState::Busy);
    };

    switch (tag) {
        case 'R':
            if (state_ == ConversationState::Startup) set_state(ConversationState::Authenticating);
            break;
        case 'Z': {
            skips_to_sync_ = false;
            if (payload.size() == 1) {
                transaction_status_ = static_cast<wire::TransactionStatus>(payload[0]);
            }
            // ReadyForQuery answers the first Sync, Query or FunctionCall; whatever precedes it
            // was skipped after an error.
            while (!pending_.empty()) {
                PendingRequest front = pending_.front();
                pending_.pop_front();
                if (front.kind == Kind::Sync || front.kind == Kind::Query ||
                    front.kind == Kind::FunctionCall) {
                    step.completed = front;
                    break;
                }
                ++step.skipped;
            }
            startup_complete_ = true;
            query_statement_index_ = 0;
            if (state_ == ConversationState::Startup || state_ == ConversationState::Authenticating)
                set_state(ConversationState::Busy);
            leave_copy();
            settle();
            break;
        }
        case '1': step.completed = pop_front_if(Kind::Parse); break;
        case '2': step.completed = pop_front_if(Kind::Bind); break;
        case '3': step.completed = pop_front_if(Kind::Close); break;
        case 'T':
        case 'n':
            // RowDescription inside a simple Query belongs to that Query; after a Describe it
            // completes the Describe.
            step.completed = pop_front_if(Kind::Describe);
            break;
        case 'C':
        case 'I':
            leave_copy();
            if (front_is(Kind::Execute)) {
                step.completed = pop_front_if(Kind::Execute);
            } else if (front_is(Kind::Query)) {
                step.completed = pending_.front();
                step.statement_index = query_statement_index_++;
            }
            break;
        case 's': step.completed = pop_front_if(Kind::Execute); break;
        case 'E':
            step.is_error = true;
            leave_copy();
            if (!startup_complete_) break;
            if (front_is(Kind::Query) || front_is(Kind::FunctionCall)) {
                step.completed = pending_.front();
                if (front_is(Kind::Query)) step.statement_index = query_statement_index_;
            } else if (!pending_.empty()) {
                step.completed = pending_.front();
                pending_.pop_front();
                // The server now discards every message up to the next Sync.
                while (!pending_.empty() && pending_.front().kind != Kind::Sync) {
                    pending_.pop_front();
                    ++step.skipped;
                }
                // A Sync already on its way ends the skipping; without one, what comes next is skipped.
                skips_to_sync_ = pending_.empty();
            }
            break;
        case 'G': set_state(ConversationState::CopyIn); break;
        case 'H': set_state(ConversationState::CopyOut); break;
        case 'W': set_state(ConversationState::CopyBoth); break;
        case 'c':
            if (state_ == ConversationState::CopyOut) set_state(ConversationState::Busy);
            break;
        default:
            // DataRow, CopyData, ParameterDescription, ParameterStatus, BackendKeyData, notices,
            // notifications, FunctionCallResponse and NegotiateProtocolVersion change nothing here.
            break;
    }
    return step;
}

}  // namespace staleguard::session
