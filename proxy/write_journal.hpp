// What the session's own writes changed in its ReadSet during the current transaction, so that a rollback puts back what it knew before.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/backend_messages.hpp"

namespace staleguard::session {

class ReadSet;

// A write that refreshed the ReadSet and was then rolled back would leave the session believing
// in a version the row never kept: its next write of the row would be refused as stale although
// nobody else touched it. The journal keeps the version each written row had in the ReadSet
// before, and follows the server's answers (CommandComplete tags, errors, ReadyForQuery) to learn
// whether the writes committed or rolled back, also to a savepoint.
//
// CommandComplete does not name a savepoint, and `ROLLBACK` is the tag of both ROLLBACK and
// ROLLBACK TO SAVEPOINT: the journal takes savepoints as a stack, rolled back to and released
// innermost first (what drivers and ORMs do). Where a client does otherwise, the journal puts back
// too little or too much; both only ever leave an older version in the ReadSet, never a newer
// one, so the worst outcome is a write refused as stale, never a stale write let through.
class WriteJournal {
public:
    // At most `max_entries` rows are kept; beyond that the journal gives up on precision and a
    // rollback forgets every row the session knows (they count as unread).
    explicit WriteJournal(std::size_t max_entries) : max_entries_(max_entries) {}
    void set_max_entries(std::size_t max_entries) { max_entries_ = max_entries; }

    // Before the session's own write changes the row: `previous` is what the ReadSet held for it.
    void record(std::string_view table, std::span<const std::string_view> key_values,
                std::optional<std::string_view> previous);

    // The server's answers, in the order they arrive.
    void on_command_complete(std::string_view tag, ReadSet* read_set);
    void on_error() { error_since_ready_ = true; }
    // An ErrorResponse came since the last ReadyForQuery (read before on_ready_for_query resets it).
    bool error_since_ready() const { return error_since_ready_; }
    void on_ready_for_query(wire::TransactionStatus status, ReadSet* read_set);

    std::size_t size() const { return entries_.size(); }

private:
    struct Entry {
        std::string table;
        std::vector<std::string> key_values;
        std::optional<std::string> previous;
    };

    // Puts back every entry from `mark` on, newest first, and drops them.
    void undo_to(std::size_t mark, ReadSet* read_set);
    void settle();

    std::size_t max_entries_;
    std::vector<Entry> entries_;
    std::vector<std::size_t> savepoints_;  // entries_.size() when each was set
    bool overflowed_ = false;
    bool error_since_ready_ = false;
    // A ROLLBACK while savepoints were set: to one of them if the block goes on, of everything
    // if the next ReadyForQuery finds the session idle.
    bool rollback_undecided_ = false;
};

}  // namespace staleguard::session
