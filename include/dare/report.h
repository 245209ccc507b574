// `dare report RUNDIR`: the run's summary as a text table (per group and
// phase: records, tau, tokens/s) and report.html, a self-contained page with
// SVG bar charts of tau and tokens/s per group and phase (viewable offline).
#pragma once

#include <string>

#include "dare/jsonl.h"

namespace dare {

// The table for a summary (as summarize_run returns it).
std::string report_table(const json & summary);

// The HTML page for a summary.
std::string report_html(const json & summary);

// Recomputes the summary from RUNDIR, writes RUNDIR/report.html, returns the table.
std::string report_run(const std::string & rundir);

}  // namespace dare
