// SIGINT/SIGTERM handling: see include/dare/signals.h.
#include "dare/signals.h"

#include <csignal>
#include <unistd.h>

#include <atomic>

namespace dare {
namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int sig) {
    int expected = 0;
    if (!g_stop.compare_exchange_strong(expected, sig)) {
        _exit(128 + sig);  // second signal: stop now (async-signal-safe)
    }
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // Past a file-size limit (ulimit -f) a write fails with EFBIG, reported
    // like a full disk, instead of the process being killed by SIGXFSZ.
    std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() { return g_stop.load(std::memory_order_relaxed); }

void throw_if_stopped() {
    const int sig = stop_signal();
    if (sig != 0) {
        throw interrupted(sig, std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"));
    }
}

void request_stop(int sig) { g_stop.store(sig, std::memory_order_relaxed); }

void clear_stop() { g_stop.store(0, std::memory_order_relaxed); }

}  // namespace dare
