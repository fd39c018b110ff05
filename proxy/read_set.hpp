// Per-session memory of the row versions a client has read: (table, key values) → version, LRU-bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace staleguard::session {

// Track mode remembers every row a session reads from a protected table, so the cost that
// matters is bytes per row: at most 64 bytes plus the key's bytes. Hence no node per row:
//   - slots_: one 16-byte record per row (LRU links, arena offset, hash), linked through 32-bit
//     indices; freed slots are chained for reuse;
//   - index_: open addressing (linear probing, backward-shift deletion) over 32-bit buckets
//     holding an 8-bit hash tag and the slot number, so most mismatches never touch a slot;
//   - arena_: every row's bytes packed back to back (identity = interned table id and the
//     length-prefixed key parts, then the version), compacted when it runs out of room.
// Views returned by seen() point into the arena: valid until the next non-const call.
class ReadSet {
public:
    // Slot numbers share a bucket with an 8-bit tag, leaving 24 bits.
    static constexpr std::size_t kMaxCapacity = (std::size_t{1} << 24) - 1;
    // A row whose table, key and version take more than this is not tracked (it reads as never
    // read). PostgreSQL's btree keys stop near 2.7 kB, so only absurd keys get here.
    static constexpr std::size_t kMaxEntryBytes = 64 * 1024;

    // `capacity` is clamped to kMaxCapacity; 0 tracks nothing.
    explicit ReadSet(std::size_t capacity);

    // Remember (or refresh) the version this session saw for a row; evicts the least recently
    // used row beyond capacity. The arguments may be views returned by seen().
    void remember(std::string_view table, std::span<const std::string_view> key_values,
                  std::string_view version);
    // The version seen for that row, or nullopt (never read, or evicted: counts as unread).
    // Marks it recently used.
    std::optional<std::string_view> seen(std::string_view table,
                                         std::span<const std::string_view> key_values);
    void forget(std::string_view table, std::span<const std::string_view> key_values);
    void clear();

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    // Everything this object holds: itself, slots, index, arena, scratch and interned table
    // names (allocator rounding estimated for the small allocations).
    std::size_t memory_bytes() const;

private:
    struct Slot {
        std::uint32_t prev;    // towards the most recently used; kNone at the head
        std::uint32_t next;    // towards the least recently used; free-list link when free
        std::uint32_t offset;  // entry start in arena_; kNone when the slot holds no entry
        std::uint32_t hash;
    };
    static_assert(sizeof(Slot) == 16);

    static constexpr std::uint32_t kNone = 0xffffffff;

    struct TableNameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view name) const {
            return std::hash<std::string_view>{}(name);
        }
    };

    // Writes the identity of a row into scratch_; false when the table was never interned and
    // `intern` is false (then the row cannot be known).
    bool build_identity(std::string_view table, std::span<const std::string_view> key_values,
                        bool intern);
    // The slot holding scratch_'s identity (with hash `hash`), and its bucket; kNone when absent.
    std::pair<std::uint32_t, std::uint32_t> find(std::uint32_t hash) const;
    std::uint32_t entry_size(std::uint32_t offset) const;
    std::string_view entry_version(std::uint32_t offset) const;
    std::string_view entry_identity(std::uint32_t offset) const;

    // Appends one entry to the arena and returns its offset; may compact the arena, so neither
    // argument may point into it.
    std::uint32_t append_entry(std::string_view identity, std::string_view version);
    void rebuild_arena(std::size_t new_capacity);
    void drop_entry(Slot& slot);

    void insert_into_index(std::uint32_t slot_number);
    void erase_from_index(std::uint32_t bucket);
    void grow_index();

    void link_front(std::uint32_t slot_number);
    void unlink(std::uint32_t slot_number);
    void touch(std::uint32_t slot_number);
    std::uint32_t take_free_slot();
    void remove(std::uint32_t slot_number, std::uint32_t bucket);

    std::size_t capacity_;
    std::size_t size_ = 0;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> index_;  // size 0 or a power of two
    std::vector<std::uint8_t> arena_;
    std::size_t live_arena_bytes_ = 0;  // bytes of entries still referenced by a slot
    std::uint32_t lru_head_ = kNone;    // most recently used
    std::uint32_t lru_tail_ = kNone;    // least recently used: evicted first
    std::uint32_t free_head_ = kNone;
    std::unordered_map<std::string, std::uint32_t, TableNameHash, std::equal_to<>> table_ids_;
    std::string scratch_;  // identity of the row being looked up, then a copy of the version
    std::size_t identity_size_ = 0;
};

}  // namespace staleguard::session
