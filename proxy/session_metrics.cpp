// Session's share of the counters: bytes, statement outcomes and added time, its SHOW SESSIONS record.
#include "proxy/server.hpp"
#include "proxy/session.hpp"

namespace staleguard::session {

void Session::note_bytes_from_client(std::size_t n) {
    bytes_from_client_ += n;
    stats_->bytes_in.store(bytes_from_client_, std::memory_order_relaxed);
    server_.metrics().bytes_from_client(n);
}

void Session::note_bytes_from_server(std::size_t n) {
    bytes_from_server_ += n;
    stats_->bytes_out.store(bytes_from_server_, std::memory_order_relaxed);
    server_.metrics().bytes_from_server(n);
}

bool Session::begin_statement(char tag) {
    if (tag != 'Q' && tag != 'P') return false;
    statement_started_ = std::chrono::steady_clock::now();
    statement_outcome_ = StatementOutcome::Passed;
    statement_open_ = true;
    statement_timed_ = false;
    statement_stale_ = false;
    stats_->statements.fetch_add(1, std::memory_order_relaxed);
    stats_->state.store(SessionStats::State::Active, std::memory_order_relaxed);
    return true;
}

void Session::statement_queued() {
    if (!statement_open_ || statement_timed_) return;
    statement_timed_ = true;
    server_.metrics().statement_added(std::chrono::steady_clock::now() - statement_started_);
}

void Session::finish_statement() {
    if (!statement_open_) return;
    statement_queued();
    statement_open_ = false;
    server_.metrics().statement(statement_stale_ ? StatementOutcome::Rejected : statement_outcome_);
}

void Session::note_stale_write(const std::string& table) {
    statement_stale_ = true;
    server_.metrics().stale_write(table.empty() ? "unknown" : table);
}

void Session::note_ready_for_query() {
    SessionStats::State state = SessionStats::State::Idle;
    switch (conversation_.transaction_status()) {
        case wire::TransactionStatus::Idle: state = SessionStats::State::Idle; break;
        case wire::TransactionStatus::InTransaction: state = SessionStats::State::InTransaction; break;
        case wire::TransactionStatus::Failed: state = SessionStats::State::FailedTransaction; break;
    }
    // Another request may still be outstanding (pipelining): the session is busy until it rests.
    if (!conversation_.at_rest()) state = SessionStats::State::Active;
    stats_->state.store(state, std::memory_order_relaxed);
    const ReadSet* read_set = guard_.read_set();
    stats_->tracked_rows.store(read_set ? read_set->size() : 0, std::memory_order_relaxed);
}

}  // namespace staleguard::session
