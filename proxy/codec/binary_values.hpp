// PostgreSQL's text form of a value sent in binary format, for the types that serve as keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/codec/frame.hpp"

namespace staleguard::wire {

// The session settings a value's text depends on.
struct ValueTextSettings {
    // DateStyle's output style is ISO (PostgreSQL's default, and what most drivers set): dates
    // and timestamps print as 2024-05-01 and 2024-05-01 13:45:00.25. Under the other styles
    // they are not read.
    bool iso_dates = false;
};

// What `value::text` prints for `value` in `type`'s binary wire format (the *send/*recv
// functions), so that a key bound in binary matches the key a read returned as text.
// nullopt for a type outside the list, a length or value that does not fit it, or a date or
// timestamp when `settings` do not say how the session prints them: a key not known for sure.
// Covered: bool, int2, int4, int8, oid, text, varchar, name, bpchar (its trailing blanks dropped,
// as by the ::text cast), numeric, uuid, time, and under ISO dates date and timestamp (without
// time zone: timestamptz prints in the session's TimeZone, which is not followed).
std::optional<std::string> binary_value_text(Bytes value, std::uint32_t type, const ValueTextSettings& settings);

}  // namespace staleguard::wire
