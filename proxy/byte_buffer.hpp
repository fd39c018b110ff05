// A growable read buffer: bytes land at the back, frames are consumed from the front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace staleguard::session {

class ByteBuffer {
public:
    explicit ByteBuffer(std::size_t initial_capacity) : storage_(initial_capacity) {}

    std::span<const std::uint8_t> readable() const {
        return {storage_.data() + begin_, end_ - begin_};
    }
    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }

    // Room for at least `n` more bytes at the back; moves unread bytes to the front first, so a
    // buffer that once held a large message does not keep growing.
    std::span<std::uint8_t> prepare(std::size_t n) {
        if (begin_ > 0) {
            std::memmove(storage_.data(), storage_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (storage_.size() - end_ < n) storage_.resize(end_ + n);
        return {storage_.data() + end_, storage_.size() - end_};
    }
    void commit(std::size_t n) { end_ += n; }
    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    // Give memory back after a large message once the buffer is empty again.
    void shrink_to(std::size_t capacity) {
        if (empty() && storage_.size() > capacity) {
            storage_.resize(capacity);
            storage_.shrink_to_fit();
        }
    }

private:
    std::vector<std::uint8_t> storage_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace staleguard::session
