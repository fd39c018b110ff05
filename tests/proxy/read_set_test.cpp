// Tests for ReadSet: scripted remember/seen/forget tables, LRU order, key encoding, the memory bound, a model check.
#include "proxy/read_set.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <list>
#include <map>
#include <ostream>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace staleguard::session {
namespace {

using Key = std::vector<std::string>;

std::vector<std::string_view> views(const Key& key) { return {key.begin(), key.end()}; }

// One step of a script and what it must observe.
struct Step {
    enum class Kind { Remember, Seen, Forget, Clear } kind;
    std::string table;
    Key key;
    std::optional<std::string> version;  // Remember: the version; Seen: expected (nullopt = unread)
    std::size_t size_after;
};

Step remember(std::string table, Key key, std::string version, std::size_t size_after) {
    return {Step::Kind::Remember, std::move(table), std::move(key), std::move(version), size_after};
}
Step seen(std::string table, Key key, std::string version, std::size_t size_after) {
    return {Step::Kind::Seen, std::move(table), std::move(key), std::move(version), size_after};
}
Step unread(std::string table, Key key, std::size_t size_after) {
    return {Step::Kind::Seen, std::move(table), std::move(key), std::nullopt, size_after};
}
Step forget(std::string table, Key key, std::size_t size_after) {
    return {Step::Kind::Forget, std::move(table), std::move(key), std::nullopt, size_after};
}
Step clear() { return {Step::Kind::Clear, {}, {}, std::nullopt, 0}; }

struct ScriptCase {
    std::string name;
    std::size_t capacity;
    std::vector<Step> steps;
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const ScriptCase& script, std::ostream* out) { *out << script.name; }

std::string with_nul(std::string_view before, std::string_view after) {
    std::string text(before);
    text.push_back('\0');
    text.append(after);
    return text;
}

std::vector<ScriptCase> script_cases() {
    const std::string timestamp = "2024-02-29 23:59:59.999999+05:30:00";  // 35 bytes
    const std::string uuid = "6f1c2a8e-3b7d-4e59-9a10-2c4b8d7e6f01";
    return {
        {"RememberThenSeen", 10, {remember("t", {"1"}, "7", 1), seen("t", {"1"}, "7", 1)}},
        {"NeverRead", 10, {unread("t", {"1"}, 0), remember("t", {"1"}, "7", 1), unread("t", {"2"}, 1)}},
        {"UnknownTable", 10, {remember("t", {"1"}, "7", 1), unread("u", {"1"}, 1)}},
        {"RefreshSameLength", 10,
         {remember("t", {"1"}, "7", 1), remember("t", {"1"}, "8", 1), seen("t", {"1"}, "8", 1)}},
        {"RefreshLongerVersion", 10,
         {remember("t", {"1"}, "9", 1), remember("t", {"1"}, "10", 1), seen("t", {"1"}, "10", 1)}},
        {"RefreshShorterVersion", 10,
         {remember("t", {"1"}, "100", 1), remember("t", {"1"}, "99", 1), seen("t", {"1"}, "99", 1)}},
        {"RefreshKeepsOtherRows", 10,
         {remember("t", {"1"}, "1", 1), remember("t", {"2"}, "2", 2), remember("t", {"1"}, "12345", 2),
          seen("t", {"2"}, "2", 2), seen("t", {"1"}, "12345", 2)}},
        {"SameKeyInTwoTables", 10,
         {remember("a", {"1"}, "x", 1), remember("b", {"1"}, "y", 2), seen("a", {"1"}, "x", 2),
          seen("b", {"1"}, "y", 2)}},
        {"EvictsLeastRecentlyRemembered", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          remember("t", {"d"}, "1", 3), unread("t", {"a"}, 3), seen("t", {"b"}, "1", 3),
          seen("t", {"c"}, "1", 3), seen("t", {"d"}, "1", 3)}},
        {"SeenMarksRecentlyUsed", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          seen("t", {"a"}, "1", 3), remember("t", {"d"}, "1", 3), unread("t", {"b"}, 3),
          seen("t", {"a"}, "1", 3), seen("t", {"c"}, "1", 3), seen("t", {"d"}, "1", 3)}},
        {"RefreshMarksRecentlyUsed", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          remember("t", {"a"}, "2", 3), remember("t", {"d"}, "1", 3), unread("t", {"b"}, 3),
          seen("t", {"a"}, "2", 3)}},
        {"RefreshWithNewLengthMarksRecentlyUsed", 3,
         {remember("t", {"a"}, "9", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          remember("t", {"a"}, "10", 3), remember("t", {"d"}, "1", 3), unread("t", {"b"}, 3),
          seen("t", {"a"}, "10", 3)}},
        {"MissDoesNotTouch", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          unread("t", {"z"}, 3), remember("t", {"d"}, "1", 3), unread("t", {"a"}, 3)}},
        {"EvictionFollowsTouchPattern", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          seen("t", {"b"}, "1", 3), seen("t", {"a"}, "1", 3),  // recency now a, b, c
          remember("t", {"d"}, "1", 3),                          // evicts c
          remember("t", {"e"}, "1", 3),                          // evicts b
          unread("t", {"c"}, 3), unread("t", {"b"}, 3), seen("t", {"a"}, "1", 3),
          remember("t", {"f"}, "1", 3),  // evicts d: a was just touched
          unread("t", {"d"}, 3), seen("t", {"e"}, "1", 3), seen("t", {"a"}, "1", 3),
          seen("t", {"f"}, "1", 3)}},
        {"CapacityOne", 1,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "2", 1), unread("t", {"a"}, 1),
          seen("t", {"b"}, "2", 1), remember("t", {"b"}, "33", 1), seen("t", {"b"}, "33", 1)}},
        {"CapacityZeroTracksNothing", 0,
         {remember("t", {"a"}, "1", 0), unread("t", {"a"}, 0), forget("t", {"a"}, 0)}},
        {"Forget", 10,
         {remember("t", {"1"}, "7", 1), remember("t", {"2"}, "7", 2), forget("t", {"1"}, 1),
          unread("t", {"1"}, 1), seen("t", {"2"}, "7", 1)}},
        {"ForgetUnknownIsNoOp", 10,
         {remember("t", {"1"}, "7", 1), forget("t", {"2"}, 1), forget("u", {"1"}, 1), seen("t", {"1"}, "7", 1)}},
        {"ForgetFreesCapacity", 2,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), forget("t", {"a"}, 1),
          remember("t", {"c"}, "1", 2), seen("t", {"b"}, "1", 2), seen("t", {"c"}, "1", 2)}},
        {"ForgetThenRememberAgain", 10,
         {remember("t", {"1"}, "7", 1), forget("t", {"1"}, 0), unread("t", {"1"}, 0),
          remember("t", {"1"}, "8", 1), seen("t", {"1"}, "8", 1)}},
        {"ForgetTail", 3,
         {remember("t", {"a"}, "1", 1), remember("t", {"b"}, "1", 2), remember("t", {"c"}, "1", 3),
          forget("t", {"a"}, 2), remember("t", {"d"}, "1", 3), remember("t", {"e"}, "1", 3),
          unread("t", {"b"}, 3), seen("t", {"c"}, "1", 3)}},
        {"CompositeKeyPartsAreDelimited", 10,
         {remember("t", {"ab", "c"}, "1", 1), unread("t", {"a", "bc"}, 1), unread("t", {"abc"}, 1),
          unread("t", {"ab", "c", ""}, 1), unread("t", {"ab"}, 1), seen("t", {"ab", "c"}, "1", 1),
          remember("t", {"a", "bc"}, "2", 2), seen("t", {"ab", "c"}, "1", 2), seen("t", {"a", "bc"}, "2", 2)}},
        {"CompositeKeyOrderMatters", 10,
         {remember("t", {"1", "2"}, "v", 1), unread("t", {"2", "1"}, 1)}},
        {"EmptyKeyParts", 10,
         {remember("t", {""}, "1", 1), unread("t", {}, 1), unread("t", {"", ""}, 1),
          remember("t", {}, "2", 2), remember("t", {"", ""}, "3", 3), seen("t", {""}, "1", 3),
          seen("t", {}, "2", 3), seen("t", {"", ""}, "3", 3)}},
        {"EmptyTableName", 10, {remember("", {"1"}, "1", 1), seen("", {"1"}, "1", 1), unread("t", {"1"}, 1)}},
        {"EmptyVersionIsARead", 10, {remember("t", {"1"}, "", 1), seen("t", {"1"}, "", 1)}},
        {"NulBytesInKeys", 10,
         {remember("t", {with_nul("a", "b")}, "1", 1), unread("t", {"a"}, 1), unread("t", {with_nul("a", "c")}, 1),
          unread("t", {"a", "b"}, 1), remember("t", {with_nul("a", "")}, "2", 2),
          seen("t", {with_nul("a", "b")}, "1", 2), seen("t", {with_nul("a", "")}, "2", 2)}},
        {"NulBytesInVersion", 10,
         {remember("t", {"1"}, with_nul("x", "y"), 1), seen("t", {"1"}, with_nul("x", "y"), 1)}},
        {"NulInTableName", 10,
         {remember(with_nul("t", "u"), {"1"}, "1", 1), unread("t", {"1"}, 1), seen(with_nul("t", "u"), {"1"}, "1", 1)}},
        {"TimestampAndUuid", 10,
         {remember("t", {uuid}, timestamp, 1), seen("t", {uuid}, timestamp, 1), remember("t", {uuid}, "1", 1),
          seen("t", {uuid}, "1", 1)}},
        {"OversizedRowIsNotTracked", 10,
         {remember("t", {std::string(70000, 'k')}, "1", 0), unread("t", {std::string(70000, 'k')}, 0)}},
        {"OversizedRefreshDropsTheOldVersion", 10,
         {remember("t", {"1"}, "1", 1), remember("t", {"1"}, std::string(70000, 'v'), 0), unread("t", {"1"}, 0)}},
        {"Clear", 10,
         {remember("t", {"1"}, "1", 1), remember("u", {"2"}, "2", 2), clear(), unread("t", {"1"}, 0),
          unread("u", {"2"}, 0), remember("u", {"2"}, "3", 1), seen("u", {"2"}, "3", 1)}},
    };
}

class ReadSetScriptTest : public ::testing::TestWithParam<ScriptCase> {};

TEST_P(ReadSetScriptTest, ObservesEveryStep) {
    const auto& script = GetParam();
    ReadSet read_set(script.capacity);
    for (std::size_t i = 0; i < script.steps.size(); ++i) {
        const auto& step = script.steps[i];
        SCOPED_TRACE("step " + std::to_string(i + 1));
        const auto key = views(step.key);
        switch (step.kind) {
            case Step::Kind::Remember:
                read_set.remember(step.table, key, *step.version);
                break;
            case Step::Kind::Seen: {
                const auto version = read_set.seen(step.table, key);
                ASSERT_EQ(version.has_value(), step.version.has_value());
                if (version) {
                    EXPECT_EQ(*version, *step.version);
                }
                break;
            }
            case Step::Kind::Forget:
                read_set.forget(step.table, key);
                break;
            case Step::Kind::Clear:
                read_set.clear();
                break;
        }
        EXPECT_EQ(read_set.size(), step.size_after);
    }
    EXPECT_EQ(read_set.capacity(), script.capacity);
}

INSTANTIATE_TEST_SUITE_P(Scripts, ReadSetScriptTest, ::testing::ValuesIn(script_cases()),
                         [](const auto& info) { return info.param.name; });

std::string padded_key(std::size_t n) {
    char text[24];
    std::snprintf(text, sizeof text, "%08zu", n);
    return text;
}

// 2..10 decimal digits, cycling.
std::string version_for(std::size_t n) { return std::to_string(10 + n % 9).append(n % 9, '7'); }

TEST(ReadSetMemory, EmptySetHoldsNoHeap) {
    const ReadSet read_set(100000);
    EXPECT_EQ(read_set.memory_bytes(), sizeof(ReadSet));
}

// The bound the issue fixes: at most 64 bytes per tracked row plus the key's bytes.
TEST(ReadSetMemory, HundredThousandRowsStayWithinTheBound) {
    constexpr std::size_t kRows = 100000;
    constexpr std::size_t kKeyBytes = 8;
    ReadSet read_set(kRows);
    for (std::size_t n = 0; n < kRows; ++n) {
        const std::string key = padded_key(n);
        const std::string_view parts[] = {key};
        read_set.remember("public.accounts", parts, version_for(n));
    }
    ASSERT_EQ(read_set.size(), kRows);
    const double per_row = static_cast<double>(read_set.memory_bytes()) / kRows;
    RecordProperty("bytes_per_row", std::to_string(per_row));
    std::printf("ReadSet: %.1f bytes per row (100000 rows, 8-byte keys)\n", per_row);
    EXPECT_LE(per_row, 64.0 + kKeyBytes);

    for (std::size_t n = 0; n < kRows; ++n) {
        const std::string key = padded_key(n);
        const std::string_view parts[] = {key};
        const auto version = read_set.seen("public.accounts", parts);
        ASSERT_TRUE(version.has_value()) << n;
        ASSERT_EQ(*version, version_for(n)) << n;
    }

    // A second 100000 rows evicts every first one; compaction keeps the arena within the bound.
    for (std::size_t n = kRows; n < 2 * kRows; ++n) {
        const std::string key = padded_key(n);
        const std::string_view parts[] = {key};
        read_set.remember("public.accounts", parts, version_for(n));
    }
    ASSERT_EQ(read_set.size(), kRows);
    EXPECT_LE(static_cast<double>(read_set.memory_bytes()) / kRows, 64.0 + kKeyBytes);
    const std::string first = padded_key(0);
    const std::string last = padded_key(2 * kRows - 1);
    const std::string_view first_parts[] = {first};
    const std::string_view last_parts[] = {last};
    EXPECT_FALSE(read_set.seen("public.accounts", first_parts).has_value());
    EXPECT_EQ(read_set.seen("public.accounts", last_parts), version_for(2 * kRows - 1));
}

TEST(ReadSetMemory, ChurnOfForgottenRowsReusesSlots) {
    constexpr std::size_t kRows = 1000;
    ReadSet read_set(kRows);
    auto fill = [&](std::size_t round) {
        for (std::size_t n = 0; n < kRows; ++n) {
            const std::string key = padded_key(round * kRows + n);
            const std::string_view parts[] = {key};
            read_set.remember("t", parts, "12345");
        }
    };
    fill(0);
    const std::size_t filled = read_set.memory_bytes();
    for (std::size_t round = 1; round <= 50; ++round) {
        for (std::size_t n = 0; n < kRows; ++n) {
            const std::string key = padded_key((round - 1) * kRows + n);
            const std::string_view parts[] = {key};
            read_set.forget("t", parts);
        }
        ASSERT_EQ(read_set.size(), 0u);
        fill(round);
        ASSERT_EQ(read_set.size(), kRows);
        // Slots and index are reused as they are; only the arena's compaction point moves.
        ASSERT_LE(read_set.memory_bytes(), filled + filled / 4) << "round " << round;
    }
}

TEST(ReadSetMemory, ClearGivesMemoryBack) {
    ReadSet read_set(1000);
    for (std::size_t n = 0; n < 1000; ++n) {
        const std::string key = padded_key(n);
        const std::string_view parts[] = {key};
        read_set.remember("t", parts, "1");
    }
    EXPECT_GT(read_set.memory_bytes(), 1000u * 16);
    read_set.clear();
    EXPECT_EQ(read_set.size(), 0u);
    EXPECT_EQ(read_set.memory_bytes(), sizeof(ReadSet));
}

TEST(ReadSetTables, ManyTablesKeepTheirRowsApart) {
    constexpr std::size_t kTables = 500;
    constexpr std::size_t kRowsPerTable = 20;
    ReadSet read_set(kTables * kRowsPerTable);
    for (std::size_t table = 0; table < kTables; ++table) {
        for (std::size_t row = 0; row < kRowsPerTable; ++row) {
            const std::string key = std::to_string(row);
            const std::string_view parts[] = {key};
            read_set.remember("schema_with_a_long_name.table_" + std::to_string(table), parts,
                              std::to_string(table * 1000 + row));
        }
    }
    ASSERT_EQ(read_set.size(), kTables * kRowsPerTable);
    for (std::size_t table = 0; table < kTables; ++table) {
        for (std::size_t row = 0; row < kRowsPerTable; ++row) {
            const std::string key = std::to_string(row);
            const std::string_view parts[] = {key};
            const auto version = read_set.seen("schema_with_a_long_name.table_" + std::to_string(table), parts);
            ASSERT_TRUE(version.has_value());
            ASSERT_EQ(*version, std::to_string(table * 1000 + row));
        }
    }
    // Interned names are counted: more than the rows alone would need.
    EXPECT_GT(read_set.memory_bytes(), kTables * 40);
}

TEST(ReadSetAliasing, RememberAcceptsItsOwnViews) {
    ReadSet read_set(4);
    const std::string_view one[] = {"1"};
    const std::string_view two[] = {"2"};
    read_set.remember("t", one, "2024-02-29 23:59:59.999999+00");
    // Copy a seen() view into many new rows so the arena is rebuilt while the view is an argument.
    for (int i = 0; i < 200; ++i) {
        const auto version = read_set.seen("t", one);
        ASSERT_TRUE(version.has_value());
        const std::string key = std::to_string(100 + i);
        const std::string_view parts[] = {key, *version};
        read_set.remember("t", parts, *version);
        // The view above may be stale now (the call may have moved the arena): fetch again.
        read_set.remember("t", two, *read_set.seen("t", one));
        read_set.remember("t", one, *read_set.seen("t", one));
    }
    EXPECT_EQ(read_set.seen("t", one), "2024-02-29 23:59:59.999999+00");
    EXPECT_EQ(read_set.seen("t", two), "2024-02-29 23:59:59.999999+00");
}

// A model check: random operations over a small key space against a plain LRU map, so that
// eviction order, backward-shift deletion, slot reuse and arena compaction all get exercised.
class ReadSetModelTest : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint32_t>> {};

TEST_P(ReadSetModelTest, MatchesAPlainLruMap) {
    const auto [capacity, seed] = GetParam();
    std::mt19937 random(seed);
    ReadSet read_set(capacity);
    using ModelKey = std::pair<std::string, Key>;
    std::list<ModelKey> recency;  // front = most recent
    std::map<ModelKey, std::pair<std::string, std::list<ModelKey>::iterator>> model;
    auto model_touch = [&](const ModelKey& key) {
        auto& entry = model.at(key);
        recency.erase(entry.second);
        recency.push_front(key);
        entry.second = recency.begin();
    };
    const char* tables[] = {"a", "b", "c"};
    for (int step = 0; step < 20000; ++step) {
        ModelKey key{tables[random() % 3], {}};
        const std::size_t parts = 1 + random() % 2;
        // About 300 distinct rows: capacities below it evict, the largest never does.
        for (std::size_t p = 0; p < parts; ++p) key.second.push_back(std::to_string(random() % (parts == 1 ? 40 : 8)));
        const auto key_views = views(key.second);
        const auto choice = random() % 10;
        if (choice < 5) {
            std::string version = std::to_string(random() % 3000);
            read_set.remember(key.first, key_views, version);
            if (capacity == 0) continue;
            if (auto it = model.find(key); it != model.end()) {
                it->second.first = version;
                model_touch(key);
            } else {
                if (model.size() == capacity) {
                    model.erase(recency.back());
                    recency.pop_back();
                }
                recency.push_front(key);
                model.emplace(key, std::make_pair(version, recency.begin()));
            }
        } else if (choice < 9) {
            const auto version = read_set.seen(key.first, key_views);
            const auto it = model.find(key);
            ASSERT_EQ(version.has_value(), it != model.end()) << "step " << step;
            if (version) {
                ASSERT_EQ(*version, it->second.first) << "step " << step;
                model_touch(key);
            }
        } else {
            read_set.forget(key.first, key_views);
            if (auto it = model.find(key); it != model.end()) {
                recency.erase(it->second.second);
                model.erase(it);
            }
        }
        ASSERT_EQ(read_set.size(), model.size()) << "step " << step;
    }
}

INSTANTIATE_TEST_SUITE_P(CapacitiesAndSeeds, ReadSetModelTest,
                         ::testing::Combine(::testing::Values(0u, 1u, 7u, 64u, 200u, 10000u),
                                            ::testing::Values(1u, 2u)),
                         [](const auto& info) {
                             return "Capacity" + std::to_string(std::get<0>(info.param)) + "Seed" +
                                    std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace staleguard::session
