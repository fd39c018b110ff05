// Tests for canonical_text_value: each spelling against what PostgreSQL 15 printed for it under
// DateStyle ISO ('2024-05-01 +00'::date::text and the like); nullopt where the text is kept as
// sent.
#include "proxy/codec/text_values.hpp"

#include <gtest/gtest.h>

#include "proxy/codec/type_oids.hpp"

namespace staleguard::wire {
namespace {

struct TextCase {
    const char* name;
    std::uint32_t type;
    const char* text;
    std::optional<std::string> printed;
};

class CanonicalTextValue : public ::testing::TestWithParam<TextCase> {};

constexpr ValueTextSettings kIsoDates{.iso_dates = true};

TEST_P(CanonicalTextValue, PrintsWhatTheServerPrints) {
    const auto& c = GetParam();
    EXPECT_EQ(canonical_text_value(c.text, c.type, kIsoDates), c.printed);
}

const TextCase kCases[] = {
    // What pgjdbc sends: setDate, setTimestamp, setObject(LocalDateTime).
    {"date_with_offset", type_oid::date, "2024-05-01 +00", "2024-05-01"},
    {"date_with_negative_offset", type_oid::date, "2024-05-01 -03", "2024-05-01"},
    {"date_with_offset_minutes", type_oid::date, "2024-05-01+02:00", "2024-05-01"},
    {"timestamp_with_offset", type_oid::timestamp, "2024-05-01 13:45:00.25+00", "2024-05-01 13:45:00.25"},
    {"timestamp_with_offset_hhmm", type_oid::timestamp, "2024-05-01 13:45:00-0330", "2024-05-01 13:45:00"},
    {"timestamp_with_z", type_oid::timestamp, "2024-05-01 13:45:00 Z", "2024-05-01 13:45:00"},
    // Other spellings the input functions read the same way.
    {"date_plain", type_oid::date, "2024-05-01", "2024-05-01"},
    {"date_with_time", type_oid::date, "2024-05-01 13:45:00", "2024-05-01"},
    {"date_with_t_time", type_oid::date, "2024-05-01T13:45", "2024-05-01"},
    {"date_leap_day", type_oid::date, "2024-02-29", "2024-02-29"},
    {"date_bc", type_oid::date, "0044-03-15 +00 BC", "0044-03-15 BC"},
    {"date_year_with_leading_zero", type_oid::date, "02024-05-01", "2024-05-01"},
    {"date_five_digit_year", type_oid::date, "10000-01-01", "10000-01-01"},
    {"timestamp_t_without_seconds", type_oid::timestamp, "2024-05-01T13:45+05:30", "2024-05-01 13:45:00"},
    {"timestamp_trailing_zeros_dropped", type_oid::timestamp, "2024-05-01 13:45:00.250000", "2024-05-01 13:45:00.25"},
    {"timestamp_nanoseconds_of_zeros", type_oid::timestamp, "2024-05-01 13:45:00.250000000+00", "2024-05-01 13:45:00.25"},
    {"timestamp_zero_fraction", type_oid::timestamp, "2024-05-01 13:45:00.0", "2024-05-01 13:45:00"},
    {"timestamp_microsecond", type_oid::timestamp, "1999-12-31 23:59:59.999999", "1999-12-31 23:59:59.999999"},
    {"timestamp_bc", type_oid::timestamp, "0044-03-15 12:00:00 BC", "0044-03-15 12:00:00 BC"},
    // Kept as sent: readings that need PostgreSQL's own rules, or not ours to read.
    {"timestamp_rounded_fraction", type_oid::timestamp, "2024-05-01 13:45:00.1234565", std::nullopt},
    {"timestamp_hour_24_rolls_over", type_oid::timestamp, "2024-05-01 24:00:00", std::nullopt},
    {"timestamp_without_time", type_oid::timestamp, "2024-05-01", std::nullopt},
    {"date_not_in_month", type_oid::date, "2023-02-29", std::nullopt},
    {"date_month_13", type_oid::date, "2024-13-01", std::nullopt},
    {"date_two_digit_year", type_oid::date, "24-05-01", std::nullopt},
    {"date_in_words", type_oid::date, "May 1, 2024", std::nullopt},
    {"date_named_zone", type_oid::date, "2024-05-01 Europe/Paris", std::nullopt},
    {"date_special_value", type_oid::date, "today", std::nullopt},
    {"date_infinity", type_oid::date, "infinity", std::nullopt},
    {"date_trailing_text", type_oid::date, "2024-05-01x", std::nullopt},
    {"date_minus_zone_attached_is_rejected_by_the_server", type_oid::date, "2024-05-01-05", std::nullopt},
    {"date_plus_zone_attached", type_oid::date, "2024-05-01+05", "2024-05-01"},
    {"timestamp_offset_out_of_range", type_oid::timestamp, "2024-05-01 13:45:00+16", std::nullopt},
    {"timestamptz_keeps_its_offset", type_oid::timestamptz, "2024-05-01 13:45:00+02", std::nullopt},
    {"text_type", type_oid::text, "2024-05-01 +00", std::nullopt},
    {"unspecified_type", 0, "2024-05-01 +00", std::nullopt},
};

INSTANTIATE_TEST_SUITE_P(Spellings, CanonicalTextValue, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CanonicalTextValueOtherDateStyles, KeepTheTextAsSent) {
    EXPECT_EQ(canonical_text_value("2024-05-01 +00", type_oid::date, {}), std::nullopt);
}

}  // namespace
}  // namespace staleguard::wire
