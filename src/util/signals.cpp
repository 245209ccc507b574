// SIGINT/SIGTERM handling: see include/dare/signals.h.
#include "dare/signals.h"

#include <csignal>
#include <unistd.h>

#include <atomic>
#include <utility>

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

struct sigaction stop_action() {
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sa;
}

}  // namespace

void install_stop_handlers() {
    const struct sigaction sa = stop_action();
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

struct scoped_stop_handlers::saved {
    struct sigaction int_action = {}, term_action = {};
};

scoped_stop_handlers::scoped_stop_handlers() : saved_(std::make_unique<saved>()) {
    clear_stop();
    const struct sigaction sa = stop_action();
    for (auto [sig, old] : {std::pair{SIGINT, &saved_->int_action}, std::pair{SIGTERM, &saved_->term_action}}) {
        sigaction(sig, nullptr, old);
        if (old->sa_handler != SIG_IGN) {  // an ignored signal stays ignored
            sigaction(sig, &sa, nullptr);
        }
    }
}

scoped_stop_handlers::~scoped_stop_handlers() {
    sigaction(SIGINT, &saved_->int_action, nullptr);
    sigaction(SIGTERM, &saved_->term_action, nullptr);
    clear_stop();
}

void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

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
