// PostgreSQL's output of dates, times and timestamps under DateStyle ISO, from their fields.
#pragma once

#include <cstdint>
#include <string>

namespace staleguard::wire {

// date_out: 2024-05-01; an astronomical year of 0 or less (year 0 is 1 BC) as 0044-03-15 BC.
std::string iso_date_text(std::int64_t astronomical_year, unsigned month, unsigned day);

// time_out (the same under every DateStyle): 13:45:00, a fraction without trailing zeros.
std::string iso_time_text(std::int64_t microseconds_of_day);

// timestamp_out: 2024-05-01 13:45:00.25; BC after the time (0044-03-15 12:00:00 BC).
std::string iso_timestamp_text(std::int64_t astronomical_year, unsigned month, unsigned day,
                               std::int64_t microseconds_of_day);

}  // namespace staleguard::wire
