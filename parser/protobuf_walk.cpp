// Generic descent through a protobuf-c message tree, for passes that care about every node.
#include "parser/protobuf_walk.hpp"

#include <protobuf-c/protobuf-c.h>

#include <cstdint>
#include <cstring>

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

namespace {

bool is_location_field(const ProtobufCFieldDescriptor& field) {
    const char* name = field.name;
    if (name[0] == 'l') return std::strcmp(name, "location") == 0;
    return name[0] == 's' && (std::strcmp(name, "stmt_location") == 0 || std::strcmp(name, "stmt_len") == 0);
}

// protobuf-c keeps an absent string as NULL or as the shared empty default: both mean "".
bool same_string(const char* left, const char* right) {
    if (left == nullptr) left = "";
    if (right == nullptr) right = "";
    return left == right || std::strcmp(left, right) == 0;
}

bool same_message(const ProtobufCMessage& left, const ProtobufCMessage& right, int depth);

// One value of `field` (a singular field, an active oneof member or one element of a repeated
// field) stored at `left` and `right`.
bool same_value(const ProtobufCFieldDescriptor& field, const void* left, const void* right, int depth) {
    switch (field.type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_ENUM:
            return std::memcmp(left, right, sizeof(uint32_t)) == 0;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
            return std::memcmp(left, right, sizeof(uint64_t)) == 0;
        case PROTOBUF_C_TYPE_BOOL:
            // Any non-zero value packs as true.
            return (*static_cast<const protobuf_c_boolean*>(left) != 0) ==
                   (*static_cast<const protobuf_c_boolean*>(right) != 0);
        case PROTOBUF_C_TYPE_STRING:
            return same_string(*static_cast<const char* const*>(left), *static_cast<const char* const*>(right));
        case PROTOBUF_C_TYPE_BYTES: {
            const auto& a = *static_cast<const ProtobufCBinaryData*>(left);
            const auto& b = *static_cast<const ProtobufCBinaryData*>(right);
            return a.len == b.len && (a.len == 0 || std::memcmp(a.data, b.data, a.len) == 0);
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
            const auto* a = *static_cast<const ProtobufCMessage* const*>(left);
            const auto* b = *static_cast<const ProtobufCMessage* const*>(right);
            if (a == nullptr || b == nullptr) return a == b;
            return same_message(*a, *b, depth + 1);
        }
    }
    return false;  // a type this protobuf-c does not have
}

std::size_t repeated_element_size(ProtobufCType type) {
    switch (type) {
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
            return sizeof(uint64_t);
        case PROTOBUF_C_TYPE_BOOL:
            return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
            return sizeof(void*);
        case PROTOBUF_C_TYPE_BYTES:
            return sizeof(ProtobufCBinaryData);
        default:
            return sizeof(uint32_t);
    }
}

bool same_unknown_fields(const ProtobufCMessage& left, const ProtobufCMessage& right) {
    if (left.n_unknown_fields != right.n_unknown_fields) return false;
    for (unsigned i = 0; i < left.n_unknown_fields; ++i) {
        const ProtobufCMessageUnknownField& a = left.unknown_fields[i];
        const ProtobufCMessageUnknownField& b = right.unknown_fields[i];
        if (a.tag != b.tag || a.wire_type != b.wire_type || a.len != b.len ||
            (a.len != 0 && std::memcmp(a.data, b.data, a.len) != 0)) {
            return false;
        }
    }
    return true;
}

bool same_message(const ProtobufCMessage& left, const ProtobufCMessage& right, int depth) {
    if (depth > max_tree_depth || left.descriptor != right.descriptor) return false;
    if (!same_unknown_fields(left, right)) return false;
    const ProtobufCMessageDescriptor& descriptor = *left.descriptor;
    const char* const a = reinterpret_cast<const char*>(&left);
    const char* const b = reinterpret_cast<const char*>(&right);
    // As in for_each_child_message: a oneof is compared once, through its live member.
    unsigned handled_oneof = ~0u;
    for (unsigned i = 0; i < descriptor.n_fields; ++i) {
        const ProtobufCFieldDescriptor* member = &descriptor.fields[i];
        if ((member->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0) {
            if (member->quantifier_offset == handled_oneof) continue;
            handled_oneof = member->quantifier_offset;
            const auto active = *reinterpret_cast<const uint32_t*>(a + member->quantifier_offset);
            if (active != *reinterpret_cast<const uint32_t*>(b + member->quantifier_offset)) return false;
            if (active == 0) continue;
            member = protobuf_c_message_descriptor_get_field(&descriptor, active);
            if (member == nullptr || member->quantifier_offset != handled_oneof) return false;
            if (is_location_field(*member)) continue;
            if (!same_value(*member, a + member->offset, b + member->offset, depth)) return false;
            continue;
        }
        const ProtobufCFieldDescriptor& field = *member;
        if (is_location_field(field)) continue;
        if (field.label == PROTOBUF_C_LABEL_REPEATED) {
            const auto count = *reinterpret_cast<const size_t*>(a + field.quantifier_offset);
            if (count != *reinterpret_cast<const size_t*>(b + field.quantifier_offset)) return false;
            const char* const items_a = *reinterpret_cast<const char* const*>(a + field.offset);
            const char* const items_b = *reinterpret_cast<const char* const*>(b + field.offset);
            const std::size_t size = repeated_element_size(field.type);
            for (size_t j = 0; j < count; ++j) {
                if (!same_value(field, items_a + j * size, items_b + j * size, depth)) return false;
            }
            continue;
        }
        // A proto2 optional scalar says whether it is set in a has_ field of its own.
        const bool has_flag = field.label == PROTOBUF_C_LABEL_OPTIONAL && field.quantifier_offset != 0 &&
                              field.type != PROTOBUF_C_TYPE_STRING && field.type != PROTOBUF_C_TYPE_MESSAGE;
        if (has_flag) {
            const bool has_a = *reinterpret_cast<const protobuf_c_boolean*>(a + field.quantifier_offset) != 0;
            const bool has_b = *reinterpret_cast<const protobuf_c_boolean*>(b + field.quantifier_offset) != 0;
            if (has_a != has_b) return false;
            if (!has_a) continue;
        }
        if (!same_value(field, a + field.offset, b + field.offset, depth)) return false;
    }
    return true;
}

}  // namespace

bool same_ignoring_locations(const ProtobufCMessage& left, const ProtobufCMessage& right) {
    return same_message(left, right, 0);
}

}  // namespace staleguard::parser
