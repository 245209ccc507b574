// Graceful stop on SIGINT and SIGTERM for long jobs (run, generate, encode).
// The CLI installs the handlers once; the handler only records the signal.
// Decoding loops call throw_if_stopped() once per step (and the jobs once per
// record), so the records in flight are dropped, every finished record is
// already on disk (one write per line), and the job unwinds through its
// destructors (locks released, files closed). The CLI then prints how to
// resume and exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). A
// second signal while stopping ends the process at once with the same code;
// nothing is lost, since output lines are written whole and a torn last line
// is repaired on the rerun.
#pragma once

#include <string>

#include "dare/error.h"

namespace dare {

// Thrown by throw_if_stopped(); `signal` is the signal number received.
class interrupted : public error {
  public:
    interrupted(int sig, const std::string & what) : error(what), signal(sig) {}
    int signal;
};

// Installs the SIGINT and SIGTERM handlers (idempotent), and ignores SIGXFSZ
// so that a write past a file-size limit fails (EFBIG) like a write to a full
// disk. Without it no stop is ever requested, so library users and tests are
// unaffected.
void install_stop_handlers();
// The signal received, or 0.
int stop_signal();
// Throws dare::interrupted when a stop was requested.
void throw_if_stopped();
// Records a stop as if `sig` had arrived (tests).
void request_stop(int sig);
// Clears a recorded stop (tests).
void clear_stop();

}  // namespace dare
