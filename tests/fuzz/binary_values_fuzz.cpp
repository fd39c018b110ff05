// libFuzzer target: binary key values of every decoded type, as a client may bind them.
// Integers must print as what parses back to the same bytes; numerics as numeric_out would
// (a sign, an integer part without leading zeros, exactly dscale fractional digits); dates,
// timestamps and times (DateStyle ISO) as what parses back to the same count of days or
// microseconds.
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/codec/binary_values.hpp"
#include "proxy/codec/type_oids.hpp"
#include "tests/fuzz/fuzz_require.hpp"

namespace staleguard::wire {
namespace {

constexpr std::uint32_t kTypes[] = {type_oid::boolean, type_oid::int2,    type_oid::int4, type_oid::int8,
                                    type_oid::oid,     type_oid::text,    type_oid::varchar, type_oid::name,
                                    type_oid::bpchar,  type_oid::numeric, type_oid::uuid, type_oid::timestamptz,
                                    type_oid::date,    type_oid::timestamp, type_oid::time};

template <class Integer>
void integer_round_trips(const std::string& text, Bytes value) {
    Integer parsed{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    FUZZ_REQUIRE(error == std::errc() && end == text.data() + text.size());
    auto bits = static_cast<std::uint64_t>(parsed);
    for (std::size_t i = value.size(); i-- > 0;) {
        FUZZ_REQUIRE(value[i] == static_cast<std::uint8_t>(bits & 0xff));
        bits >>= 8;
    }
}

void numeric_is_well_formed(const std::string& text, Bytes value) {
    if (text == "NaN" || text == "Infinity" || text == "-Infinity") return;
    const auto dscale = static_cast<std::int16_t>((value[6] << 8) | value[7]);
    std::size_t i = text[0] == '-' ? 1 : 0;
    const std::size_t integer_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    FUZZ_REQUIRE(i > integer_start);
    FUZZ_REQUIRE(text[integer_start] != '0' || i == integer_start + 1);
    if (dscale == 0) {
        FUZZ_REQUIRE(i == text.size());
        return;
    }
    FUZZ_REQUIRE(i < text.size() && text[i] == '.');
    const std::size_t fraction = text.size() - i - 1;
    FUZZ_REQUIRE(fraction == static_cast<std::size_t>(dscale));
    for (++i; i < text.size(); ++i) FUZZ_REQUIRE(text[i] >= '0' && text[i] <= '9');
}

// Reads `count` digits (at least; more only when `at_least`) at `at` into `out`.
bool read_number(const std::string& text, std::size_t& at, std::size_t count, bool at_least, std::int64_t& out) {
    out = 0;
    std::size_t read = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && (at_least || read < count)) {
        out = out * 10 + (text[at++] - '0');
        ++read;
    }
    return read >= count;
}

// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t year, std::int64_t month, std::int64_t day) {
    year -= month <= 2;
    const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
    const std::int64_t year_of_era = year - era * 400;
    const std::int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

bool is_leap(std::int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

// "YYYY-MM-DD" at `at`, as days since 2000-01-01; BC is applied by the caller's suffix check.
std::int64_t parsed_days(const std::string& text, std::size_t& at, bool before_christ) {
    std::int64_t year = 0, month = 0, day = 0;
    FUZZ_REQUIRE(read_number(text, at, 4, true, year));
    FUZZ_REQUIRE(at < text.size() && text[at++] == '-' && read_number(text, at, 2, false, month));
    FUZZ_REQUIRE(at < text.size() && text[at++] == '-' && read_number(text, at, 2, false, day));
    FUZZ_REQUIRE(year >= 1 && month >= 1 && month <= 12 && day >= 1);
    const std::int64_t astronomical = before_christ ? 1 - year : year;
    constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    FUZZ_REQUIRE(day <= kMonthDays[month - 1] + (month == 2 && is_leap(astronomical) ? 1 : 0));
    return days_from_civil(astronomical, month, day) - 10957;
}

// "HH:MM:SS[.f{1,6} without trailing zeros]" at `at`, as microseconds.
std::int64_t parsed_time(const std::string& text, std::size_t& at) {
    std::int64_t hours = 0, minutes = 0, seconds = 0, fraction = 0;
    FUZZ_REQUIRE(read_number(text, at, 2, false, hours));
    FUZZ_REQUIRE(at < text.size() && text[at++] == ':' && read_number(text, at, 2, false, minutes));
    FUZZ_REQUIRE(at < text.size() && text[at++] == ':' && read_number(text, at, 2, false, seconds));
    FUZZ_REQUIRE(minutes < 60 && seconds < 60);
    if (at < text.size() && text[at] == '.') {
        const std::size_t start = ++at;
        FUZZ_REQUIRE(read_number(text, at, 1, true, fraction));
        const std::size_t digits = at - start;
        FUZZ_REQUIRE(digits <= 6 && text[at - 1] != '0');
        for (std::size_t i = digits; i < 6; ++i) fraction *= 10;
    }
    return ((hours * 60 + minutes) * 60 + seconds) * 1'000'000 + fraction;
}

std::int64_t signed_value(Bytes value) {
    std::uint64_t bits = 0;
    for (auto byte : value) bits = (bits << 8) | byte;
    return value.size() == 4 ? static_cast<std::int32_t>(bits) : static_cast<std::int64_t>(bits);
}

void date_round_trips(const std::string& text, Bytes value, bool with_time) {
    if (text == "infinity" || text == "-infinity") {
        const std::int64_t v = signed_value(value);
        FUZZ_REQUIRE(with_time ? (v == INT64_MAX || v == INT64_MIN) : (v == INT32_MAX || v == INT32_MIN));
        return;
    }
    const bool before_christ = text.size() > 3 && text.ends_with(" BC");
    std::size_t at = 0;
    const std::int64_t days = parsed_days(text, at, before_christ);
    std::int64_t microseconds = 0;
    if (with_time) {
        FUZZ_REQUIRE(at < text.size() && text[at++] == ' ');
        microseconds = parsed_time(text, at);
        FUZZ_REQUIRE(microseconds < 86'400'000'000);
    }
    FUZZ_REQUIRE(at == text.size() - (before_christ ? 3 : 0));
    FUZZ_REQUIRE((with_time ? days * 86'400'000'000 + microseconds : days) == signed_value(value));
}

void time_round_trips(const std::string& text, Bytes value) {
    std::size_t at = 0;
    FUZZ_REQUIRE(parsed_time(text, at) == signed_value(value) && at == text.size());
}

}  // namespace
}  // namespace staleguard::wire

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace staleguard::wire;
    if (size < 1) return 0;
    const std::uint32_t type = kTypes[data[0] % std::size(kTypes)];
    const Bytes value(data + 1, size - 1);
    const auto text = binary_value_text(value, type, {.iso_dates = true});
    if (!text) return 0;
    switch (type) {
        case type_oid::int2: integer_round_trips<std::int16_t>(*text, value); break;
        case type_oid::int4: integer_round_trips<std::int32_t>(*text, value); break;
        case type_oid::int8: integer_round_trips<std::int64_t>(*text, value); break;
        case type_oid::oid: integer_round_trips<std::uint32_t>(*text, value); break;
        case type_oid::numeric: numeric_is_well_formed(*text, value); break;
        case type_oid::uuid: FUZZ_REQUIRE(text->size() == 36); break;
        case type_oid::timestamptz: FUZZ_REQUIRE(false); break;  // depends on TimeZone: never decoded
        case type_oid::date: date_round_trips(*text, value, false); break;
        case type_oid::timestamp: date_round_trips(*text, value, true); break;
        case type_oid::time: time_round_trips(*text, value); break;
        default: break;
    }
    return 0;
}
