#include "proxy/worker_thread.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

namespace staleguard::session {
namespace {

constexpr int kProcessSignals[] = {SIGINT, SIGTERM, SIGHUP};

sigset_t current_mask() {
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    return mask;
}

// Shutdown blocks the stop signals in the main thread before it hands them back to the default
// action; a worker, or a thread a worker starts (asio's resolver), that could still take one in
// that moment would end a clean exit by signal.
TEST(WorkerThread, StartsWithTheProcessSignalsBlockedAndLeavesItsCreatorsMaskAlone) {
    const sigset_t before = current_mask();
    for (int signal_number : kProcessSignals) ASSERT_EQ(sigismember(&before, signal_number), 0) << signal_number;

    sigset_t in_worker;
    sigset_t in_grandchild;
    WorkerThread([&] {
        in_worker = current_mask();
        std::thread([&] { in_grandchild = current_mask(); }).join();
    }).join();

    for (int signal_number : kProcessSignals) {
        EXPECT_EQ(sigismember(&in_worker, signal_number), 1) << signal_number;
        EXPECT_EQ(sigismember(&in_grandchild, signal_number), 1) << signal_number;
    }
    EXPECT_EQ(sigismember(&in_worker, SIGSEGV), 0) << "only the stop and reload signals are the main thread's";
    const sigset_t after = current_mask();
    for (int signal_number : kProcessSignals) EXPECT_EQ(sigismember(&after, signal_number), 0) << signal_number;
}

}  // namespace
}  // namespace staleguard::session
