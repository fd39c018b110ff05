// A joinable thread with a stack size of our choosing: std::thread offers none.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace staleguard::session {

// The SQL parser and the protobuf-c code around it recurse once per level of expression nesting,
// and a client decides how deep a statement nests (`SELECT - - - ... 1` with thousands of minus
// signs). Workers therefore run on stacks far larger than the usual 8 MiB: the space is only
// reserved, and pages are committed as a deep statement actually touches them.
inline constexpr std::size_t kWorkerStackBytes = std::size_t{512} << 20;

// The stop and reload signals (SIGINT, SIGTERM, SIGHUP): the main thread's alone.
inline sigset_t main_thread_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, signal_number);
    return signals;
}

class WorkerThread {
public:
    WorkerThread(std::function<void()> body, std::size_t stack_bytes = kWorkerStackBytes)
        : body_(std::make_unique<std::function<void()>>(std::move(body))) {
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, stack_bytes);
        // A worker starts with the main thread's signals blocked, and so do the threads started
        // from it (asio's resolver threads inherit its mask). Once the main thread blocks them
        // too at shutdown, no thread can take one while their handlers go back to the default
        // action.
        const sigset_t blocked = main_thread_signals();
        sigset_t creator_mask;
        pthread_sigmask(SIG_BLOCK, &blocked, &creator_mask);
        const int error = pthread_create(&thread_, &attributes, &WorkerThread::run, body_.get());
        pthread_sigmask(SIG_SETMASK, &creator_mask, nullptr);
        pthread_attr_destroy(&attributes);
        if (error != 0) throw std::runtime_error("cannot start a worker thread: error " + std::to_string(error));
    }
    ~WorkerThread() { join(); }
    WorkerThread(const WorkerThread&) = delete;
    WorkerThread& operator=(const WorkerThread&) = delete;

    void join() {
        if (joined_) return;
        pthread_join(thread_, nullptr);
        joined_ = true;
    }

private:
    static void* run(void* body) {
        (*static_cast<std::function<void()>*>(body))();
        return nullptr;
    }

    std::unique_ptr<std::function<void()>> body_;
    pthread_t thread_{};
    bool joined_ = false;
};

}  // namespace staleguard::session
