// Tests for WriteJournal: scripts of the session's own writes and the server's answers, and what the ReadSet holds afterwards.
#include "proxy/write_journal.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/read_set.hpp"

namespace staleguard::session {
namespace {

constexpr std::string_view table = "public.accounts";

// Every row starts read at version 1 (rows 1 to 3); row 9 was never read.
struct Case {
    const char* name;
    // Space-separated steps: `w1=5` the session's write of row 1 returning version 5, `d1` its
    // delete of row 1, `C:TAG` a CommandComplete (underscores for spaces), `E` an ErrorResponse,
    // `Z:I` / `Z:T` / `Z:E` a ReadyForQuery.
    const char* script;
    // Rows 1, 2, 3 and 9 afterwards: their versions, `-` for not in the ReadSet.
    const char* expected;
    std::size_t max_entries = 100;
};

std::ostream& operator<<(std::ostream& out, const Case& test_case) { return out << test_case.name; }

const std::vector<Case> cases = {
    // ---- autocommit and implicit transactions ----
    {"autocommit_write_kept", "w1=2 C:UPDATE_1 Z:I", "2 1 1 -"},
    {"autocommit_delete_kept", "d1 C:DELETE_1 Z:I", "- 1 1 -"},
    {"unread_row_written_kept", "w9=4 C:UPDATE_1 Z:I", "1 1 1 4"},
    {"query_string_failing_after_the_write", "w1=2 C:UPDATE_1 E Z:I", "1 1 1 -"},
    {"unread_row_written_then_rolled_back_is_unread_again", "w9=4 C:UPDATE_1 E Z:I", "1 1 1 -"},
    {"delete_rolled_back_is_known_again", "d1 C:DELETE_1 E Z:I", "1 1 1 -"},
    {"committed_sync_is_not_undone_by_a_later_error", "w1=2 C:UPDATE_1 Z:I E Z:I", "2 1 1 -"},
    {"commit_in_the_string_before_the_error", "C:BEGIN w1=2 C:UPDATE_1 C:COMMIT E Z:I", "2 1 1 -"},
    // ---- transaction blocks ----
    {"block_committed", "C:BEGIN Z:T w1=2 w1=3 C:UPDATE_1 Z:T C:COMMIT Z:I", "3 1 1 -"},
    {"block_rolled_back", "C:BEGIN Z:T w1=2 Z:T w1=3 w2=2 Z:T C:ROLLBACK Z:I", "1 1 1 -"},
    {"block_failed_then_rolled_back", "C:BEGIN Z:T w1=2 Z:T E Z:E C:ROLLBACK Z:I", "1 1 1 -"},
    // (COMMIT of a failed block answers ROLLBACK too.)
    {"commit_failing_at_a_deferred_constraint", "C:BEGIN Z:T w1=2 Z:T E Z:I", "1 1 1 -"},
    {"error_inside_a_block_undoes_nothing_yet", "C:BEGIN Z:T w1=2 Z:T E Z:E", "2 1 1 -"},
    {"prepared_transaction_counts_as_committed", "C:BEGIN Z:T w1=2 Z:T C:PREPARE_TRANSACTION Z:I", "2 1 1 -"},
    {"rollback_and_chain", "C:BEGIN Z:T w1=2 Z:T C:ROLLBACK Z:T w2=5 Z:T C:COMMIT Z:I", "1 5 1 -"},
    // ---- savepoints ----
    {"rollback_to_savepoint", "C:BEGIN w1=2 C:SAVEPOINT w2=2 w1=3 C:ROLLBACK Z:T C:COMMIT Z:I", "2 1 1 -"},
    {"rollback_to_savepoint_then_write_again",
     "C:BEGIN Z:T C:SAVEPOINT Z:T w1=2 E Z:E C:ROLLBACK Z:T w1=2 Z:T C:COMMIT Z:I", "2 1 1 -"},
    {"rollback_to_savepoint_twice", "C:BEGIN C:SAVEPOINT w1=2 C:ROLLBACK w1=2 C:ROLLBACK Z:T C:COMMIT Z:I", "1 1 1 -"},
    {"released_savepoint_then_full_rollback", "C:BEGIN C:SAVEPOINT w1=2 C:RELEASE Z:T C:ROLLBACK Z:I", "1 1 1 -"},
    {"full_rollback_with_a_savepoint_set", "C:BEGIN w2=2 C:SAVEPOINT w1=2 Z:T C:ROLLBACK Z:I", "1 1 1 -"},
    {"nested_savepoints_innermost_first",
     "C:BEGIN C:SAVEPOINT w1=2 C:SAVEPOINT w2=2 C:ROLLBACK C:RELEASE w3=2 Z:T C:COMMIT Z:I", "2 1 2 -"},
    {"released_savepoint_folds_into_its_parent",
     "C:BEGIN C:SAVEPOINT w1=2 C:SAVEPOINT w2=2 C:RELEASE C:ROLLBACK Z:T C:COMMIT Z:I", "1 1 1 -"},
    // ---- other tags change nothing ----
    {"other_tags", "C:BEGIN w1=2 C:SELECT_1 C:ROLLBACK_PREPARED C:COMMIT_PREPARED Z:T C:COMMIT Z:I", "2 1 1 -"},
    // ---- the bound ----
    {"overflow_rolled_back_forgets_everything", "w1=2 w2=2 w3=2 E Z:I", "- - - -", 2},
    {"overflow_committed_keeps_the_writes", "w1=2 w2=2 w3=2 Z:I", "2 2 2 -", 2},
    {"bound_reached_exactly", "w1=2 w2=2 E Z:I", "1 1 1 -", 2},
    {"after_an_overflow_the_next_transaction_is_precise", "w1=2 w2=2 w3=2 Z:I w1=3 E Z:I", "2 2 2 -", 2},
};

std::vector<std::string_view> key_of(char row) {
    static const std::string digits = "0123456789";
    return {std::string_view(digits).substr(static_cast<std::size_t>(row - '0'), 1)};
}

wire::TransactionStatus status_of(char letter) {
    switch (letter) {
        case 'T': return wire::TransactionStatus::InTransaction;
        case 'E': return wire::TransactionStatus::Failed;
        default: return wire::TransactionStatus::Idle;
    }
}

class WriteJournalScript : public ::testing::TestWithParam<Case> {};

TEST_P(WriteJournalScript, LeavesTheReadSetAsTheServerDid) {
    const Case& test_case = GetParam();
    ReadSet read_set(100);
    for (char row : std::string("123")) read_set.remember(table, key_of(row), "1");
    WriteJournal journal(test_case.max_entries);

    std::istringstream steps(test_case.script);
    std::string step;
    while (steps >> step) {
        if (step[0] == 'w' || step[0] == 'd') {
            // What the statement guard does for each row its write returned.
            const auto keys = key_of(step[1]);
            journal.record(table, keys, read_set.seen(table, keys));
            if (step[0] == 'w') read_set.remember(table, keys, step.substr(3));
            else read_set.forget(table, keys);
        } else if (step[0] == 'C') {
            std::string tag = step.substr(2);
            for (char& c : tag) c = c == '_' ? ' ' : c;
            journal.on_command_complete(tag, &read_set);
        } else if (step[0] == 'E') {
            journal.on_error();
        } else if (step[0] == 'Z') {
            journal.on_ready_for_query(status_of(step[2]), &read_set);
        } else {
            FAIL() << "bad step " << step;
        }
    }
    std::string described;
    for (char row : std::string("1239")) {
        const auto version = read_set.seen(table, key_of(row));
        described += (described.empty() ? "" : " ") + (version ? std::string(*version) : std::string("-"));
    }
    EXPECT_EQ(described, test_case.expected);
}

INSTANTIATE_TEST_SUITE_P(Scripts, WriteJournalScript, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(WriteJournal, SettledTransactionsLeaveNothingBehind) {
    ReadSet read_set(10);
    WriteJournal journal(10);
    const auto keys = key_of('1');
    journal.record(table, keys, std::nullopt);
    read_set.remember(table, keys, "2");
    EXPECT_EQ(journal.size(), 1u);
    journal.on_ready_for_query(wire::TransactionStatus::InTransaction, &read_set);
    EXPECT_EQ(journal.size(), 1u) << "the block goes on";
    journal.on_command_complete("COMMIT", &read_set);
    EXPECT_EQ(journal.size(), 0u);
}

TEST(WriteJournal, WithoutAReadSetOnlyTheJournalChanges) {
    WriteJournal journal(10);
    const auto keys = key_of('1');
    journal.record(table, keys, "1");
    journal.on_error();
    journal.on_ready_for_query(wire::TransactionStatus::Idle, nullptr);
    EXPECT_EQ(journal.size(), 0u);
}

}  // namespace
}  // namespace staleguard::session
