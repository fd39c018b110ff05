// The packed, LRU-bounded map of row versions a session has read (see read_set.hpp for the layout).
#include "proxy/read_set.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

namespace staleguard::session {
namespace {

// Below this the arena is not worth compacting; it is also the first allocation.
constexpr std::size_t kMinArenaBytes = 256;
// Live entries beyond this are evicted first, so that 1.5 × live (the arena's size after a
// rebuild) still fits the 32-bit offsets of the slots.
constexpr std::size_t kMaxLiveArenaBytes = std::size_t{1} << 30;
constexpr std::size_t kMinIndexBuckets = 16;
constexpr std::size_t kMinSlots = 16;
constexpr std::uint32_t kSlotMask = 0x00ffffff;

std::size_t varint_size(std::size_t value) {
    std::size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++size;
    }
    return size;
}

void append_varint(std::string& out, std::size_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void append_varint(std::vector<std::uint8_t>& out, std::size_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<std::uint8_t>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(value));
}

// Arena entries were written by us, so reading them needs no bounds checks.
const std::uint8_t* read_varint(const std::uint8_t* in, std::size_t& value) {
    value = 0;
    for (unsigned shift = 0;; shift += 7) {
        const std::uint8_t byte = *in++;
        value |= std::size_t{byte & 0x7fu} << shift;
        if ((byte & 0x80) == 0) return in;
    }
}

std::uint32_t hash_identity(std::string_view identity) {
    const std::uint64_t full = std::hash<std::string_view>{}(identity);
    return static_cast<std::uint32_t>(full ^ (full >> 32));
}

std::uint32_t bucket_value(std::uint32_t hash, std::uint32_t slot_number) {
    return (hash & ~kSlotMask) | (slot_number + 1);
}

// glibc's malloc: 8 bytes of header, 16-byte granules, 32 bytes at least.
std::size_t malloc_footprint(std::size_t requested) {
    return std::max<std::size_t>(32, (requested + 8 + 15) & ~std::size_t{15});
}

std::size_t string_heap_bytes(const std::string& text) {
    const auto* object = reinterpret_cast<const char*>(&text);
    const std::less<const char*> before;
    const bool inline_buffer = !before(text.data(), object) && before(text.data(), object + sizeof text);
    return inline_buffer ? 0 : malloc_footprint(text.capacity() + 1);
}

}  // namespace

ReadSet::ReadSet(std::size_t capacity) : capacity_(std::min(capacity, kMaxCapacity)) {}

bool ReadSet::build_identity(std::string_view table, std::span<const std::string_view> key_values,
                             bool intern) {
    std::uint32_t table_id = 0;
    if (const auto known = table_ids_.find(table); known != table_ids_.end()) {
        table_id = known->second;
    } else if (!intern) {
        return false;
    } else {
        table_id = static_cast<std::uint32_t>(table_ids_.size());
        table_ids_.emplace(std::string(table), table_id);
    }
    scratch_.clear();
    append_varint(scratch_, table_id);
    // Each part carries its length, so ("ab", "c") and ("a", "bc") differ.
    for (const auto part : key_values) {
        append_varint(scratch_, part.size());
        scratch_.append(part);
    }
    identity_size_ = scratch_.size();
    return true;
}

std::pair<std::uint32_t, std::uint32_t> ReadSet::find(std::uint32_t hash) const {
    if (index_.empty()) return {kNone, kNone};
    const std::string_view identity(scratch_.data(), identity_size_);
    const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
    const std::uint32_t tag = hash & ~kSlotMask;
    // The load factor stays below 0.8, so an empty bucket always ends the probe.
    for (std::uint32_t bucket = hash & mask;; bucket = (bucket + 1) & mask) {
        const std::uint32_t value = index_[bucket];
        if (value == 0) return {kNone, kNone};
        if ((value & ~kSlotMask) != tag) continue;
        const std::uint32_t slot_number = (value & kSlotMask) - 1;
        const Slot& slot = slots_[slot_number];
        if (slot.hash == hash && entry_identity(slot.offset) == identity) return {slot_number, bucket};
    }
}

std::string_view ReadSet::entry_identity(std::uint32_t offset) const {
    std::size_t length = 0;
    const auto* begin = read_varint(arena_.data() + offset, length);
    return {reinterpret_cast<const char*>(begin), length};
}

std::string_view ReadSet::entry_version(std::uint32_t offset) const {
    const auto identity = entry_identity(offset);
    std::size_t length = 0;
    const auto* begin =
        read_varint(reinterpret_cast<const std::uint8_t*>(identity.data() + identity.size()), length);
    return {reinterpret_cast<const char*>(begin), length};
}

std::uint32_t ReadSet::entry_size(std::uint32_t offset) const {
    const auto version = entry_version(offset);
    return static_cast<std::uint32_t>(
        reinterpret_cast<const std::uint8_t*>(version.data() + version.size()) - (arena_.data() + offset));
}

void ReadSet::remember(std::string_view table, std::span<const std::string_view> key_values,
                       std::string_view version) {
    if (capacity_ == 0) return;
    (void)build_identity(table, key_values, true);
    // The version goes into scratch_ too: it may be a view into the arena, which may move.
    scratch_.append(version);
    const std::string_view identity(scratch_.data(), identity_size_);
    const std::string_view version_copy(scratch_.data() + identity_size_, version.size());
    const std::size_t needed =
        varint_size(identity.size()) + identity.size() + varint_size(version.size()) + version.size();
    const std::uint32_t hash = hash_identity(identity);

    const auto [found, bucket] = find(hash);
    if (found != kNone) {
        const auto old_version = entry_version(slots_[found].offset);
        if (needed <= kMaxEntryBytes && old_version.size() == version.size()) {
            const auto at = static_cast<std::size_t>(
                reinterpret_cast<const std::uint8_t*>(old_version.data()) - arena_.data());
            std::memcpy(arena_.data() + at, version_copy.data(), version_copy.size());
            touch(found);
            return;
        }
        // A version of another length, or one too large to keep: the row starts over.
        remove(found, bucket);
    }
    if (needed > kMaxEntryBytes) return;

    while (size_ >= capacity_ || (size_ > 0 && live_arena_bytes_ + needed > kMaxLiveArenaBytes)) {
        const std::uint32_t victim = lru_tail_;
        const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
        std::uint32_t victim_bucket = slots_[victim].hash & mask;
        while ((index_[victim_bucket] & kSlotMask) != victim + 1) victim_bucket = (victim_bucket + 1) & mask;
        remove(victim, victim_bucket);
    }
    if ((size_ + 1) * 5 > index_.size() * 4) grow_index();
    const std::uint32_t slot_number = take_free_slot();
    slots_[slot_number].hash = hash;
    slots_[slot_number].offset = append_entry(identity, version_copy);
    insert_into_index(slot_number);
    link_front(slot_number);
    ++size_;
}

std::optional<std::string_view> ReadSet::seen(std::string_view table,
                                              std::span<const std::string_view> key_values) {
    if (!build_identity(table, key_values, false)) return std::nullopt;
    const auto [found, bucket] = find(hash_identity({scratch_.data(), identity_size_}));
    if (found == kNone) return std::nullopt;
    touch(found);
    return entry_version(slots_[found].offset);
}

void ReadSet::forget(std::string_view table, std::span<const std::string_view> key_values) {
    if (!build_identity(table, key_values, false)) return;
    const auto [found, bucket] = find(hash_identity({scratch_.data(), identity_size_}));
    if (found != kNone) remove(found, bucket);
}

void ReadSet::clear() {
    // Moving empty containers in gives the memory back, which their clear() would keep.
    slots_ = std::vector<Slot>();
    index_ = std::vector<std::uint32_t>();
    arena_ = std::vector<std::uint8_t>();
    table_ids_ = decltype(table_ids_)();
    scratch_ = std::string();
    identity_size_ = 0;
    live_arena_bytes_ = 0;
    size_ = 0;
    lru_head_ = lru_tail_ = free_head_ = kNone;
}

std::size_t ReadSet::memory_bytes() const {
    std::size_t total = sizeof(*this);
    if (slots_.capacity() > 0) total += malloc_footprint(slots_.capacity() * sizeof(Slot));
    if (index_.capacity() > 0) total += malloc_footprint(index_.capacity() * sizeof(std::uint32_t));
    if (arena_.capacity() > 0) total += malloc_footprint(arena_.capacity());
    total += string_heap_bytes(scratch_);
    // libstdc++ nodes: next pointer, the pair and the cached hash.
    using Node = std::unordered_map<std::string, std::uint32_t>::value_type;
    const std::size_t node = malloc_footprint(sizeof(void*) + sizeof(Node) + sizeof(std::size_t));
    if (table_ids_.bucket_count() > 1) total += malloc_footprint(table_ids_.bucket_count() * sizeof(void*));
    for (const auto& [name, id] : table_ids_) total += node + string_heap_bytes(name);
    return total;
}

std::uint32_t ReadSet::append_entry(std::string_view identity, std::string_view version) {
    const std::size_t size =
        varint_size(identity.size()) + identity.size() + varint_size(version.size()) + version.size();
    if (arena_.size() + size > arena_.capacity()) {
        // Growing and compacting are one step: copy the live entries into a buffer with half as
        // much room again, so the work is amortised over as many bytes as were live.
        const std::size_t live = live_arena_bytes_ + size;
        rebuild_arena(std::max(kMinArenaBytes, live + live / 2));
    }
    const auto offset = static_cast<std::uint32_t>(arena_.size());
    append_varint(arena_, identity.size());
    arena_.insert(arena_.end(), identity.begin(), identity.end());
    append_varint(arena_, version.size());
    arena_.insert(arena_.end(), version.begin(), version.end());
    live_arena_bytes_ += size;
    return offset;
}

void ReadSet::rebuild_arena(std::size_t new_capacity) {
    std::vector<std::uint8_t> fresh;
    fresh.reserve(new_capacity);
    for (auto& slot : slots_) {
        if (slot.offset == kNone) continue;
        const auto* begin = arena_.data() + slot.offset;
        const auto size = entry_size(slot.offset);
        slot.offset = static_cast<std::uint32_t>(fresh.size());
        fresh.insert(fresh.end(), begin, begin + size);
    }
    arena_ = std::move(fresh);
}

void ReadSet::drop_entry(Slot& slot) {
    live_arena_bytes_ -= entry_size(slot.offset);
    slot.offset = kNone;
}

void ReadSet::insert_into_index(std::uint32_t slot_number) {
    const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
    const std::uint32_t hash = slots_[slot_number].hash;
    std::uint32_t bucket = hash & mask;
    while (index_[bucket] != 0) bucket = (bucket + 1) & mask;
    index_[bucket] = bucket_value(hash, slot_number);
}

// Backward-shift deletion: later members of the probe run move into the hole when their home
// bucket allows it, so lookups never need tombstones.
void ReadSet::erase_from_index(std::uint32_t bucket) {
    const auto mask = static_cast<std::uint32_t>(index_.size() - 1);
    std::uint32_t hole = bucket;
    for (std::uint32_t next = (hole + 1) & mask; index_[next] != 0; next = (next + 1) & mask) {
        const std::uint32_t home = slots_[(index_[next] & kSlotMask) - 1].hash & mask;
        // The entry at `next` may stay if its home lies cyclically in (hole, next].
        const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
        if (stays) continue;
        index_[hole] = index_[next];
        hole = next;
    }
    index_[hole] = 0;
}

void ReadSet::grow_index() {
    index_.assign(std::max(kMinIndexBuckets, index_.size() * 2), 0);
    for (std::uint32_t slot_number = 0; slot_number < slots_.size(); ++slot_number) {
        if (slots_[slot_number].offset != kNone) insert_into_index(slot_number);
    }
}

void ReadSet::link_front(std::uint32_t slot_number) {
    Slot& slot = slots_[slot_number];
    slot.prev = kNone;
    slot.next = lru_head_;
    if (lru_head_ != kNone) {
        slots_[lru_head_].prev = slot_number;
    } else {
        lru_tail_ = slot_number;
    }
    lru_head_ = slot_number;
}

void ReadSet::unlink(std::uint32_t slot_number) {
    const Slot& slot = slots_[slot_number];
    if (slot.prev != kNone) {
        slots_[slot.prev].next = slot.next;
    } else {
        lru_head_ = slot.next;
    }
    if (slot.next != kNone) {
        slots_[slot.next].prev = slot.prev;
    } else {
        lru_tail_ = slot.prev;
    }
}

void ReadSet::touch(std::uint32_t slot_number) {
    if (lru_head_ == slot_number) return;
    unlink(slot_number);
    link_front(slot_number);
}

std::uint32_t ReadSet::take_free_slot() {
    if (free_head_ != kNone) {
        const std::uint32_t slot_number = free_head_;
        free_head_ = slots_[slot_number].next;
        return slot_number;
    }
    // Free slots run out only while fewer than capacity_ slots exist; growing by half (not
    // doubling) and never past capacity_ keeps the unused tail small.
    if (slots_.size() == slots_.capacity()) {
        slots_.reserve(std::min(capacity_, std::max(kMinSlots, slots_.size() + slots_.size() / 2)));
    }
    slots_.push_back(Slot{kNone, kNone, kNone, 0});
    return static_cast<std::uint32_t>(slots_.size() - 1);
}

void ReadSet::remove(std::uint32_t slot_number, std::uint32_t bucket) {
    erase_from_index(bucket);
    unlink(slot_number);
    Slot& slot = slots_[slot_number];
    drop_entry(slot);
    slot.next = free_head_;
    free_head_ = slot_number;
    --size_;
}

}  // namespace staleguard::session
