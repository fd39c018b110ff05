// PostgreSQL's printed form of a value sent in text format, for types whose input takes spellings their output never prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/codec/binary_values.hpp"

namespace staleguard::wire {

// What `value::text` prints for `text` sent as a parameter of `type`, when that differs from
// `text` in ways the type's input function ignores. Today: date and timestamp (without time
// zone) under ISO dates, which pgjdbc sends with a zone offset the server drops
// ('2024-05-01 +00', '2024-05-01 13:45:00.25+00'). Accepted: YYYY-MM-DD, then for a timestamp
// (optional for a date, whose input ignores it) a space or T and HH:MM[:SS[.fraction]], then an
// optional zone (Z, or +/-HH[[:]MM]; a minus right after a date is not one), then an optional
// " BC". nullopt for any other type or spelling, or a value whose reading would need PostgreSQL's
// rounding or overflow rules (more than six fraction digits that are not zeros, hour 24, a day
// the month lacks): the caller then keeps the text as sent.
std::optional<std::string> canonical_text_value(std::string_view text, std::uint32_t type,
                                                const ValueTextSettings& settings);

}  // namespace staleguard::wire
