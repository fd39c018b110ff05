// Carrying error positions from a rewritten statement back into the client's text.
#include "parser/position_map.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace staleguard::parser {
namespace {

struct PositionCase {
    const char* name;
    const char* original;
    const char* rewritten;
    const char* token_in_rewritten;  // the error sits at its first occurrence (after `skip` bytes)
    std::size_t skip;
    std::optional<std::size_t> expected;  // 1-based character position in the original
};

std::size_t position_of(std::string_view text, std::string_view token, std::size_t skip) {
    return character_count(text.substr(0, text.find(token, skip))) + 1;
}

class MapErrorPosition : public ::testing::TestWithParam<PositionCase> {};

TEST_P(MapErrorPosition, Maps) {
    const auto& c = GetParam();
    const std::size_t position = position_of(c.rewritten, c.token_in_rewritten, c.skip);
    EXPECT_EQ(map_error_position(c.original, c.rewritten, position), c.expected);
}

const PositionCase kCases[] = {
    {"LiteralAfterTheBump", "update accounts set balance=1 where id='x'",
     "UPDATE accounts SET balance = 1, version = accounts.version + 1 WHERE id = 'x'", "'x'", 0, 40},
    {"LiteralBeforeTheBump", "update accounts set balance='x' where id=1",
     "UPDATE accounts SET balance = 'x', version = accounts.version + 1 WHERE id = 1", "'x'", 0, 29},
    {"ColumnAfterTheBumpsOwnNumbers", "UPDATE accounts SET a = 1 WHERE nosuch = 1",
     "UPDATE accounts SET a = 1, version = accounts.version + 1 WHERE nosuch = 1", "nosuch", 0, 33},
    {"TokenStaleguardAdded", "UPDATE accounts SET a = 1 WHERE id = 1",
     "UPDATE accounts SET a = 1, version = accounts.version + 1 WHERE id = 1", "version", 0, std::nullopt},
    {"MultibyteBefore", "SELECT 'é'; UPDATE accounts SET a = 'y' WHERE id = 1",
     "SELECT 'é'; UPDATE accounts SET a = 'y', version = accounts.version + 1 WHERE id = 1", "'y'", 0, 37},
    {"CommentsAreSkipped", "/* note */ UPDATE accounts SET a = 'q' -- why\n WHERE id = 1",
     "UPDATE accounts SET a = 'q', version = accounts.version + 1 WHERE id = 1", "'q'", 0, 36},
    {"KeywordCase", "update ACCOUNTS set A = 1 where ID = 'z'",
     "UPDATE accounts SET a = 1, version = accounts.version + 1 WHERE id = 'z'", "'z'", 0, 38},
    {"PositionInsideAToken", "UPDATE accounts SET a = 'abc' WHERE id = 1",
     "UPDATE accounts SET a = 'abc', version = accounts.version + 1 WHERE id = 1", "bc'", 0, 27},
};

INSTANTIATE_TEST_SUITE_P(Cases, MapErrorPosition, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MapErrorPosition, OutOfRangeAndUnscannable) {
    EXPECT_EQ(map_error_position("SELECT 1", "SELECT 1", 0), std::nullopt);
    EXPECT_EQ(map_error_position("SELECT 1", "SELECT 1", 99), std::nullopt);
    EXPECT_EQ(map_error_position("SELECT 'unterminated", "SELECT 1", 8), std::nullopt);
}

TEST(CharacterCount, CountsUtf8Characters) {
    EXPECT_EQ(character_count(""), 0u);
    EXPECT_EQ(character_count("abc"), 3u);
    EXPECT_EQ(character_count("é€😀"), 3u);
    EXPECT_EQ(byte_offset_of_character("aé b", 2), std::optional<std::size_t>(3));
    EXPECT_EQ(byte_offset_of_character("ab", 2), std::nullopt);
}

}  // namespace
}  // namespace staleguard::parser
