// The options of dare's generation commands as CLI11 declarations, shared by
// the dare CLI and the Python package: the package turns keyword arguments
// into the same flags (limit=10 -> --limit 10), so both accept exactly the
// same options, with the same defaults, checks and messages.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "dare/jobs.h"
#include "dare/pipeline.h"

namespace dare {

// --chat-template (generate, run, pool build, bench, eval perplexity).
void add_chat_template_option(CLI::App * c, std::string & t);
// Model, mode, verification, repetition rules, draft budget, context and
// threads (generate and run); defaults: what `o` holds.
void add_decoding_options(CLI::App * c, generate_job_options & o);
// Every dare run option (dataset, target, out, limit, grouping, ... and the
// decoding options); --out is not marked required here.
void add_run_options(CLI::App * c, run_options & o);

// default_run_options() with `args` (flags as on the command line) applied;
// throws dare::error with CLI11's message on an unknown flag or a bad value.
run_options parse_run_options(const std::vector<std::string> & args);
// default_generate_options() with the decoding flags in `args` applied.
generate_job_options parse_decoding_options(const std::vector<std::string> & args);

}  // namespace dare
