#include "proxy/codec/iso_datetime.hpp"

#include <cstdio>

namespace staleguard::wire {
namespace {

std::string date_part(std::int64_t astronomical_year, unsigned month, unsigned day) {
    const std::int64_t printed_year = astronomical_year <= 0 ? 1 - astronomical_year : astronomical_year;
    char text[40];
    std::snprintf(text, sizeof text, "%04lld-%02u-%02u", static_cast<long long>(printed_year), month, day);
    return text;
}

const char* era_suffix(std::int64_t astronomical_year) { return astronomical_year <= 0 ? " BC" : ""; }

}  // namespace

std::string iso_date_text(std::int64_t astronomical_year, unsigned month, unsigned day) {
    return date_part(astronomical_year, month, day) + era_suffix(astronomical_year);
}

std::string iso_time_text(std::int64_t microseconds_of_day) {
    const std::int64_t seconds = microseconds_of_day / 1'000'000;
    std::int64_t fraction = microseconds_of_day % 1'000'000;
    char text[40];
    const int length = std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                                     static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
    if (fraction != 0) {
        int digits = 6;
        while (fraction % 10 == 0) {
            fraction /= 10;
            --digits;
        }
        std::snprintf(text + length, sizeof text - static_cast<std::size_t>(length), ".%0*lld", digits,
                      static_cast<long long>(fraction));
    }
    return text;
}

std::string iso_timestamp_text(std::int64_t astronomical_year, unsigned month, unsigned day,
                               std::int64_t microseconds_of_day) {
    return date_part(astronomical_year, month, day) + ' ' + iso_time_text(microseconds_of_day) +
           era_suffix(astronomical_year);
}

}  // namespace staleguard::wire
