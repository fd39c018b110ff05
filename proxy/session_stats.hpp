// What one live session shows to others (SHOW SESSIONS): written by its session's thread, read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace staleguard::session {

// Numbers are relaxed atomics; the strings are set once (at startup) under a mutex. Readers never
// post into the session's io_context, so a busy session cannot slow SHOW SESSIONS down, and the other
// way round.
class SessionStats {
public:
    enum class State : char { Startup = 's', Idle = 'I', InTransaction = 'T', FailedTransaction = 'E', Active = 'A' };

    SessionStats(std::uint64_t id, std::string client_address)
        : id_(id), client_address_(std::move(client_address)), connected_at_(std::chrono::system_clock::now()) {}

    struct Identity {
        std::string user;
        std::string database;
        std::string tls = "no";  // the TLS listener fills this in ("TLSv1.3" ...)
        bool admin = false;
    };
    void set_identity(Identity identity) {
        std::lock_guard lock(mutex_);
        identity_ = std::move(identity);
    }
    Identity identity() const {
        std::lock_guard lock(mutex_);
        return identity_;
    }

    std::uint64_t id() const { return id_; }
    const std::string& client_address() const { return client_address_; }
    std::chrono::system_clock::time_point connected_at() const { return connected_at_; }

    std::atomic<std::uint64_t> bytes_in{0};    // from the client
    std::atomic<std::uint64_t> bytes_out{0};   // from the server (to the client)
    std::atomic<std::uint64_t> statements{0};  // Query and Parse messages
    std::atomic<std::uint64_t> tracked_rows{0};  // rows in the session's ReadSet (track mode)
    std::atomic<State> state{State::Startup};

private:
    const std::uint64_t id_;
    const std::string client_address_;
    const std::chrono::system_clock::time_point connected_at_;
    mutable std::mutex mutex_;
    Identity identity_;
};

}  // namespace staleguard::session
