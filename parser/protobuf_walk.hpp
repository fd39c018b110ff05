// Generic descent through a protobuf-c message tree, for passes that care about every node.
#pragma once

#include <functional>

// protobuf-c's message header, declared here so that our headers never include the C headers.
struct ProtobufCMessage;

namespace staleguard::parser {

// PostgreSQL's own parser stops far earlier (stack depth check); this bounds our recursion on
// whatever the C library hands back, so a hostile tree cannot exhaust our stack.
inline constexpr int max_tree_depth = 2000;

// Calls `visit` on each direct child message of `message` (singular, repeated and the active
// member of a oneof), in field order.
void for_each_child_message(ProtobufCMessage& message, const std::function<void(ProtobufCMessage&)>& visit);

// Whether two message trees hold the same values, field by field through the descriptors, with
// every field named `location`, `stmt_location` or `stmt_len` left out: two parses of texts that
// mean the same compare equal however they were spelt. An absent sub-message differs from an
// empty one (as their packed forms do); trees deeper than max_tree_depth compare unequal.
bool same_ignoring_locations(const ProtobufCMessage& left, const ProtobufCMessage& right);

}  // namespace staleguard::parser
