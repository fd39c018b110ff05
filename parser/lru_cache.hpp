// A bounded, mutex-guarded least-recently-used map, shared by the threads that rewrite queries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace staleguard::parser {

template <class Value>
class LruCache {
public:
    explicit LruCache(std::size_t capacity) : capacity_(capacity) {}

    // Counts a hit or a miss; a hit becomes the most recently used entry.
    std::optional<Value> get(std::string_view key) {
        const std::lock_guard lock(mutex_);
        const auto found = index_.find(key);
        if (found == index_.end()) {
            ++misses_;
            return std::nullopt;
        }
        ++hits_;
        entries_.splice(entries_.begin(), entries_, found->second);
        return found->second->second;
    }

    void put(std::string key, Value value) {
        if (capacity_ == 0) return;
        const std::lock_guard lock(mutex_);
        const auto found = index_.find(key);
        if (found != index_.end()) {
            found->second->second = std::move(value);
            entries_.splice(entries_.begin(), entries_, found->second);
            return;
        }
        entries_.emplace_front(std::move(key), std::move(value));
        index_.emplace(entries_.front().first, entries_.begin());
        if (entries_.size() > capacity_) {
            index_.erase(entries_.back().first);
            entries_.pop_back();
        }
    }

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t size = 0;
        std::size_t capacity = 0;
    };

    Stats stats() const {
        const std::lock_guard lock(mutex_);
        return Stats{hits_, misses_, entries_.size(), capacity_};
    }

private:
    using Entries = std::list<std::pair<std::string, Value>>;

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    Entries entries_;
    // Keys view the strings held by `entries_`, whose list nodes never move.
    std::unordered_map<std::string_view, typename Entries::iterator> index_;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace staleguard::parser
