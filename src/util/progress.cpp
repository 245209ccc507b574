// Progress line for long runs.
#include "dare/progress.h"

#include <unistd.h>

#include <cstdio>

namespace dare {

namespace {
std::string format_duration(double s) {
    if (s < 0 || s > 1e8) {
        return "?";
    }
    const long t = static_cast<long>(s + 0.5);
    char buf[32];
    if (t >= 3600) {
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    } else if (t >= 60) {
        std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%lds", t);
    }
    return buf;
}
}  // namespace

progress::progress(std::string label, int64_t total, int64_t already_done, double log_interval_s)
    : label_(std::move(label)),
      total_(total),
      done_(already_done),
      tty_(isatty(STDERR_FILENO) != 0),
      interval_(log_interval_s),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

std::string progress::line() const {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double tps = el > 0 ? static_cast<double>(tokens_) / el : 0.0;
    const double tau = passes_ ? static_cast<double>(tokens_) / static_cast<double>(passes_) : 0.0;
    const double per_record = done_here_ ? el / static_cast<double>(done_here_) : -1.0;
    const double eta = per_record >= 0 ? per_record * static_cast<double>(total_ - done_) : -1.0;
    char tau_part[32] = "";
    if (passes_ > 0) {  // jobs without forward passes per record (encoding) show no tau
        std::snprintf(tau_part, sizeof tau_part, " | tau %.2f", tau);
    }
    char rate_part[48] = "";
    if (done_here_ > 0 && el > 0) {
        std::snprintf(rate_part, sizeof rate_part, " | %.0f records/h", 3600.0 * static_cast<double>(done_here_) / el);
    }
    char buf[320];
    std::snprintf(buf, sizeof buf, "%s %lld/%lld records | %.1f tok/s%s%s | elapsed %s | ETA %s", label_.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), tps, tau_part, rate_part,
                  format_duration(el).c_str(), format_duration(eta).c_str());
    return buf;
}

void progress::record_done(int64_t tokens, int64_t forward_passes) {
    ++done_;
    ++done_here_;
    tokens_ += tokens;
    passes_ += forward_passes;
    print(false);
}

void progress::print(bool final) {
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_print_).count();
    if (tty_) {
        if (final || since >= 0.25) {
            std::fprintf(stderr, "\r\033[K%s%s", line().c_str(), final ? "\n" : "");
            last_print_ = now;
        }
    } else if (final || since >= interval_) {
        std::fprintf(stderr, "%s\n", line().c_str());
        last_print_ = now;
    }
    std::fflush(stderr);
}

void progress::finish() { print(true); }

}  // namespace dare
