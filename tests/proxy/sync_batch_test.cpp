#include "proxy/sync_batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace staleguard::session {
namespace {

// One client message, spelt briefly: P name sql | B portal statement | E portal | C S/P name | S | Q.
struct Step {
    char tag;
    std::string a;
    std::string b;
};

struct Case {
    std::string name;
    std::vector<Step> steps;
    bool empty_after;
};

class SyncBatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(SyncBatchTest, CountsTheStatementsSharingTheImplicitTransaction) {
    SyncBatch batch;
    for (const Step& step : GetParam().steps) {
        switch (step.tag) {
            case 'P': batch.on_parse(wire::Parse{step.a, step.b, {}}); break;
            case 'B': {
                wire::Bind bind;
                bind.portal = step.a;
                bind.statement = step.b;
                batch.on_bind(bind);
                break;
            }
            case 'E': batch.on_execute(wire::Execute{step.a, 0}); break;
            case 'C':
                batch.on_close(wire::Close{step.a == "S" ? wire::ObjectKind::Statement : wire::ObjectKind::Portal, step.b});
                break;
            case 'S': batch.on_sync(); break;
            case 'Q': batch.on_query(); break;
        }
    }
    EXPECT_EQ(batch.empty(), GetParam().empty_after);
}

INSTANTIATE_TEST_SUITE_P(
    Scripts, SyncBatchTest,
    ::testing::Values(
        Case{"nothing_yet", {}, true},
        Case{"one_execute", {{'P', "", "UPDATE t SET a = 1"}, {'B', "", ""}, {'E', "", ""}}, false},
        Case{"sync_ends_the_batch", {{'B', "", "s1"}, {'E', "", ""}, {'S', "", ""}}, true},
        Case{"query_ends_the_batch", {{'B', "", "s1"}, {'E', "", ""}, {'Q', "", ""}}, true},
        // pgjdbc with autocommit off: BEGIN through the unnamed statement, in the same batch.
        Case{"unnamed_begin_does_not_count", {{'P', "", "BEGIN"}, {'B', "", ""}, {'E', "", ""}}, true},
        Case{"start_transaction_does_not_count", {{'P', "", "start transaction"}, {'B', "", ""}, {'E', "", ""}}, true},
        Case{"statement_after_begin_counts",
             {{'P', "", "BEGIN"}, {'B', "", ""}, {'E', "", ""}, {'P', "", "INSERT INTO t VALUES (1)"}, {'B', "", ""}, {'E', "", ""}},
             false},
        // Named statements and portals are not followed: a BEGIN there counts like anything else.
        Case{"named_begin_counts", {{'P', "b", "BEGIN"}, {'B', "", "b"}, {'E', "", ""}}, false},
        Case{"begin_bound_to_a_named_portal_counts", {{'P', "", "BEGIN"}, {'B', "p", ""}, {'E', "p", ""}}, false},
        Case{"named_parse_leaves_the_unnamed_begin", {{'P', "", "BEGIN"}, {'P', "s", "SELECT 1"}, {'B', "", ""}, {'E', "", ""}}, true},
        // The unnamed statement replaced, closed, or destroyed by a Query is no BEGIN any more.
        Case{"unnamed_statement_replaced", {{'P', "", "BEGIN"}, {'P', "", "DELETE FROM t"}, {'B', "", ""}, {'E', "", ""}}, false},
        Case{"unnamed_statement_closed", {{'P', "", "BEGIN"}, {'C', "S", ""}, {'B', "", ""}, {'E', "", ""}}, false},
        Case{"unnamed_portal_closed", {{'P', "", "BEGIN"}, {'B', "", ""}, {'C', "P", ""}, {'E', "", ""}}, false},
        Case{"named_close_leaves_the_unnamed_begin", {{'P', "", "BEGIN"}, {'C', "S", "other"}, {'B', "", ""}, {'E', "", ""}}, true},
        Case{"query_destroys_the_unnamed_begin", {{'P', "", "BEGIN"}, {'Q', "", ""}, {'B', "", ""}, {'E', "", ""}}, false},
        Case{"portal_rebound_to_another_statement",
             {{'P', "", "BEGIN"}, {'B', "", ""}, {'B', "", "s1"}, {'E', "", ""}}, false}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace staleguard::session
