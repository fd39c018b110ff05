// Conversation bookkeeping: scripted exchanges of tags, checked step by step.
#include "proxy/conversation.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace staleguard::session {
namespace {

using Kind = PendingRequest::Kind;

// One line of a script: '>' a client message, '<' a server message, with the expectations after it.
struct Step {
    char direction;  // '>' client to server, '<' server to client
    char tag;
    char status = 0;  // ReadyForQuery status byte
    std::optional<Kind> completes = std::nullopt;
    std::optional<ConversationState> state_after = std::nullopt;
    std::size_t skipped = 0;
    std::optional<std::size_t> statement_index = std::nullopt;
};

struct Script {
    std::string name;
    std::vector<Step> steps;
    std::size_t pending_at_end = 0;
    wire::TransactionStatus status_at_end = wire::TransactionStatus::Idle;
};

// Authentication and the first ReadyForQuery, shared by every script.
std::vector<Step> logged_in(std::vector<Step> rest) {
    std::vector<Step> steps{{'<', 'R', 0, std::nullopt, ConversationState::Authenticating},
                            {'<', 'S'},
                            {'<', 'K'},
                            {'<', 'Z', 'I', std::nullopt, ConversationState::Idle}};
    steps.insert(steps.end(), rest.begin(), rest.end());
    return steps;
}

class ConversationScript : public ::testing::TestWithParam<Script> {};

TEST_P(ConversationScript, FollowsTheExchange) {
    Conversation conversation;
    std::uint64_t correlation = 0;
    int line = 0;
    for (const auto& step : GetParam().steps) {
        ++line;
        SCOPED_TRACE("step " + std::to_string(line) + " " + step.direction + step.tag);
        if (step.direction == '>') {
            EXPECT_TRUE(conversation.on_frontend(step.tag, ++correlation));
        } else {
            std::vector<std::uint8_t> payload;
            if (step.status) payload.push_back(static_cast<std::uint8_t>(step.status));
            auto result = conversation.on_backend(step.tag, payload);
            ASSERT_EQ(result.completed.has_value(), step.completes.has_value());
            if (step.completes) {
                EXPECT_EQ(result.completed->kind, *step.completes);
            }
            EXPECT_EQ(result.skipped, step.skipped);
            EXPECT_EQ(result.statement_index, step.statement_index);
        }
        if (step.state_after) {
            EXPECT_EQ(to_string(conversation.state()), to_string(*step.state_after));
        }
    }
    EXPECT_EQ(conversation.pending().size(), GetParam().pending_at_end);
    EXPECT_EQ(static_cast<char>(conversation.transaction_status()), static_cast<char>(GetParam().status_at_end));
}

const Script kScripts[] = {
    {"SimpleQuery",
     logged_in({{'>', 'Q', 0, std::nullopt, ConversationState::Busy},
                {'<', 'T'},
                {'<', 'D'},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'I', Kind::Query, ConversationState::Idle}})},
    {"MultiStatementQueryCountsStatements",
     logged_in({{'>', 'Q'},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 1},
                {'<', 'I', 0, Kind::Query, std::nullopt, 0, 2},
                {'<', 'Z', 'T', Kind::Query, ConversationState::Idle}}),
     0, wire::TransactionStatus::InTransaction},
    {"ErrorInsideQueryEndsAtReadyForQuery",
     logged_in({{'>', 'Q'},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'E', 0, Kind::Query, std::nullopt, 0, 1},
                {'<', 'Z', 'E', Kind::Query, ConversationState::Idle}}),
     0, wire::TransactionStatus::Failed},
    {"ExtendedPipelineMatchesResponsesInOrder",
     logged_in({{'>', 'P'}, {'>', 'B'}, {'>', 'D'}, {'>', 'E'},
                {'>', 'P'}, {'>', 'B'}, {'>', 'E'}, {'>', 'S'},
                {'<', '1', 0, Kind::Parse},
                {'<', '2', 0, Kind::Bind},
                {'<', 'T', 0, Kind::Describe},
                {'<', 'D'},
                {'<', 'C', 0, Kind::Execute},
                {'<', '1', 0, Kind::Parse},
                {'<', '2', 0, Kind::Bind},
                {'<', 'C', 0, Kind::Execute, ConversationState::Busy},
                {'<', 'Z', 'I', Kind::Sync, ConversationState::Idle}})},
    {"DescribeStatementWithNoData",
     logged_in({{'>', 'P'}, {'>', 'D'}, {'>', 'S'},
                {'<', '1', 0, Kind::Parse},
                {'<', 't'},
                {'<', 'n', 0, Kind::Describe},
                {'<', 'Z', 'I', Kind::Sync}})},
    {"ErrorSkipsToSync",
     logged_in({{'>', 'P'}, {'>', 'B'}, {'>', 'E'}, {'>', 'P'}, {'>', 'B'}, {'>', 'E'}, {'>', 'S'},
                {'<', '1', 0, Kind::Parse},
                {'<', 'E', 0, Kind::Bind, std::nullopt, 4},
                {'<', 'Z', 'I', Kind::Sync, ConversationState::Idle}})},
    {"MessagesAfterErrorBeforeSyncAreSkippedAtReadyForQuery",
     logged_in({{'>', 'P'}, {'>', 'B'}, {'>', 'E'},
                {'<', '1', 0, Kind::Parse},
                {'<', 'E', 0, Kind::Bind, std::nullopt, 1},
                {'>', 'B'}, {'>', 'E'}, {'>', 'S'},
                {'<', 'Z', 'I', Kind::Sync, ConversationState::Idle, 2}})},
    {"PortalSuspendedCompletesExecute",
     logged_in({{'>', 'B'}, {'>', 'E'}, {'>', 'E'}, {'>', 'S'},
                {'<', '2', 0, Kind::Bind},
                {'<', 'D'},
                {'<', 's', 0, Kind::Execute},
                {'<', 'D'},
                {'<', 'C', 0, Kind::Execute},
                {'<', 'Z', 'T', Kind::Sync}}),
     0, wire::TransactionStatus::InTransaction},
    // Nothing is pending after Parse+Flush, but the server has not reached a ReadyForQuery:
    // the batch is still open, so the conversation is not at rest.
    {"FlushLeavesNothingPendingButBusy",
     logged_in({{'>', 'P'}, {'>', 'H'},
                {'<', '1', 0, Kind::Parse, ConversationState::Busy}})},
    {"CloseCompletes",
     logged_in({{'>', 'C'}, {'>', 'S'}, {'<', '3', 0, Kind::Close}, {'<', 'Z', 'I', Kind::Sync}})},
    {"CopyFromStdin",
     logged_in({{'>', 'Q'},
                {'<', 'G', 0, std::nullopt, ConversationState::CopyIn},
                {'>', 'd'}, {'>', 'd'},
                {'>', 'c', 0, std::nullopt, ConversationState::Busy},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'I', Kind::Query, ConversationState::Idle}})},
    {"CopyFailFromClient",
     logged_in({{'>', 'Q'},
                {'<', 'G', 0, std::nullopt, ConversationState::CopyIn},
                {'>', 'f', 0, std::nullopt, ConversationState::Busy},
                {'<', 'E', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'I', Kind::Query, ConversationState::Idle}})},
    {"CopyToStdout",
     logged_in({{'>', 'Q'},
                {'<', 'H', 0, std::nullopt, ConversationState::CopyOut},
                {'<', 'd'}, {'<', 'd'},
                {'<', 'c', 0, std::nullopt, ConversationState::Busy},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'I', Kind::Query, ConversationState::Idle}})},
    {"CopyInThroughExtendedProtocol",
     logged_in({{'>', 'P'}, {'>', 'B'}, {'>', 'E'}, {'>', 'S'},
                {'<', '1', 0, Kind::Parse},
                {'<', '2', 0, Kind::Bind},
                {'<', 'G', 0, std::nullopt, ConversationState::CopyIn},
                {'>', 'd'},
                {'>', 'c'},
                {'<', 'C', 0, Kind::Execute},
                {'<', 'Z', 'I', Kind::Sync, ConversationState::Idle}})},
    {"NotificationWhileIdleChangesNothing",
     logged_in({{'<', 'A', 0, std::nullopt, ConversationState::Idle},
                {'<', 'N', 0, std::nullopt, ConversationState::Idle},
                {'<', 'S', 0, std::nullopt, ConversationState::Idle}})},
    {"FunctionCall",
     logged_in({{'>', 'F'}, {'<', 'V'}, {'<', 'Z', 'I', Kind::FunctionCall, ConversationState::Idle}})},
    {"PipelinedSimpleQueries",
     logged_in({{'>', 'Q'}, {'>', 'Q'},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'T', Kind::Query, ConversationState::Busy},
                {'<', 'C', 0, Kind::Query, std::nullopt, 0, 0},
                {'<', 'Z', 'I', Kind::Query, ConversationState::Idle}})},
    {"Terminate", logged_in({{'>', 'X', 0, std::nullopt, ConversationState::Terminated}})},
    {"AuthenticationFailure",
     {{'<', 'R', 0, std::nullopt, ConversationState::Authenticating},
      {'>', 'p'},
      {'<', 'E', 0, std::nullopt, ConversationState::Authenticating}}},
};

INSTANTIATE_TEST_SUITE_P(Scripts, ConversationScript, ::testing::ValuesIn(kScripts),
                         [](const auto& info) { return info.param.name; });

TEST(Conversation, AtRestOnlyAfterReadyForQueryWithNothingPending) {
    Conversation conversation;
    EXPECT_FALSE(conversation.at_rest());
    EXPECT_FALSE(conversation.startup_complete());
    std::vector<std::uint8_t> idle{'I'};
    conversation.on_backend('R', {});
    conversation.on_backend('Z', idle);
    EXPECT_TRUE(conversation.startup_complete());
    EXPECT_TRUE(conversation.at_rest());
    conversation.on_frontend('Q');
    EXPECT_FALSE(conversation.at_rest());
    conversation.on_backend('Z', idle);
    EXPECT_TRUE(conversation.at_rest());
}

TEST(Conversation, CorrelationComesBackWithTheResponse) {
    Conversation conversation;
    std::vector<std::uint8_t> idle{'I'};
    conversation.on_backend('Z', idle);
    conversation.on_frontend('P', 11);
    conversation.on_frontend('B', 12);
    conversation.on_frontend('E', 13);
    conversation.on_frontend('S', 14);
    EXPECT_EQ(conversation.on_backend('1', {}).completed->correlation, 11u);
    EXPECT_EQ(conversation.on_backend('2', {}).completed->correlation, 12u);
    EXPECT_EQ(conversation.on_backend('C', {}).completed->correlation, 13u);
    EXPECT_EQ(conversation.on_backend('Z', idle).completed->correlation, 14u);
}

// A pipeline whose second Execute fails before the client has sent its Sync: what the client sends
// next is discarded by the server until that Sync, which the session must not wait on.
TEST(Conversation, AfterAnErrorTheServerSkipsUntilTheClientsSync) {
    Conversation conversation;
    std::vector<std::uint8_t> idle{'I'};
    conversation.on_backend('Z', idle);
    for (const char tag : {'B', 'E', 'B', 'E'}) conversation.on_frontend(tag);
    conversation.on_backend('2', {});
    conversation.on_backend('C', {});
    EXPECT_FALSE(conversation.server_skips_to_sync());
    conversation.on_backend('E', {});
    EXPECT_TRUE(conversation.server_skips_to_sync());
    conversation.on_frontend('B');
    conversation.on_frontend('E');
    EXPECT_TRUE(conversation.server_skips_to_sync());
    conversation.on_frontend('S');
    EXPECT_FALSE(conversation.server_skips_to_sync());
    EXPECT_TRUE(conversation.on_backend('Z', idle).completed.has_value());
    EXPECT_TRUE(conversation.at_rest());
}

// PostgreSQL drops a Query or FunctionCall that arrives while it skips to Sync, unanswered: the
// ReadyForQuery that follows answers the Sync, and nothing stays pending after it.
TEST(Conversation, AQueryWhileTheServerSkipsGetsNoAnswer) {
    for (const char discarded : {'Q', 'F'}) {
        Conversation conversation;
        std::vector<std::uint8_t> idle{'I'};
        conversation.on_backend('Z', idle);
        for (const char tag : {'B', 'E'}) conversation.on_frontend(tag, 1);
        conversation.on_backend('E', {});
        ASSERT_TRUE(conversation.server_skips_to_sync());
        EXPECT_TRUE(conversation.on_frontend(discarded, 2));
        conversation.on_frontend('S', 3);
        const auto step = conversation.on_backend('Z', idle);
        ASSERT_TRUE(step.completed.has_value()) << discarded;
        EXPECT_EQ(step.completed->kind, PendingRequest::Kind::Sync) << discarded;
        EXPECT_EQ(step.completed->correlation, 3u) << discarded;
        EXPECT_TRUE(conversation.at_rest()) << discarded;
    }
}

TEST(Conversation, AnErrorBeforeAPendingSyncSkipsOnlyUpToThatSync) {
    Conversation conversation;
    std::vector<std::uint8_t> idle{'I'};
    conversation.on_backend('Z', idle);
    for (const char tag : {'B', 'E', 'S'}) conversation.on_frontend(tag);
    conversation.on_backend('E', {});
    EXPECT_FALSE(conversation.server_skips_to_sync());
}

TEST(Conversation, ASimpleQueryErrorSkipsNothing) {
    Conversation conversation;
    std::vector<std::uint8_t> idle{'I'};
    conversation.on_backend('Z', idle);
    conversation.on_frontend('Q');
    conversation.on_backend('E', {});
    EXPECT_FALSE(conversation.server_skips_to_sync());
}

TEST(Conversation, UnknownFrontendTagIsRefused) {
    Conversation conversation;
    EXPECT_FALSE(conversation.on_frontend('?'));
}

}  // namespace
}  // namespace staleguard::session
