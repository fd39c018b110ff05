#include "proxy/codec/text_values.hpp"

#include "proxy/codec/iso_datetime.hpp"
#include "proxy/codec/type_oids.hpp"

namespace staleguard::wire {
namespace {

// A cursor over the text with the few readers the accepted spellings need.
struct Reader {
    std::string_view text;
    std::size_t at = 0;

    bool done() const { return at == text.size(); }
    bool take(char c) {
        if (at < text.size() && text[at] == c) {
            ++at;
            return true;
        }
        return false;
    }
    // Exactly `count` digits, or at least `count` when `more_allowed`.
    std::optional<std::int64_t> digits(std::size_t count, bool more_allowed = false) {
        std::int64_t value = 0;
        std::size_t read = 0;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9' && (more_allowed || read < count)) {
            if (read == 9) return std::nullopt;  // no year or field of ours is that long
            value = value * 10 + (text[at++] - '0');
            ++read;
        }
        if (read < count) return std::nullopt;
        return value;
    }
};

bool is_leap(std::int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

unsigned days_in_month(std::int64_t astronomical_year, std::int64_t month) {
    constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return kDays[month - 1] + (month == 2 && is_leap(astronomical_year) ? 1 : 0);
}

// A zone offset the input functions of date and timestamp read and drop: Z, +HH, +HH:MM, +HHMM,
// -HH[:MM][:SS], after an optional space.
bool skip_zone(Reader& in) {
    const std::size_t start = in.at;
    in.take(' ');
    if (in.take('Z')) return true;
    if (!in.take('+') && !in.take('-')) {
        in.at = start;
        return true;  // no zone
    }
    auto hours = in.digits(2);
    if (!hours || *hours > 15) return false;
    if (in.take(':')) {
        if (!in.digits(2)) return false;
        if (in.take(':') && !in.digits(2)) return false;
    } else if (in.at < in.text.size() && in.text[in.at] >= '0' && in.text[in.at] <= '9') {
        if (!in.digits(2)) return false;
    }
    return true;
}

}  // namespace

std::optional<std::string> canonical_text_value(std::string_view text, std::uint32_t type,
                                                const ValueTextSettings& settings) {
    if (!settings.iso_dates || (type != type_oid::date && type != type_oid::timestamp)) return std::nullopt;
    Reader in{text};
    const auto year = in.digits(4, true);
    if (!year || !in.take('-')) return std::nullopt;
    const auto month = in.digits(2);
    if (!month || !in.take('-')) return std::nullopt;
    const auto day = in.digits(2);
    if (!day) return std::nullopt;

    std::int64_t hour = 0, minute = 0, second = 0, microsecond = 0;
    bool has_time = false;
    if (in.at < text.size() && (text[in.at] == ' ' || text[in.at] == 'T') && in.at + 1 < text.size() &&
        text[in.at + 1] >= '0' && text[in.at + 1] <= '9') {
        ++in.at;
        has_time = true;
        const auto h = in.digits(2);
        if (!h || !in.take(':')) return std::nullopt;
        const auto m = in.digits(2);
        if (!m) return std::nullopt;
        hour = *h;
        minute = *m;
        if (in.take(':')) {
            const auto s = in.digits(2);
            if (!s) return std::nullopt;
            second = *s;
            if (in.take('.')) {
                std::size_t count = 0;
                while (!in.done() && text[in.at] >= '0' && text[in.at] <= '9') {
                    const int digit = text[in.at++] - '0';
                    if (count < 6) microsecond = microsecond * 10 + digit;
                    else if (digit != 0) return std::nullopt;  // would be rounded
                    ++count;
                }
                if (count == 0) return std::nullopt;
                for (; count < 6; ++count) microsecond *= 10;
            }
        }
    }
    if (type == type_oid::timestamp && !has_time) return std::nullopt;
    // 2024-05-01-05 is not a date with a zone to PostgreSQL (it rejects it); 2024-05-01+05 is.
    if (!has_time && in.take('-')) return std::nullopt;
    if (!skip_zone(in)) return std::nullopt;
    const bool before_christ = in.at + 3 == text.size() && text.substr(in.at) == " BC";
    if (before_christ) in.at += 3;
    if (!in.done()) return std::nullopt;

    const std::int64_t astronomical_year = before_christ ? 1 - *year : *year;
    if (*year < 1 || *month < 1 || *month > 12 || *day < 1 || *day > days_in_month(astronomical_year, *month))
        return std::nullopt;
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;

    const auto month_number = static_cast<unsigned>(*month);
    const auto day_number = static_cast<unsigned>(*day);
    if (type == type_oid::date) return iso_date_text(astronomical_year, month_number, day_number);
    return iso_timestamp_text(astronomical_year, month_number, day_number,
                              ((hour * 60 + minute) * 60 + second) * 1'000'000 + microsecond);
}

}  // namespace staleguard::wire
