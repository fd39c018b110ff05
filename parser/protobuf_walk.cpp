// Generic descent through a protobuf-c message tree, for passes that care about every node.
#include "parser/protobuf_walk.hpp"

#include <protobuf-c/protobuf-c.h>

#include <cstdint>

namespace staleguard::parser {

void for_each_child_message(ProtobufCMessage& message, const std::function<void(ProtobufCMessage&)>& visit) {
    const ProtobufCMessageDescriptor& descriptor = *message.descriptor;
    char* const base = reinterpret_cast<char*>(&message);
    // A Node is a oneof of some 250 members: find its live member by id instead of testing each.
    unsigned handled_oneof = ~0u;
    for (unsigned i = 0; i < descriptor.n_fields; ++i) {
        const ProtobufCFieldDescriptor* member = &descriptor.fields[i];
        if ((member->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
            if (member->quantifier_offset == handled_oneof) continue;
            handled_oneof = member->quantifier_offset;
            // Members of a oneof share storage: only the one the case field names is live.
            const auto active = *reinterpret_cast<const uint32_t*>(base + member->quantifier_offset);
            member = active == 0 ? nullptr : protobuf_c_message_descriptor_get_field(&descriptor, active);
            if (member == nullptr || member->quantifier_offset != handled_oneof) continue;
        }
        const ProtobufCFieldDescriptor& field = *member;
        if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (field.label == PROTOBUF_C_LABEL_REPEATED) {
            const auto count = *reinterpret_cast<const size_t*>(base + field.quantifier_offset);
            auto* const* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + field.offset);
            for (size_t j = 0; j < count; ++j) {
                if (items[j] != nullptr) visit(*items[j]);
            }
        } else {
            auto* child = *reinterpret_cast<ProtobufCMessage* const*>(base + field.offset);
            if (child != nullptr) visit(*child);
        }
    }
}

}  // namespace staleguard::parser
