// Tests for track mode's hidden columns: stripping RowDescription and DataRow, collecting values, widening Bind.
#include "proxy/hidden_columns.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "proxy/codec/backend_messages.hpp"
#include "proxy/codec/frontend_messages.hpp"
#include "tests/proxy/codec/message_builder.hpp"

namespace staleguard::session {
namespace {

using wire::test_support::Buffer;
using wire::test_support::frame_of;
using wire::test_support::MessageBuilder;

constexpr std::uint32_t kInt4 = 23;
constexpr std::uint32_t kText = 25;
constexpr std::uint32_t kBytea = 17;

using Value = std::optional<std::string>;  // nullopt = SQL NULL

// A copy with no spare capacity, so ASan catches a read past the frame.
Buffer exact(const std::vector<std::uint8_t>& bytes) { return Buffer(bytes.begin(), bytes.end()); }

wire::Bytes bytes_of(const std::string& text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

Buffer encode_row(const std::vector<Value>& values) {
    wire::DataRow row;
    for (const auto& value : values) {
        if (value) {
            row.columns.emplace_back(bytes_of(*value));
        } else {
            row.columns.emplace_back(std::nullopt);
        }
    }
    return exact(row.encode());
}

wire::FieldDescription field(std::string_view name, std::uint32_t type, std::int16_t format = 0) {
    return {name, 16384, 1, type, -1, -1, format};
}

// One hidden (text) field per hidden column of the layout, named as the rewriter would.
std::vector<wire::FieldDescription> hidden_fields(std::size_t count) {
    return std::vector<wire::FieldDescription>(count, field("__sg_hidden", kText));
}

struct ExpectedTracked {
    std::size_t group;
    std::vector<std::string> keys;
    std::string version;
};

struct StripCase {
    std::string name;
    HiddenLayout layout;
    std::vector<wire::FieldDescription> visible_fields;
    std::vector<Value> visible_values;
    std::vector<Value> hidden_values;
    std::vector<ExpectedTracked> tracked;
};

void PrintTo(const StripCase& test, std::ostream* out) { *out << test.name; }

std::string binary(std::initializer_list<int> bytes) {
    std::string text;
    for (const int byte : bytes) text.push_back(static_cast<char>(byte));
    return text;
}

HiddenLayout layout(std::vector<HiddenColumnGroup> groups) { return HiddenLayout{std::move(groups)}; }

std::vector<StripCase> strip_cases() {
    const auto id = field("id", kInt4);
    const auto name = field("name", kText);
    const auto blob = field("blob", kBytea, 1);
    const auto one_table = layout({{"public.accounts", 1}});
    return {
        {"OneTableTextColumns", one_table, {id, name}, {"1", "alice"}, {"1", "7"}, {{0, {"1"}, "7"}}},
        {"BinaryVisibleColumns", one_table, {id, blob},
         {binary({0, 0, 0, 1}), binary({0, 0xff, 0, 0x80})}, {"1", "42"}, {{0, {"1"}, "42"}}},
        {"NullVisibleColumns", one_table, {id, name, name}, {"1", std::nullopt, ""}, {"1", "3"},
         {{0, {"1"}, "3"}}},
        {"EmptyHiddenValues", one_table, {id}, {"1"}, {"", ""}, {{0, {""}, ""}}},
        {"NullKeyYieldsNoEntry", one_table, {id}, {"1"}, {std::nullopt, "3"}, {}},
        {"NullVersionYieldsNoEntry", one_table, {id}, {"1"}, {"1", std::nullopt}, {}},
        {"ZeroVisibleColumns", one_table, {}, {}, {"9", "100"}, {{0, {"9"}, "100"}}},
        {"CompositeKey", layout({{"public.order_lines", 2}}), {name}, {"widget"}, {"17", "3", "xmin:123"},
         {{0, {"17", "3"}, "xmin:123"}}},
        {"CompositeKeyWithOneNullPart", layout({{"public.order_lines", 2}}), {name}, {"widget"},
         {"17", std::nullopt, "5"}, {}},
        {"JoinOfTwoTables", layout({{"public.orders", 1}, {"public.customers", 1}}), {id, name, name},
         {"5", "alice", "paid"}, {"5", "2024-01-01 10:00:00+00", "77", "12"},
         {{0, {"5"}, "2024-01-01 10:00:00+00"}, {1, {"77"}, "12"}}},
        {"OuterJoinMissingFirstSide", layout({{"public.orders", 1}, {"public.customers", 1}}), {id},
         {"5"}, {std::nullopt, std::nullopt, "77", "12"}, {{1, {"77"}, "12"}}},
        {"OuterJoinMissingSecondSide", layout({{"public.orders", 1}, {"public.customers", 1}}), {id},
         {"5"}, {"5", "1", std::nullopt, std::nullopt}, {{0, {"5"}, "1"}}},
        {"ThreeGroupsMixedKeys", layout({{"a", 1}, {"b", 2}, {"c", 0}}), {id}, {"1"},
         {"k", "7", "b1", "b2", "8", "c-version"},
         {{0, {"k"}, "7"}, {1, {"b1", "b2"}, "8"}, {2, {}, "c-version"}}},
        {"NulBytesInHiddenValues", one_table, {blob}, {binary({0})}, {binary({'a', 0, 'b'}), "1"},
         {{0, {binary({'a', 0, 'b'})}, "1"}}},
        {"NoGroups", layout({}), {id, name}, {"1", "bob"}, {}, {}},
        {"LargeVisibleValue", one_table, {name}, {std::string(100000, 'x')}, {"1", "2"}, {{0, {"1"}, "2"}}},
    };
}

class HiddenColumnsStripTest : public ::testing::TestWithParam<StripCase> {};

TEST_P(HiddenColumnsStripTest, RowDescriptionKeepsTheVisibleFields) {
    const auto& test = GetParam();
    wire::RowDescription description{test.visible_fields};
    const auto hidden = hidden_fields(test.layout.hidden_count());
    description.fields.insert(description.fields.end(), hidden.begin(), hidden.end());
    const Buffer full = exact(description.encode());

    const auto stripped = strip_row_description(frame_of(full), test.layout);
    ASSERT_TRUE(stripped.ok()) << stripped.error().message;
    const Buffer stripped_bytes = exact(*stripped);
    const auto decoded = wire::RowDescription::decode(frame_of(stripped_bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    ASSERT_EQ(decoded->fields.size(), test.visible_fields.size());
    for (std::size_t i = 0; i < test.visible_fields.size(); ++i) {
        const auto& got = decoded->fields[i];
        const auto& want = test.visible_fields[i];
        EXPECT_EQ(got.name, want.name);
        EXPECT_EQ(got.table_oid, want.table_oid);
        EXPECT_EQ(got.column_number, want.column_number);
        EXPECT_EQ(got.type_oid, want.type_oid);
        EXPECT_EQ(got.type_size, want.type_size);
        EXPECT_EQ(got.type_modifier, want.type_modifier);
        EXPECT_EQ(got.format, want.format);
    }
    EXPECT_EQ(stripped_bytes, exact(wire::RowDescription{test.visible_fields}.encode()));
}

TEST_P(HiddenColumnsStripTest, DataRowKeepsTheVisibleValuesAndCollectsTheHiddenOnes) {
    const auto& test = GetParam();
    ASSERT_EQ(test.hidden_values.size(), test.layout.hidden_count()) << "bad case";
    std::vector<Value> all = test.visible_values;
    all.insert(all.end(), test.hidden_values.begin(), test.hidden_values.end());
    const Buffer full = encode_row(all);

    std::vector<TrackedRow> tracked;
    const auto stripped = strip_data_row(frame_of(full), test.layout, tracked);
    ASSERT_TRUE(stripped.ok()) << stripped.error().message;

    // The stripped frame is exactly what encoding the visible values alone gives.
    const Buffer stripped_bytes = exact(*stripped);
    EXPECT_EQ(stripped_bytes, encode_row(test.visible_values));
    const auto decoded = wire::DataRow::decode(frame_of(stripped_bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    ASSERT_EQ(decoded->columns.size(), test.visible_values.size());
    for (std::size_t i = 0; i < test.visible_values.size(); ++i) {
        const auto& got = decoded->columns[i];
        ASSERT_EQ(got.has_value(), test.visible_values[i].has_value()) << "column " << i;
        if (got) {
            EXPECT_EQ(std::string(got->begin(), got->end()), *test.visible_values[i]) << "column " << i;
        }
    }

    ASSERT_EQ(tracked.size(), test.tracked.size());
    for (std::size_t i = 0; i < tracked.size(); ++i) {
        EXPECT_EQ(tracked[i].group, test.tracked[i].group);
        ASSERT_EQ(tracked[i].keys.size(), test.tracked[i].keys.size());
        for (std::size_t k = 0; k < tracked[i].keys.size(); ++k) {
            EXPECT_EQ(tracked[i].keys[k], test.tracked[i].keys[k]);
            // Views into the frame itself, not copies.
            EXPECT_GE(reinterpret_cast<const std::uint8_t*>(tracked[i].keys[k].data()), full.data());
            EXPECT_LE(reinterpret_cast<const std::uint8_t*>(tracked[i].keys[k].data()), full.data() + full.size());
        }
        EXPECT_EQ(tracked[i].version, test.tracked[i].version);
    }
}

TEST_P(HiddenColumnsStripTest, SplitIsTheStrippedFrameWithoutCopying) {
    const auto& test = GetParam();
    std::vector<Value> all = test.visible_values;
    all.insert(all.end(), test.hidden_values.begin(), test.hidden_values.end());
    const Buffer full = encode_row(all);
    const auto frame = frame_of(full);

    std::vector<TrackedRow> tracked;
    const auto split = split_data_row(frame, test.layout, tracked);
    ASSERT_TRUE(split.ok()) << split.error().message;
    Buffer joined(split->header.begin(), split->header.end());
    joined.insert(joined.end(), split->visible_columns.begin(), split->visible_columns.end());
    EXPECT_EQ(joined.size(), split->frame_size());
    EXPECT_EQ(joined, encode_row(test.visible_values));
    EXPECT_EQ(split->visible_columns.data(), frame.payload.data() + 2);
}

INSTANTIATE_TEST_SUITE_P(Cases, HiddenColumnsStripTest, ::testing::ValuesIn(strip_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(HiddenColumnsTrackedOut, IsOverwrittenAndReusedAcrossRows) {
    const auto join = layout({{"public.orders", 1}, {"public.customers", 1}});
    std::vector<TrackedRow> tracked(5);  // stale entries from an earlier result
    const Buffer both = encode_row({"x", "1", "10", "2", "20"});
    ASSERT_TRUE(strip_data_row(frame_of(both), join, tracked).ok());
    ASSERT_EQ(tracked.size(), 2u);
    EXPECT_EQ(tracked[1].keys, std::vector<std::string_view>{"2"});
    const auto* reused_keys = tracked[0].keys.data();

    const Buffer second_missing = encode_row({"y", "3", "30", std::nullopt, std::nullopt});
    ASSERT_TRUE(strip_data_row(frame_of(second_missing), join, tracked).ok());
    ASSERT_EQ(tracked.size(), 1u);
    EXPECT_EQ(tracked[0].group, 0u);
    EXPECT_EQ(tracked[0].keys, std::vector<std::string_view>{"3"});
    EXPECT_EQ(tracked[0].version, "30");
    EXPECT_EQ(tracked[0].keys.data(), reused_keys);

    const Buffer first_missing = encode_row({"z", std::nullopt, std::nullopt, "4", "40"});
    ASSERT_TRUE(strip_data_row(frame_of(first_missing), join, tracked).ok());
    ASSERT_EQ(tracked.size(), 1u);
    EXPECT_EQ(tracked[0].group, 1u);
    EXPECT_EQ(tracked[0].keys, std::vector<std::string_view>{"4"});
    EXPECT_EQ(tracked[0].version, "40");
}

struct MalformedCase {
    std::string name;
    Buffer frame;
    HiddenLayout layout;
    std::string error_part;
};

void PrintTo(const MalformedCase& test, std::ostream* out) { *out << test.name; }

std::vector<MalformedCase> malformed_data_rows() {
    using B = MessageBuilder;
    const auto one_table = layout({{"t", 1}});
    return {
        {"FewerColumnsThanHidden", B::tagged('D').i16(1).i32(1).raw("1").build(), one_table, "fewer than the 2"},
        {"NoColumnsButHidden", B::tagged('D').i16(0).build(), one_table, "fewer than the 2"},
        {"EmptyPayload", B::tagged('D').build(), one_table, "column count"},
        {"OneByteCount", B::tagged('D').u8(0).build(), one_table, "column count"},
        {"VisibleValuePastEnd", B::tagged('D').i16(3).i32(10).raw("abc").build(), one_table, "column 1"},
        {"VisibleLengthCut", B::tagged('D').i16(3).i32(1).raw("a").i16(0).build(), one_table, "column 2"},
        {"NegativeVisibleLength", B::tagged('D').i16(3).i32(-2).i32(1).raw("1").i32(1).raw("2").build(), one_table,
         "column 1"},
        {"HiddenValuePastEnd", B::tagged('D').i16(3).i32(1).raw("a").i32(1).raw("1").i32(5).raw("2").build(),
         one_table, "column 3"},
        {"NegativeHiddenLength", B::tagged('D').i16(3).i32(1).raw("a").i32(-5).i32(1).raw("2").build(), one_table,
         "column 2"},
        {"MissingHiddenColumns", B::tagged('D').i16(3).i32(1).raw("a").build(), one_table, "column 2"},
        {"TrailingBytes", B::tagged('D').i16(2).i32(1).raw("1").i32(1).raw("2").raw("zz").build(), one_table,
         "2 trailing bytes"},
        {"NotADataRow", B::tagged('T').i16(2).i32(1).raw("1").i32(1).raw("2").build(), one_table, "type"},
        {"CountBelowVisibleValues", B::tagged('D').i16(2).i32(1).raw("a").i32(1).raw("1").i32(1).raw("2").build(),
         one_table, "trailing bytes"},
    };
}

class HiddenColumnsMalformedDataRowTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(HiddenColumnsMalformedDataRowTest, IsAnErrorAndTracksNothing) {
    const auto& test = GetParam();
    std::vector<TrackedRow> tracked(2);
    const auto stripped = strip_data_row(frame_of(test.frame), test.layout, tracked);
    ASSERT_FALSE(stripped.ok());
    EXPECT_NE(stripped.error().message.find(test.error_part), std::string::npos) << stripped.error().message;
    EXPECT_TRUE(tracked.empty());
}

INSTANTIATE_TEST_SUITE_P(Cases, HiddenColumnsMalformedDataRowTest, ::testing::ValuesIn(malformed_data_rows()),
                         [](const auto& info) { return info.param.name; });

std::vector<MalformedCase> malformed_row_descriptions() {
    using B = MessageBuilder;
    const auto one_table = layout({{"t", 1}});
    const auto one_field = [](B builder) {
        return builder.cstr("id").u32(1).i16(1).u32(kText).i16(-1).i32(-1).i16(0);
    };
    return {
        {"FewerFieldsThanHidden", one_field(B::tagged('T').i16(1)).build(), one_table, "fewer than the 2"},
        {"NoFieldsButHidden", B::tagged('T').i16(0).build(), one_table, "fewer than the 2"},
        {"TruncatedField", B::tagged('T').i16(2).cstr("id").u32(1).build(), one_table, "RowDescription"},
        {"NotARowDescription", one_field(B::tagged('D').i16(1)).build(), one_table, "expected message type"},
    };
}

class HiddenColumnsMalformedRowDescriptionTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(HiddenColumnsMalformedRowDescriptionTest, IsAnError) {
    const auto& test = GetParam();
    const auto stripped = strip_row_description(frame_of(test.frame), test.layout);
    ASSERT_FALSE(stripped.ok());
    EXPECT_NE(stripped.error().message.find(test.error_part), std::string::npos) << stripped.error().message;
}

INSTANTIATE_TEST_SUITE_P(Cases, HiddenColumnsMalformedRowDescriptionTest,
                         ::testing::ValuesIn(malformed_row_descriptions()),
                         [](const auto& info) { return info.param.name; });

struct BindCase {
    std::string name;
    std::vector<std::int16_t> result_formats;
    std::size_t hidden_count;
    std::vector<std::int16_t> expected_formats;
};

void PrintTo(const BindCase& test, std::ostream* out) { *out << test.name; }

std::vector<BindCase> bind_cases() {
    return {
        {"NoCodesMeansAllText", {}, 2, {}},
        {"OneTextCodeAppliesToAll", {0}, 2, {0}},
        {"OneBinaryCodeAppliesToAll", {1}, 3, {1}},
        {"CodePerColumnGetsTextForHidden", {1, 0, 1}, 2, {1, 0, 1, 0, 0}},
        {"TwoCodes", {1, 1}, 1, {1, 1, 0}},
        {"NothingHidden", {1, 0, 1}, 0, {1, 0, 1}},
        {"ManyHidden", {1, 1}, 9, {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    };
}

class HiddenColumnsBindTest : public ::testing::TestWithParam<BindCase> {};

TEST_P(HiddenColumnsBindTest, ResultFormatsCoverTheHiddenColumns) {
    const auto& test = GetParam();
    const std::string text_parameter = "42";
    const std::string binary_parameter = binary({0, 0, 0, 7, 0});
    wire::Bind bind;
    bind.portal = "portal_1";
    bind.statement = "stmt_1";
    bind.parameter_formats = {0, 1};
    bind.parameters = {bytes_of(text_parameter), std::nullopt, bytes_of(binary_parameter)};
    bind.result_formats = test.result_formats;
    const Buffer original = exact(bind.encode());

    const auto extended = extend_bind_result_formats(frame_of(original), test.hidden_count);
    ASSERT_TRUE(extended.ok()) << extended.error().message;
    const Buffer extended_bytes = exact(*extended);
    auto expected = bind;
    expected.result_formats = test.expected_formats;
    EXPECT_EQ(extended_bytes, exact(expected.encode()));

    const auto decoded = wire::Bind::decode(frame_of(extended_bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->portal, "portal_1");
    EXPECT_EQ(decoded->statement, "stmt_1");
    EXPECT_EQ(decoded->parameter_formats, bind.parameter_formats);
    ASSERT_EQ(decoded->parameters.size(), 3u);
    EXPECT_FALSE(decoded->parameters[1].has_value());
    EXPECT_EQ(decoded->result_formats, test.expected_formats);
}

INSTANTIATE_TEST_SUITE_P(Cases, HiddenColumnsBindTest, ::testing::ValuesIn(bind_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(HiddenColumnsBindErrors, MalformedBindIsAnError) {
    const Buffer truncated = MessageBuilder::tagged('B').cstr("").cstr("").i16(0).i16(0).i16(2).i16(0).build();
    const auto extended = extend_bind_result_formats(frame_of(truncated), 1);
    ASSERT_FALSE(extended.ok());
    EXPECT_NE(extended.error().message.find("Bind"), std::string::npos);
}

TEST(HiddenColumnsBindErrors, NotABindIsAnError) {
    const Buffer query = exact(wire::Query{"SELECT 1"}.encode());
    EXPECT_FALSE(extend_bind_result_formats(frame_of(query), 1).ok());
}

TEST(HiddenColumnsBindErrors, MoreThan65535CodesIsAnError) {
    wire::Bind bind;
    bind.result_formats.assign(65534, 0);
    const Buffer original = exact(bind.encode());
    EXPECT_TRUE(extend_bind_result_formats(frame_of(original), 1).ok());
    const auto too_many = extend_bind_result_formats(frame_of(original), 2);
    ASSERT_FALSE(too_many.ok());
    EXPECT_NE(too_many.error().message.find("65535"), std::string::npos);
}

TEST(HiddenColumnsLayout, CountsKeysAndOneVersionPerGroup) {
    EXPECT_EQ(layout({}).hidden_count(), 0u);
    EXPECT_EQ(layout({{"a", 1}}).hidden_count(), 2u);
    EXPECT_EQ(layout({{"a", 2}, {"b", 1}, {"c", 0}}).hidden_count(), 6u);
}

}  // namespace
}  // namespace staleguard::session
