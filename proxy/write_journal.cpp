// What the session's own writes changed in its ReadSet during the current transaction, so that a rollback puts back what it knew before.
#include "proxy/write_journal.hpp"

#include "proxy/read_set.hpp"

namespace staleguard::session {

void WriteJournal::record(std::string_view table, std::span<const std::string_view> key_values,
                          std::optional<std::string_view> previous) {
    if (overflowed_) return;
    if (entries_.size() >= max_entries_) {
        overflowed_ = true;
        entries_.clear();
        entries_.shrink_to_fit();
        return;
    }
    Entry entry{std::string(table), std::vector<std::string>(key_values.begin(), key_values.end()), std::nullopt};
    if (previous) entry.previous.emplace(*previous);
    entries_.push_back(std::move(entry));
}

void WriteJournal::undo_to(std::size_t mark, ReadSet* read_set) {
    if (overflowed_) {
        if (read_set) read_set->clear();
        entries_.clear();
        overflowed_ = false;
        return;
    }
    while (entries_.size() > mark) {
        Entry& entry = entries_.back();
        if (read_set) {
            std::vector<std::string_view> keys(entry.key_values.begin(), entry.key_values.end());
            if (entry.previous) read_set->remember(entry.table, keys, *entry.previous);
            else read_set->forget(entry.table, keys);
        }
        entries_.pop_back();
    }
}

void WriteJournal::settle() {
    entries_.clear();
    savepoints_.clear();
    overflowed_ = false;
    rollback_undecided_ = false;
}

void WriteJournal::on_command_complete(std::string_view tag, ReadSet* read_set) {
    if (tag == "SAVEPOINT") {
        savepoints_.push_back(entries_.size());
    } else if (tag == "RELEASE") {
        if (!savepoints_.empty()) savepoints_.pop_back();
    } else if (tag == "ROLLBACK") {
        if (savepoints_.empty()) {
            undo_to(0, read_set);
            settle();
        } else {
            // ROLLBACK TO keeps its savepoint; a full ROLLBACK is settled at ReadyForQuery.
            undo_to(savepoints_.back(), read_set);
            rollback_undecided_ = true;
        }
    } else if (tag == "COMMIT" || tag == "PREPARE TRANSACTION") {
        // A prepared transaction's fate is decided elsewhere; if it is rolled back, the
        // ReadSet holds a newer version than the row, and the next write is refused.
        settle();
    }
}

void WriteJournal::on_ready_for_query(wire::TransactionStatus status, ReadSet* read_set) {
    if (status == wire::TransactionStatus::Idle) {
        // Out of any transaction: what an error or a ROLLBACK ended was rolled back, anything
        // else committed (autocommit, the implicit transaction of a query string or a Sync).
        if (error_since_ready_ || rollback_undecided_) undo_to(0, read_set);
        settle();
    }
    rollback_undecided_ = false;
    error_since_ready_ = false;
}

}  // namespace staleguard::session
