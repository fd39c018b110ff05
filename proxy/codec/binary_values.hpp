// PostgreSQL's text form of a value sent in binary format, for the types that serve as keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/codec/frame.hpp"

namespace staleguard::wire {

// What `value::text` prints for `value` in `type`'s binary wire format (the *send/*recv
// functions), so that a key bound in binary matches the key a read returned as text.
// nullopt for a type outside the list, a length that does not fit it, or a type whose text
// depends on session settings (dates and times follow DateStyle): a key not known for sure.
// Covered: bool, int2, int4, int8, oid, text, varchar, name, bpchar (its trailing blanks dropped,
// as by the ::text cast), numeric and uuid.
std::optional<std::string> binary_value_text(Bytes value, std::uint32_t type);

}  // namespace staleguard::wire
