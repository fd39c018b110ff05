#include "parser/block_start.hpp"

#include <gtest/gtest.h>

#include <string>

namespace staleguard::parser {
namespace {

struct Case {
    std::string sql;
    bool opens;
};

class BlockStartTest : public ::testing::TestWithParam<Case> {};

TEST_P(BlockStartTest, RecognisesOnlyTheStatementsThatOpenABlock) {
    EXPECT_EQ(opens_transaction_block(GetParam().sql), GetParam().opens) << GetParam().sql;
}

INSTANTIATE_TEST_SUITE_P(
    Statements, BlockStartTest,
    ::testing::Values(
        // What drivers send.
        Case{"BEGIN", true}, Case{"begin", true}, Case{"BEGIN;", true}, Case{"  \n\tBegin  ", true},
        Case{"BEGIN ISOLATION LEVEL SERIALIZABLE", true}, Case{"BEGIN TRANSACTION READ ONLY", true},
        Case{"BEGIN WORK", true}, Case{"START TRANSACTION", true}, Case{"start\ntransaction isolation level read committed", true},
        Case{"START TRANSACTION;", true},
        // Words that only start with the keyword.
        Case{"BEGINNING", false}, Case{"begin_work()", false}, Case{"begin$1", false}, Case{"STARTED", false},
        Case{"START TRANSACTIONS", false}, Case{"START", false}, Case{"START;", false}, Case{"beginé", false},
        // Other statements, and text staleguard will not look behind.
        Case{"", false}, Case{"   ", false}, Case{"COMMIT", false}, Case{"SELECT 'BEGIN'", false},
        Case{"/* tx */ BEGIN", false}, Case{"-- tx\nBEGIN", false}, Case{"DO $$BEGIN NULL; END$$", false},
        Case{"SAVEPOINT a", false}, Case{"END", false}, Case{"ABORT", false}, Case{"\"begin\"", false}));

}  // namespace
}  // namespace staleguard::parser
