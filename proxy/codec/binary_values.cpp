#include "proxy/codec/binary_values.hpp"

#include <climits>
#include <string_view>
#include <vector>

#include "proxy/codec/iso_datetime.hpp"
#include "proxy/codec/type_oids.hpp"

namespace staleguard::wire {
namespace {

std::uint64_t big_endian(Bytes value) {
    std::uint64_t v = 0;
    for (auto byte : value) v = (v << 8) | byte;
    return v;
}

// A two's-complement (or, for oid, unsigned) integer of exactly its size.
template <class Integer>
std::optional<std::string> integer_text(Bytes value) {
    if (value.size() != sizeof(Integer)) return std::nullopt;
    return std::to_string(static_cast<Integer>(big_endian(value)));
}

std::string_view chars_of(Bytes value) { return {reinterpret_cast<const char*>(value.data()), value.size()}; }

std::string uuid_text(Bytes value) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += digits[value[i] >> 4];
        out += digits[value[i] & 0xf];
    }
    return out;
}

// numeric_send: ndigits, weight, sign, dscale (16 bits each), then ndigits base-10000 digits,
// the first of which stands for 10000^weight. PostgreSQL's numeric_recv drops the digits dscale
// hides and strips zero digits at either end (a zero is positive); numeric_out then prints the
// integer part without leading zeros and exactly dscale fractional digits.
std::optional<std::string> numeric_text(Bytes value) {
    constexpr std::uint16_t kPositive = 0x0000, kNegative = 0x4000, kNaN = 0xC000, kPlusInfinity = 0xD000,
                            kMinusInfinity = 0xF000, kDscaleMask = 0x3FFF;
    constexpr int kDigitsPerWord = 4;
    if (value.size() < 8) return std::nullopt;
    const auto word = [&](std::size_t i) { return static_cast<std::uint16_t>(big_endian(value.subspan(i * 2, 2))); };
    const std::size_t ndigits = word(0);
    int weight = static_cast<std::int16_t>(word(1));
    std::uint16_t sign = word(2);
    const std::uint16_t dscale = word(3);
    if (sign == kNaN) return "NaN";
    if (sign == kPlusInfinity) return "Infinity";
    if (sign == kMinusInfinity) return "-Infinity";
    if ((sign != kPositive && sign != kNegative) || dscale > kDscaleMask || value.size() != 8 + ndigits * 2)
        return std::nullopt;
    std::vector<int> digits(ndigits);
    for (std::size_t i = 0; i < ndigits; ++i) {
        digits[i] = word(4 + i);
        if (digits[i] >= 10000) return std::nullopt;
    }
    // Words past the last that dscale shows are cut (the one it reaches partly is printed cut).
    const long shown_words = weight + 1 + (dscale + kDigitsPerWord - 1) / kDigitsPerWord;
    if (shown_words < static_cast<long>(digits.size())) digits.resize(shown_words < 0 ? 0 : static_cast<std::size_t>(shown_words));
    while (!digits.empty() && digits.back() == 0) digits.pop_back();
    std::size_t first = 0;
    while (first < digits.size() && digits[first] == 0) ++first;
    digits.erase(digits.begin(), digits.begin() + static_cast<std::ptrdiff_t>(first));
    weight -= static_cast<int>(first);
    if (digits.empty()) {
        weight = 0;
        sign = kPositive;
    }
    const auto digit_at = [&](int position) {  // position 0 is the word of 10000^weight
        return position >= 0 && static_cast<std::size_t>(position) < digits.size() ? digits[static_cast<std::size_t>(position)] : 0;
    };
    const auto append_word = [&](std::string& out, int position) {
        const std::string word_text = std::to_string(digit_at(position));
        out.append(static_cast<std::size_t>(kDigitsPerWord) - word_text.size(), '0');
        out += word_text;
    };
    std::string out;
    if (sign == kNegative) out += '-';
    if (weight < 0) {
        out += '0';
    } else {
        out += std::to_string(digit_at(0));
        for (int position = 1; position <= weight; ++position) append_word(out, position);
    }
    if (dscale > 0) {
        out += '.';
        std::string fraction;
        for (int position = weight + 1; fraction.size() < dscale; ++position) append_word(fraction, position);
        fraction.resize(dscale);
        out += fraction;
    }
    return out;
}

// Dates count days from 2000-01-01, timestamps microseconds from its midnight. The valid ranges
// are those date_recv and timestamp_recv accept (IS_VALID_DATE, IS_VALID_TIMESTAMP: from
// 4714-11-24 BC), the extreme values standing for -infinity and infinity.
constexpr std::int64_t kDaysFrom1970To2000 = 10957;
constexpr std::int64_t kMicrosecondsPerDay = 86'400'000'000;
constexpr std::int64_t kFirstDate = -2'451'545;
constexpr std::int64_t kEndDate = 2'145'031'949;
constexpr std::int64_t kFirstTimestamp = -211'813'488'000'000'000;
constexpr std::int64_t kEndTimestamp = 9'223'371'331'200'000'000;

struct CivilDate {
    std::int64_t year;  // astronomical: 0 is 1 BC
    unsigned month;
    unsigned day;
};

// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's civil_from_days), as
// PostgreSQL's j2date computes it.
CivilDate civil_from_days(std::int64_t days) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t day_of_era = days - era * 146097;
    const std::int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t shifted_month = (5 * day_of_year + 2) / 153;
    const auto day = static_cast<unsigned>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
    const auto month = static_cast<unsigned>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
    return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

std::optional<std::string> date_text(Bytes value) {
    if (value.size() != 4) return std::nullopt;
    const std::int64_t days = static_cast<std::int32_t>(big_endian(value));
    if (days == INT32_MIN) return "-infinity";
    if (days == INT32_MAX) return "infinity";
    if (days < kFirstDate || days >= kEndDate) return std::nullopt;
    const CivilDate date = civil_from_days(days + kDaysFrom1970To2000);
    return iso_date_text(date.year, date.month, date.day);
}

std::optional<std::string> timestamp_text(Bytes value) {
    if (value.size() != 8) return std::nullopt;
    const auto microseconds = static_cast<std::int64_t>(big_endian(value));
    if (microseconds == INT64_MIN) return "-infinity";
    if (microseconds == INT64_MAX) return "infinity";
    if (microseconds < kFirstTimestamp || microseconds >= kEndTimestamp) return std::nullopt;
    std::int64_t days = microseconds / kMicrosecondsPerDay;
    std::int64_t within_day = microseconds % kMicrosecondsPerDay;
    if (within_day < 0) {
        within_day += kMicrosecondsPerDay;
        --days;
    }
    const CivilDate date = civil_from_days(days + kDaysFrom1970To2000);
    return iso_timestamp_text(date.year, date.month, date.day, within_day);
}

}  // namespace

std::optional<std::string> binary_value_text(Bytes value, std::uint32_t type, const ValueTextSettings& settings) {
    switch (type) {
        case type_oid::boolean:
            if (value.size() == 1) return std::string(value[0] != 0 ? "true" : "false");
            break;
        case type_oid::int2:
            return integer_text<std::int16_t>(value);
        case type_oid::int4:
            return integer_text<std::int32_t>(value);
        case type_oid::int8:
            return integer_text<std::int64_t>(value);
        case type_oid::oid:
            return integer_text<std::uint32_t>(value);
        case type_oid::text:
        case type_oid::varchar:
        case type_oid::name:
            return std::string(chars_of(value));
        case type_oid::bpchar: {
            std::string_view chars = chars_of(value);
            while (!chars.empty() && chars.back() == ' ') chars.remove_suffix(1);
            return std::string(chars);
        }
        case type_oid::numeric:
            return numeric_text(value);
        case type_oid::uuid:
            if (value.size() == 16) return uuid_text(value);
            break;
        case type_oid::time:
            if (value.size() != 8) break;
            if (const auto microseconds = static_cast<std::int64_t>(big_endian(value));
                microseconds >= 0 && microseconds <= kMicrosecondsPerDay)
                return iso_time_text(microseconds);
            break;
        case type_oid::date:
            if (settings.iso_dates) return date_text(value);
            break;
        case type_oid::timestamp:
            if (settings.iso_dates) return timestamp_text(value);
            break;
        default:
            break;
    }
    return std::nullopt;
}

}  // namespace staleguard::wire
