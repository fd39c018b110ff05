// Tests for binary_value_text: each binary value as PostgreSQL 15 sent it (encode(numeric_send(x),
// 'hex') and the like) against what x::text prints, and hand-made numerics against what
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

TEST_P(BinaryValueText, PrintsWhatTheTextCastPrints) {
    const auto& c = GetParam();
    const auto bytes = from_hex(c.hex);
    EXPECT_EQ(binary_value_text(Bytes(bytes), c.type), c.text);
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
    // Not a key we can be sure of: the session's settings, or a value that is not the type's.
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
