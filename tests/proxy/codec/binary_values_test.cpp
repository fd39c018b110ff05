// Tests for binary_value_text: each binary value as PostgreSQL 15 sent it (encode(numeric_send(x),
// 'hex') and the like) against what x::text prints (dates and timestamps under DateStyle ISO), and hand-made numerics against what
// PostgreSQL printed for them bound in binary (SELECT $1::numeric::text).
#include "proxy/codec/binary_values.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "proxy/codec/type_oids.hpp"

namespace staleguard::wire {
namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
    std::vector<std::uint8_t> out;
    const auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<std::uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    return out;
}

struct BinaryCase {
    const char* name;
    std::uint32_t type;
    const char* hex;
    std::optional<std::string> text;
};

class BinaryValueText : public ::testing::TestWithParam<BinaryCase> {};

constexpr ValueTextSettings kIsoDates{.iso_dates = true};

TEST_P(BinaryValueText, PrintsWhatTheTextCastPrints) {
    const auto& c = GetParam();
    const auto bytes = from_hex(c.hex);
    EXPECT_EQ(binary_value_text(Bytes(bytes), c.type, kIsoDates), c.text);
}

// Under DateStyle SQL, German or Postgres (or before the server said), dates and timestamps print
// otherwise; a time prints the same under every style.
TEST(BinaryValueTextOtherDateStyles, LeaveDatesAndTimestampsUnknownButReadTimes) {
    const auto date = from_hex("000022b7");
    const auto timestamp = from_hex("0002ba637623af00");
    const auto time = from_hex("0000000b8671df90");
    EXPECT_EQ(binary_value_text(Bytes(date), type_oid::date, {}), std::nullopt);
    EXPECT_EQ(binary_value_text(Bytes(timestamp), type_oid::timestamp, {}), std::nullopt);
    EXPECT_EQ(binary_value_text(Bytes(time), type_oid::time, {}), "13:45:00.25");
}

const BinaryCase kCases[] = {
    {"bool_true", type_oid::boolean, "01", "true"},
    {"bool_false", type_oid::boolean, "00", "false"},
    {"int2_negative", type_oid::int2, "fffe", "-2"},
    {"int4", type_oid::int4, "00000002", "2"},
    {"int4_min", type_oid::int4, "80000000", "-2147483648"},
    {"int8_negative", type_oid::int8, "fffffffde78ee600", "-9000000000"},
    {"oid_above_int4", type_oid::oid, "ee6b2800", "4000000000"},
    {"text_bytes_as_sent", type_oid::text, "4f27427269656e", "O'Brien"},
    {"varchar", type_oid::varchar, "6162", "ab"},
    {"name", type_oid::name, "6e", "n"},
    {"bpchar_padding_dropped", type_oid::bpchar, "61622020", "ab"},
    {"bpchar_leading_blanks_kept", type_oid::bpchar, "206162", " ab"},
    {"uuid_lower_case", type_oid::uuid, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
    {"numeric_zero", type_oid::numeric, "0000000000000000", "0"},
    {"numeric_zero_scale_3", type_oid::numeric, "0000000000000003", "0.000"},
    {"numeric_one", type_oid::numeric, "00010000000000000001", "1"},
    {"numeric_minus_one", type_oid::numeric, "00010000400000000001", "-1"},
    {"numeric_two_words", type_oid::numeric, "000200010000000000010929", "12345"},
    {"numeric_trailing_zero_words", type_oid::numeric, "00010002000000000001", "100000000"},
    {"numeric_1e20", type_oid::numeric, "00010005000000000001", "100000000000000000000"},
    {"numeric_scale_kept", type_oid::numeric, "000200000000000200011388", "1.50"},
    {"numeric_scale_without_fraction_words", type_oid::numeric, "00010000000000020005", "5.00"},
    {"numeric_small_fraction", type_oid::numeric, "0001ffff000000040001", "0.0001"},
    {"numeric_fraction_cut_to_scale", type_oid::numeric, "0002ffff00000005000107d0", "0.00012"},
    {"numeric_long_negative", type_oid::numeric, "0006000240000009000109291a8504d2162e2328", "-123456789.123456789"},
    {"numeric_big_with_fraction", type_oid::numeric, "0006000400000001270f270f270f270f270f1388", "99999999999999999999.5"},
    // As numeric_recv takes them: zero words stripped at either end, digits past dscale cut.
    {"numeric_zero_with_a_weight", type_oid::numeric, "0000040000000000", "0"},
    {"numeric_leading_zero_word", type_oid::numeric, "00020001000000000000000a", "10"},
    {"numeric_digits_past_scale_cut", type_oid::numeric, "0003000000000002000000050000", "0.00"},
    {"numeric_word_cut_by_scale", type_oid::numeric, "000200000000000100011388", "1.5"},
    {"numeric_fraction_below_scale", type_oid::numeric, "0002ffff0000000200010002", "0.00"},
    {"numeric_fraction_far_below_scale", type_oid::numeric, "0002fffe000000040000000c", "0.0000"},
    {"numeric_fraction_without_scale", type_oid::numeric, "0001fffe000000000001", "0"},
    {"numeric_negative_zero_is_zero", type_oid::numeric, "0000000040000003", "0.000"},
    {"numeric_one_full_word", type_oid::numeric, "0001000000000000270f", "9999"},
    {"numeric_nan", type_oid::numeric, "00000000c0000000", "NaN"},
    {"numeric_infinity", type_oid::numeric, "00000000d0000020", "Infinity"},
    {"numeric_minus_infinity", type_oid::numeric, "00000000f0000020", "-Infinity"},
    // Dates and timestamps under DateStyle ISO (date_send, timestamp_send), times.
    {"date_epoch", type_oid::date, "00000000", "2000-01-01"},
    {"date", type_oid::date, "000022b7", "2024-05-01"},
    {"date_day_before_epoch", type_oid::date, "ffffffff", "1999-12-31"},
    {"date_leap_day", type_oid::date, "0000003b", "2000-02-29"},
    {"date_not_a_leap_century", type_oid::date, "ffff718e", "1900-02-28"},
    {"date_year_one", type_oid::date, "fff4dbf9", "0001-01-01"},
    {"date_day_before_year_one", type_oid::date, "fff4dbf8", "0001-12-31 BC"},
    {"date_bc", type_oid::date, "fff49d7b", "0044-03-15 BC"},
    {"date_far_bc", type_oid::date, "ffda9915", "4713-11-24 BC"},
    {"date_first", type_oid::date, "ffda97a7", "4714-11-24 BC"},
    {"date_last", type_oid::date, "7fda970c", "5874897-12-31"},
    {"date_five_digit_year", type_oid::date, "002c95d4", "10000-01-01"},
    {"date_infinity", type_oid::date, "7fffffff", "infinity"},
    {"date_minus_infinity", type_oid::date, "80000000", "-infinity"},
    {"timestamp_epoch", type_oid::timestamp, "0000000000000000", "2000-01-01 00:00:00"},
    {"timestamp", type_oid::timestamp, "0002ba637623af00", "2024-05-01 13:45:00"},
    {"timestamp_half_second", type_oid::timestamp, "0002ba63762b5020", "2024-05-01 13:45:00.5"},
    {"timestamp_one_microsecond", type_oid::timestamp, "0002ba637623af01", "2024-05-01 13:45:00.000001"},
    {"timestamp_microsecond_before_epoch", type_oid::timestamp, "ffffffffffffffff", "1999-12-31 23:59:59.999999"},
    {"timestamp_bc", type_oid::timestamp, "ff1af9e8fb46d000", "0044-03-15 12:00:00 BC"},
    {"timestamp_far_bc", type_oid::timestamp, "fd0f9983eb0ae000", "4713-11-24 00:00:00 BC"},
    {"timestamp_first", type_oid::timestamp, "fd0f7cc1411fa000", "4714-11-24 00:00:00 BC"},
    {"timestamp_last", type_oid::timestamp, "7fffff5bb3b29fff", "294276-12-31 23:59:59.999999"},
    {"timestamp_infinity", type_oid::timestamp, "7fffffffffffffff", "infinity"},
    {"timestamp_minus_infinity", type_oid::timestamp, "8000000000000000", "-infinity"},
    {"time_midnight", type_oid::time, "0000000000000000", "00:00:00"},
    {"time_quarter_second", type_oid::time, "0000000b8671df90", "13:45:00.25"},
    {"time_last_microsecond", type_oid::time, "000000141dd75fff", "23:59:59.999999"},
    {"time_end_of_day", type_oid::time, "000000141dd76000", "24:00:00"},
    {"time_tenth", type_oid::time, "00000006c6ae1060", "08:05:03.1"},
    // Not a key we can be sure of: the session's settings, or a value that is not the type's.
    {"date_before_the_first", type_oid::date, "ffda97a6", std::nullopt},
    {"date_after_the_last", type_oid::date, "7fda970d", std::nullopt},
    {"date_wrong_length", type_oid::date, "0000000000000000", std::nullopt},
    {"timestamp_before_the_first", type_oid::timestamp, "fd0f7cc1411f9fff", std::nullopt},
    {"timestamp_after_the_last", type_oid::timestamp, "7fffff5bb3b2a000", std::nullopt},
    {"time_past_the_end_of_day", type_oid::time, "000000141dd76001", std::nullopt},
    {"time_negative", type_oid::time, "ffffffffffffffff", std::nullopt},
    {"int4_wrong_length", type_oid::int4, "000002", std::nullopt},
    {"uuid_short", type_oid::uuid, "a0eebc99", std::nullopt},
    {"numeric_digit_count_lies", type_oid::numeric, "000200000000000000010001ff", std::nullopt},
    {"numeric_digit_out_of_range", type_oid::numeric, "00010000000000002710", std::nullopt},
    {"numeric_unknown_sign", type_oid::numeric, "00010000123400000001", std::nullopt},
    {"numeric_header_only_part", type_oid::numeric, "000100", std::nullopt},
    {"numeric_scale_out_of_range", type_oid::numeric, "00000000000040000000", std::nullopt},
    {"timestamptz_depends_on_settings", type_oid::timestamptz, "0002b5a4a2f0b000", std::nullopt},
    {"unspecified_type", 0, "00000001", std::nullopt},
};

INSTANTIATE_TEST_SUITE_P(Types, BinaryValueText, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staleguard::wire
