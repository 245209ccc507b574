// Progress for long runs on stderr: an in-place line (done/total, tokens/s,
// tau, records per hour of this invocation, ETA) when stderr is a terminal, a plain log line every few seconds
// otherwise (CI logs, nohup files).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dare {

class progress {
  public:
    // `already_done` records were finished by an earlier run (resume): they
    // count toward done/total but not toward the speed.
    progress(std::string label, int64_t total, int64_t already_done = 0, double log_interval_s = 10.0);
    // One more record finished with these many tokens and forward passes.
    void record_done(int64_t tokens, int64_t forward_passes);
    // Prints the final line (always, terminal or not).
    void finish();
    std::string line() const;

  private:
    void print(bool final);
    std::string label_;
    int64_t total_;
    int64_t done_;
    int64_t done_here_ = 0;
    int64_t tokens_ = 0;
    int64_t passes_ = 0;
    bool tty_;
    double interval_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_print_;
};

}  // namespace dare
