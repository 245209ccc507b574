// Graceful stop on SIGINT and SIGTERM for long jobs (run, generate, encode).
// The CLI installs the handlers in those commands only (the others keep the
// default: a signal ends them); the handler only records the signal.
// Decoding loops call throw_if_stopped() once per step, encoding once per
// batch, and the jobs between records and in their planning and pool-rebuild
// loops, so the records in flight are dropped, every finished record is
// already on disk (one write per line), and the job unwinds through its
// destructors (locks released, files closed). The CLI then prints how to
// resume and exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). A
// second signal while stopping ends the process at once with 128 + that
// second signal; nothing is lost, since output lines are written whole and a
// torn last line is repaired on the rerun.
#pragma once

#include <memory>
#include <string>

#include "dare/error.h"

namespace dare {

// Thrown by throw_if_stopped(); `signal` is the signal number received.
class interrupted : public error {
  public:
    interrupted(int sig, const std::string & what) : error(what), signal(sig) {}
    int signal;
};

// Installs the SIGINT and SIGTERM handlers (idempotent). Without it no stop
// is ever requested, so library users and tests are unaffected.
void install_stop_handlers();
// Ignores SIGXFSZ, so that a write past a file-size limit (ulimit -f) fails
// with EFBIG and is reported like a write to a full disk instead of killing
// the process.
void ignore_file_size_signal();
// Installs the SIGINT and SIGTERM handlers for its lifetime (after clearing
// any recorded stop; a signal found ignored stays ignored) and, when it
// ends, puts back the handlers it found and clears the recorded stop (read
// stop_signal() before): a host such as the Python interpreter keeps its own
// handling outside the calls that need dare's.
class scoped_stop_handlers {
  public:
    scoped_stop_handlers();
    ~scoped_stop_handlers();
    scoped_stop_handlers(const scoped_stop_handlers &) = delete;
    scoped_stop_handlers & operator=(const scoped_stop_handlers &) = delete;

  private:
    struct saved;
    std::unique_ptr<saved> saved_;
};
// The signal received, or 0.
int stop_signal();
// Throws dare::interrupted when a stop was requested.
void throw_if_stopped();
// Records a stop as if `sig` had arrived (tests).
void request_stop(int sig);
// Clears a recorded stop (tests).
void clear_stop();

}  // namespace dare
