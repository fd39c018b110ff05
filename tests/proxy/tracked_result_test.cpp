// Tests for track mode's write verdicts: array parameters read out of a Bind, stale rows, key lists and the errors a client sees.
#include "proxy/tracked_result.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "parser/track_planner.hpp"
#include "proxy/codec/backend_messages.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::session {
namespace {

using Buffer = std::vector<std::uint8_t>;
using Elements = std::vector<std::string>;

constexpr std::int16_t kTextFormat = 0;
constexpr std::int16_t kBinaryFormat = 1;

// Type OIDs from PostgreSQL's pg_type.dat.
constexpr std::uint32_t kInt2 = 21;
constexpr std::uint32_t kInt4 = 23;
constexpr std::uint32_t kDate = 1082;
constexpr std::uint32_t kInt8 = 20;
constexpr std::uint32_t kText = 25;
constexpr std::uint32_t kVarchar = 1043;
constexpr std::uint32_t kUuid = 2950;
constexpr std::uint32_t kFloat8 = 701;

Buffer bytes_of(std::string_view text) { return Buffer(text.begin(), text.end()); }

wire::Bytes view(const Buffer& buffer) { return {buffer.data(), buffer.size()}; }

// ---------------------------------------------------------------------------------------------
// array_parameter_elements, text format: PostgreSQL's array input (tests/parser/array_text_test.cpp)

TEST(TextArrayParameter, ReadsTheArraysTextForm) {
    const Buffer value = bytes_of(R"({1, "a,b" ,c\,d})");
    EXPECT_EQ(array_parameter_elements(view(value), kTextFormat, {}), (Elements{"1", "a,b", "c,d"}));
    const Buffer with_null = bytes_of("{1,NULL}");
    EXPECT_EQ(array_parameter_elements(view(with_null), kTextFormat, {}), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// array_parameter_elements, binary format (PostgreSQL's array_send)

void put_u32(Buffer& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
}

Buffer be_int(std::uint64_t value, std::size_t size) {
    Buffer out;
    for (std::size_t i = size; i-- > 0;) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    return out;
}

// ndim, has-null flag, element type, then per dimension size and lower bound, then per element
// length (-1 for NULL) and bytes. One-dimensional unless `dimensions` says otherwise.
Buffer binary_array(std::uint32_t element_type, const std::vector<std::optional<Buffer>>& elements,
                    std::vector<std::uint32_t> dimensions = {}) {
    if (dimensions.empty() && !elements.empty()) dimensions = {static_cast<std::uint32_t>(elements.size())};
    bool has_null = false;
    for (const auto& element : elements) has_null = has_null || !element;
    Buffer out;
    put_u32(out, static_cast<std::uint32_t>(dimensions.size()));
    put_u32(out, has_null ? 1 : 0);
    put_u32(out, element_type);
    for (std::uint32_t size : dimensions) {
        put_u32(out, size);
        put_u32(out, 1);  // lower bound
    }
    for (const auto& element : elements) {
        if (!element) {
            put_u32(out, 0xffffffff);
            continue;
        }
        put_u32(out, static_cast<std::uint32_t>(element->size()));
        out.insert(out.end(), element->begin(), element->end());
    }
    return out;
}

Buffer int4(std::int32_t value) { return be_int(static_cast<std::uint32_t>(value), 4); }
Buffer int8(std::int64_t value) { return be_int(static_cast<std::uint64_t>(value), 8); }

struct BinaryArrayCase {
    const char* name;
    Buffer input;
    std::optional<Elements> expected;
};

std::ostream& operator<<(std::ostream& out, const BinaryArrayCase& test_case) { return out << test_case.name; }

Buffer with_header_field(Buffer buffer, std::size_t at, std::uint32_t value) {
    Buffer field;
    put_u32(field, value);
    std::copy(field.begin(), field.end(), buffer.begin() + static_cast<std::ptrdiff_t>(at));
    return buffer;
}

const Buffer uuid_bytes = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                           0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};

const std::vector<BinaryArrayCase> binary_array_cases = {
    {"int4", binary_array(kInt4, {int4(1), int4(-2), int4(2147483647)}), Elements{"1", "-2", "2147483647"}},
    {"int4_min", binary_array(kInt4, {int4(-2147483647 - 1)}), Elements{"-2147483648"}},
    {"int8", binary_array(kInt8, {int8(9007199254740993), int8(-1)}), Elements{"9007199254740993", "-1"}},
    {"int2", binary_array(kInt2, {be_int(0xfff9, 2)}), Elements{"-7"}},
    {"text", binary_array(kText, {bytes_of("a"), bytes_of(""), bytes_of("ünï, \"x\"")}),
     Elements{"a", "", "ünï, \"x\""}},
    {"varchar", binary_array(kVarchar, {bytes_of("code-1")}), Elements{"code-1"}},
    {"uuid", binary_array(kUuid, {uuid_bytes}), Elements{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
    {"date", binary_array(kDate, {int4(0x22b7), int4(-1)}), Elements{"2024-05-01", "1999-12-31"}},
    // A text element that happens to be a question mark is a key like any other.
    {"text_question_mark", binary_array(kText, {bytes_of("?")}), Elements{"?"}},
    // array_send of an empty array: no dimensions at all.
    {"empty_no_dimensions", binary_array(kInt4, {}), Elements{}},
    {"one_dimension_of_zero", binary_array(kInt4, {}, {0}), Elements{}},
    {"lower_bound_zero", with_header_field(binary_array(kInt4, {int4(5)}), 16, 0), Elements{"5"}},
    // Not readable as a key list.
    {"null_element", binary_array(kInt4, {int4(1), std::nullopt}), std::nullopt},
    {"two_dimensions", binary_array(kInt4, {int4(1), int4(2), int4(3), int4(4)}, {2, 2}), std::nullopt},
    {"unknown_element_type", binary_array(kFloat8, {int8(0x3ff0000000000000)}), std::nullopt},
    {"int4_of_wrong_length", binary_array(kInt4, {int8(1)}), std::nullopt},
    {"int8_of_wrong_length", binary_array(kInt8, {int4(1)}), std::nullopt},
    {"uuid_of_wrong_length", binary_array(kUuid, {int8(1)}), std::nullopt},
    // Lengths that run past the buffer.
    {"count_beyond_elements", with_header_field(binary_array(kInt4, {int4(1)}), 12, 2), std::nullopt},
    {"huge_count", with_header_field(binary_array(kInt4, {int4(1)}), 12, 0xfffffffe), std::nullopt},
    {"element_length_beyond_buffer", with_header_field(binary_array(kInt4, {int4(1)}), 20, 5), std::nullopt},
    {"element_length_huge", with_header_field(binary_array(kText, {bytes_of("abc")}), 20, 0x7fffffff),
     std::nullopt},
    {"negative_dimensions", with_header_field(binary_array(kInt4, {int4(1)}), 0, 0xffffffff), std::nullopt},
    {"empty_buffer", Buffer{}, std::nullopt},
    {"header_only_one_dimension", Buffer{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23}, std::nullopt},
};

class BinaryArrayParameter : public ::testing::TestWithParam<BinaryArrayCase> {};

TEST_P(BinaryArrayParameter, Elements) {
    const BinaryArrayCase& test_case = GetParam();
    const Buffer value(test_case.input.begin(), test_case.input.end());  // exact size
    const auto elements = array_parameter_elements(view(value), kBinaryFormat, {.iso_dates = true});
    ASSERT_EQ(elements.has_value(), test_case.expected.has_value())
        << (elements ? "read " + std::to_string(elements->size()) + " elements" : std::string("nullopt"));
    if (elements) {
        EXPECT_EQ(*elements, *test_case.expected);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, BinaryArrayParameter, ::testing::ValuesIn(binary_array_cases),
                         [](const ::testing::TestParamInfo<BinaryArrayCase>& info) {
                             return std::string(info.param.name);
                         });

// Every strict prefix of a non-empty one-dimensional array is unreadable, never a crash; each in
// a buffer of its own exact size so that ASan sees a read past its end.
TEST(BinaryArrayParameter, EveryTruncationIsRefused) {
    const std::vector<Buffer> arrays = {
        binary_array(kInt4, {int4(1), int4(2), int4(3)}),
        binary_array(kInt8, {int8(-5)}),
        binary_array(kText, {bytes_of("abc"), bytes_of("")}),
        binary_array(kUuid, {uuid_bytes, uuid_bytes}),
    };
    for (const Buffer& whole : arrays) {
        ASSERT_TRUE(array_parameter_elements(view(whole), kBinaryFormat, {}).has_value());
        for (std::size_t size = 0; size < whole.size(); ++size) {
            const Buffer prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(size));
            EXPECT_FALSE(array_parameter_elements(view(prefix), kBinaryFormat, {}).has_value()) << "prefix of " << size;
        }
    }
}

// Every prefix of a text-format array reads or refuses without touching bytes past its end.
TEST(TextArrayParameter, EveryTruncationIsSafe) {
    const std::string whole = R"({"a\"b",c,"d\\",NULL})";
    for (std::size_t size = 0; size < whole.size(); ++size) {
        const Buffer prefix = bytes_of(std::string_view(whole).substr(0, size));
        EXPECT_FALSE(array_parameter_elements(view(prefix), kTextFormat, {}).has_value()) << "prefix of " << size;
    }
}

// ---------------------------------------------------------------------------------------------
// stale_rows

rules::TableRule rule_for(std::string schema, std::string table, std::vector<std::string> key = {"id"}) {
    rules::TableRule rule;
    rule.table = {std::move(schema), std::move(table)};
    rule.key = std::move(key);
    return rule;
}

const rules::TableRule accounts = rule_for("public", "accounts");
const rules::TableRule order_lines = rule_for("public", "order_lines", {"order_id", "line_no"});
const rules::TableRule quoted = rule_for("Billing", "Accounts");

struct StaleCase {
    const char* name;
    std::vector<SeenRow> seen;
    std::vector<ReturnedRow> returned;
    std::vector<SeenRow> expected;
    bool assigns_key = false;
};

std::ostream& operator<<(std::ostream& out, const StaleCase& test_case) { return out << test_case.name; }

// "1,2@3": keys and version, comparable and printable.
std::vector<std::string> describe(const std::vector<SeenRow>& rows) {
    std::vector<std::string> described;
    for (const SeenRow& row : rows) {
        std::string text;
        for (const auto& key : row.keys) text += (text.empty() ? "" : ",") + key;
        described.push_back(text + "@" + row.version);
    }
    return described;
}

const std::vector<StaleCase> stale_cases = {
    {"all_written", {{{"1"}, "3"}, {{"2"}, "5"}}, {{{"2"}, "6"}, {{"1"}, "4"}}, {}},
    {"one_missing", {{{"1"}, "3"}, {{"2"}, "5"}}, {{{"1"}, "4"}}, {{{"2"}, "5"}}},
    {"none_written", {{{"1"}, "3"}, {{"2"}, "5"}}, {}, {{{"1"}, "3"}, {{"2"}, "5"}}},
    {"nothing_seen", {}, {{{"1"}, "4"}}, {}},
    // Rows the write changed that were never read are not stale (unread rows are judged elsewhere).
    {"extra_returned_ignored", {{{"1"}, "3"}}, {{{"1"}, "4"}, {{"9"}, "1"}}, {}},
    // Keys compare as text, exactly.
    {"text_keys_exact", {{{"01"}, "3"}}, {{{"1"}, "4"}}, {{{"01"}, "3"}}},
    {"composite_whole_tuple", {{{"1", "2"}, "3"}, {{"1", "3"}, "7"}}, {{{"1", "3"}, "8"}, {{"2", "2"}, "1"}},
     {{{"1", "2"}, "3"}}},
    {"order_of_seen_kept", {{{"3"}, "1"}, {{"1"}, "1"}, {{"2"}, "1"}}, {{{"1"}, "2"}}, {{{"3"}, "1"}, {{"2"}, "1"}}},
    // A write that sets the key returns the row under its new key: any row back means written.
    {"key_set_written", {{{"1"}, "3"}}, {{{"11"}, "4"}}, {}, true},
    {"key_set_to_itself_written", {{{"1"}, "3"}}, {{{"1"}, "4"}}, {}, true},
    {"key_set_stale", {{{"1"}, "3"}}, {}, {{{"1"}, "3"}}, true},
};

class StaleRows : public ::testing::TestWithParam<StaleCase> {};

TEST_P(StaleRows, AreTheSeenRowsNotReturned) {
    const StaleCase& test_case = GetParam();
    TrackCheck check;
    check.rule = &accounts;
    check.seen = test_case.seen;
    check.assigns_key = test_case.assigns_key;
    EXPECT_EQ(describe(stale_rows(check, test_case.returned)), describe(test_case.expected));
}

INSTANTIATE_TEST_SUITE_P(Cases, StaleRows, ::testing::ValuesIn(stale_cases),
                         [](const ::testing::TestParamInfo<StaleCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// current_versions_query and changed_rows: the re-read of rows a write with other conditions left alone

rules::TableRule with_version(rules::TableRule rule, std::string column, rules::VersionKind kind) {
    rule.version_column = std::move(column);
    rule.kind = kind;
    return rule;
}

struct RecheckQueryCase {
    const char* name;
    rules::TableRule rule;
    std::vector<SeenRow> rows;
    const char* expected;
};

std::ostream& operator<<(std::ostream& out, const RecheckQueryCase& test_case) { return out << test_case.name; }

const std::vector<RecheckQueryCase> recheck_query_cases = {
    {"one_key",
     accounts,
     {{{"1"}, "3"}},
     "SELECT id::pg_catalog.text, version::pg_catalog.text FROM public.accounts WHERE id IN (E'1')"},
    {"several_keys",
     accounts,
     {{{"1"}, "3"}, {{"22"}, "1"}},
     "SELECT id::pg_catalog.text, version::pg_catalog.text FROM public.accounts WHERE id IN (E'1', E'22')"},
    {"composite_key",
     order_lines,
     {{{"1", "2"}, "3"}, {{"1", "3"}, "7"}},
     "SELECT order_id::pg_catalog.text, line_no::pg_catalog.text, version::pg_catalog.text FROM public.order_lines "
     "WHERE (order_id, line_no) IN ((E'1', E'2'), (E'1', E'3'))"},
    {"quoted_names_and_values",
     with_version(rule_for("Billing", "Accounts", {"Code"}), "Rev", rules::VersionKind::Counter),
     {{{"it's a \\ key"}, "3"}},
     "SELECT \"Code\"::pg_catalog.text, \"Rev\"::pg_catalog.text FROM \"Billing\".\"Accounts\" WHERE \"Code\" IN "
     "(E'it''s a \\\\ key')"},
    {"xmin",
     with_version(accounts, "xmin", rules::VersionKind::Xmin),
     {{{"1"}, "741"}},
     "SELECT id::pg_catalog.text, xmin::pg_catalog.text FROM public.accounts WHERE id IN (E'1')"},
    {"timestamp",
     with_version(accounts, "modified_at", rules::VersionKind::Timestamp),
     {{{"1"}, "1764231925.337295"}},
     "SELECT id::pg_catalog.text, pg_catalog.extract('epoch', modified_at)::pg_catalog.text FROM public.accounts "
     "WHERE id IN (E'1')"},
};

class CurrentVersionsQuery : public ::testing::TestWithParam<RecheckQueryCase> {};

TEST_P(CurrentVersionsQuery, ReadsTheKeysAndVersionsAsText) {
    EXPECT_EQ(current_versions_query(GetParam().rule, GetParam().rows), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Cases, CurrentVersionsQuery, ::testing::ValuesIn(recheck_query_cases),
                         [](const ::testing::TestParamInfo<RecheckQueryCase>& info) {
                             return std::string(info.param.name);
                         });

struct ChangedCase {
    const char* name;
    std::vector<SeenRow> candidates;
    std::vector<ReturnedRow> current;
    std::vector<SeenRow> expected;
};

std::ostream& operator<<(std::ostream& out, const ChangedCase& test_case) { return out << test_case.name; }

const std::vector<ChangedCase> changed_cases = {
    // Still as read: the write's other conditions passed it over.
    {"unchanged_passed_over", {{{"1"}, "3"}}, {{{"1"}, "3"}}, {}},
    {"changed", {{{"1"}, "3"}}, {{{"1"}, "4"}}, {{{"1"}, "3"}}},
    {"deleted", {{{"1"}, "3"}}, {}, {{{"1"}, "3"}}},
    {"some_changed", {{{"1"}, "3"}, {{"2"}, "5"}, {{"3"}, "1"}}, {{{"3"}, "1"}, {{"1"}, "3"}, {{"2"}, "6"}},
     {{{"2"}, "5"}}},
    // Versions and keys compare as PostgreSQL printed them, exactly.
    {"version_text_exact", {{{"1"}, "2026-11-27 08:25:25.3+00"}}, {{{"1"}, "2026-11-27 08:25:25.30+00"}},
     {{{"1"}, "2026-11-27 08:25:25.3+00"}}},
    {"composite_whole_tuple", {{{"1", "2"}, "3"}}, {{{"1", "3"}, "3"}}, {{{"1", "2"}, "3"}}},
};

class ChangedRows : public ::testing::TestWithParam<ChangedCase> {};

TEST_P(ChangedRows, AreTheCandidatesNotFoundAsRead) {
    EXPECT_EQ(describe(changed_rows(GetParam().candidates, GetParam().current)), describe(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(Cases, ChangedRows, ::testing::ValuesIn(changed_cases),
                         [](const ::testing::TestParamInfo<ChangedCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// key_list_text

struct KeyListCase {
    const char* name;
    std::vector<std::vector<std::string>> rows;
    const char* expected;
};

std::ostream& operator<<(std::ostream& out, const KeyListCase& test_case) { return out << test_case.name; }

const std::vector<KeyListCase> key_list_cases = {
    {"one_row", {{"1"}}, "1"},
    {"one_composite_row", {{"1", "7"}}, "1, 7"},
    {"several_rows", {{"1"}, {"2"}, {"3"}}, "(1, 2, 3)"},
    {"several_composite_rows", {{"1", "7"}, {"2", "8"}}, "(1, 7), (2, 8)"},
    {"text_values_as_is", {{"it's"}, {"a, b"}}, "(it's, a, b)"},
};

class KeyListText : public ::testing::TestWithParam<KeyListCase> {};

TEST_P(KeyListText, Formats) { EXPECT_EQ(key_list_text(GetParam().rows), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Cases, KeyListText, ::testing::ValuesIn(key_list_cases),
                         [](const ::testing::TestParamInfo<KeyListCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// track_stale_error / unread_write_error

using Fields = std::vector<std::pair<char, std::string>>;

Fields error_fields(const char* sqlstate, const std::string& message, const std::string& detail,
                    const std::string& hint) {
    return {{wire::field::Severity, "ERROR"}, {wire::field::SeverityNonLocalized, "ERROR"},
            {wire::field::Code, sqlstate},    {wire::field::Message, message},
            {wire::field::Detail, detail},    {wire::field::Hint, hint}};
}

constexpr const char* stale_hint = "Read the row again and retry the change.";

struct StaleErrorCase {
    const char* name;
    const rules::TableRule* rule;
    bool is_delete;
    const char* sqlstate;
    std::vector<SeenRow> seen;
    std::vector<SeenRow> stale;
    std::size_t still_current;
    Fields expected;
};

std::ostream& operator<<(std::ostream& out, const StaleErrorCase& test_case) { return out << test_case.name; }

const std::vector<StaleErrorCase> stale_error_cases = {
    {"one_row_update", &accounts, false, "40001", {{{"1"}, "3"}}, {{{"1"}, "3"}}, 0,
     error_fields("40001", "stale write to public.accounts (id)=(1): row changed since it was read",
                  "Expected version 3. The row was changed or deleted by another session; nothing was written.",
                  stale_hint)},
    {"one_row_delete", &accounts, true, "40001", {{{"1"}, "3"}}, {{{"1"}, "3"}}, 0,
     error_fields("40001", "stale write to public.accounts (id)=(1): row changed since it was read",
                  "Expected version 3. The row was changed or deleted by another session; it was not deleted.",
                  stale_hint)},
    {"one_of_two_stale", &accounts, false, "40001", {{{"1"}, "3"}, {{"2"}, "5"}}, {{{"2"}, "5"}}, 1,
     error_fields("40001", "stale write to public.accounts (id)=(2): rows changed since they were read",
                  "Expected version 5. 1 of 2 rows still had that version; nothing was written.", stale_hint)},
    {"two_of_three_stale", &accounts, false, "40001", {{{"1"}, "3"}, {{"2"}, "5"}, {{"3"}, "1"}},
     {{{"1"}, "3"}, {{"3"}, "1"}}, 1,
     error_fields("40001", "stale write to public.accounts (id) in (1, 3): rows changed since they were read",
                  "1 of 3 rows still had that version; nothing was written.", stale_hint)},
    {"composite_one_stale", &order_lines, true, "40001", {{{"1", "3"}, "2"}}, {{{"1", "3"}, "2"}}, 0,
     error_fields("40001",
                  "stale write to public.order_lines (order_id, line_no)=(1, 3): row changed since it was read",
                  "Expected version 2. The row was changed or deleted by another session; it was not deleted.",
                  stale_hint)},
    {"composite_two_stale", &order_lines, false, "40001", {{{"1", "3"}, "2"}, {{"2", "4"}, "9"}},
     {{{"1", "3"}, "2"}, {{"2", "4"}, "9"}}, 0,
     error_fields("40001",
                  "stale write to public.order_lines (order_id, line_no)=((1, 3), (2, 4)): rows changed since they "
                  "were read",
                  "0 of 2 rows still had that version; nothing was written.", stale_hint)},
    {"rules_sqlstate_and_quoted_table", &quoted, false, "P0001", {{{"7"}, "1"}}, {{{"7"}, "1"}}, 0,
     error_fields("P0001", "stale write to \"Billing\".\"Accounts\" (id)=(7): row changed since it was read",
                  "Expected version 1. The row was changed or deleted by another session; nothing was written.",
                  stale_hint)},
};

class TrackStaleError : public ::testing::TestWithParam<StaleErrorCase> {};

TEST_P(TrackStaleError, Describes) {
    const StaleErrorCase& test_case = GetParam();
    TrackCheck check;
    check.rule = test_case.rule;
    check.is_delete = test_case.is_delete;
    check.sqlstate = test_case.sqlstate;
    check.seen = test_case.seen;
    const wire::ErrorResponse error = track_stale_error(check, test_case.stale, test_case.still_current);
    EXPECT_EQ(error.fields, test_case.expected);
    // What the client decodes is what was built.
    const auto encoded = error.encode();
    EXPECT_EQ(encoded.front(), 'E');
}

INSTANTIATE_TEST_SUITE_P(Cases, TrackStaleError, ::testing::ValuesIn(stale_error_cases),
                         [](const ::testing::TestParamInfo<StaleErrorCase>& info) {
                             return std::string(info.param.name);
                         });

TEST(TrackStaleError, FromStaleRows) {
    TrackCheck check;
    check.rule = &accounts;
    check.seen = {{{"1"}, "3"}, {{"2"}, "5"}};
    const auto stale = stale_rows(check, {{{"1"}, "4"}});
    const wire::ErrorResponse error = track_stale_error(check, stale, check.seen.size() - stale.size());
    EXPECT_EQ(error.get(wire::field::Code), "40001");
    EXPECT_EQ(error.get(wire::field::Message), "stale write to public.accounts (id)=(2): rows changed since they were read");
    EXPECT_EQ(error.get(wire::field::Detail), "Expected version 5. 1 of 2 rows still had that version; nothing was written.");
}

struct UnreadErrorCase {
    const char* name;
    const rules::TableRule* rule;
    const char* sqlstate;
    std::vector<std::vector<std::string>> unread;
    const char* message;
};

std::ostream& operator<<(std::ostream& out, const UnreadErrorCase& test_case) { return out << test_case.name; }

const std::vector<UnreadErrorCase> unread_error_cases = {
    {"one_row", &accounts, "40001", {{"5"}}, "stale write to public.accounts (id)=(5): row not read by this session"},
    {"several_rows", &accounts, "40001", {{"5"}, {"6"}},
     "stale write to public.accounts (id) in (5, 6): rows not read by this session"},
    {"composite_one_row", &order_lines, "40001", {{"1", "3"}},
     "stale write to public.order_lines (order_id, line_no)=(1, 3): row not read by this session"},
    {"composite_rows", &order_lines, "40001", {{"1", "3"}, {"2", "4"}},
     "stale write to public.order_lines (order_id, line_no)=((1, 3), (2, 4)): rows not read by this session"},
    {"rules_sqlstate_and_quoted_table", &quoted, "P0001", {{"7"}},
     "stale write to \"Billing\".\"Accounts\" (id)=(7): row not read by this session"},
};

class UnreadWriteError : public ::testing::TestWithParam<UnreadErrorCase> {};

TEST_P(UnreadWriteError, Describes) {
    const UnreadErrorCase& test_case = GetParam();
    const wire::ErrorResponse error = unread_write_error(*test_case.rule, test_case.sqlstate, test_case.unread);
    const std::string table = test_case.rule->table.to_string();
    EXPECT_EQ(error.fields,
              error_fields(test_case.sqlstate, test_case.message,
                           "The rule for " + table +
                               " says unread: reject, so a write must follow a read of the same row in the same "
                               "session; nothing was written.",
                           "Read the row, then retry the change."));
}

INSTANTIATE_TEST_SUITE_P(Cases, UnreadWriteError, ::testing::ValuesIn(unread_error_cases),
                         [](const ::testing::TestParamInfo<UnreadErrorCase>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace staleguard::session
