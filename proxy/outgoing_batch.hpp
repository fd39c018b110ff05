// Bytes queued for one gather-write: frames forwarded as they came (views into the read buffer)
// interleaved with messages the proxy built.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "proxy/asio.hpp"

namespace staleguard::session {

class OutgoingBatch {
public:
    // A view into a buffer that stays untouched until the batch is written.
    void add_view(std::span<const std::uint8_t> bytes) {
        if (bytes.empty()) return;
        // Consecutive forwarded frames are contiguous in the read buffer: one buffer for them all.
        if (!buffers_.empty() && last_is_view_) {
            auto& last = buffers_.back();
            if (static_cast<const std::uint8_t*>(last.data()) + last.size() == bytes.data()) {
                last = boost::asio::const_buffer(last.data(), last.size() + bytes.size());
                size_ += bytes.size();
                return;
            }
        }
        buffers_.emplace_back(bytes.data(), bytes.size());
        last_is_view_ = true;
        size_ += bytes.size();
    }
    void add_owned(std::vector<std::uint8_t> bytes) {
        if (bytes.empty()) return;
        owned_.push_back(std::move(bytes));
        buffers_.emplace_back(owned_.back().data(), owned_.back().size());
        last_is_view_ = false;
        size_ += owned_.back().size();
    }

    bool empty() const { return buffers_.empty(); }
    std::size_t size() const { return size_; }
    const std::vector<boost::asio::const_buffer>& buffers() const { return buffers_; }
    void clear() {
        buffers_.clear();
        owned_.clear();
        last_is_view_ = false;
        size_ = 0;
    }

private:
    std::vector<boost::asio::const_buffer> buffers_;
    std::deque<std::vector<std::uint8_t>> owned_;  // deque: addresses stay put as it grows
    bool last_is_view_ = false;
    std::size_t size_ = 0;
};

}  // namespace staleguard::session
