// `dare run`: knowledge for a whole dataset's users and/or items, with one
// retrieval pool per group of similar records (DARE's customized pools).
//
// Plan: load the dataset; group users (collaborative) and items (attribute),
// or randomly, or not at all; pick the records (all, or a seeded sample of
// --limit); generate every group's warm-up share first (the records' own
// prompts, as in every mode: only the order differs) and then the rest,
// every prompt and output going into its group's pool as it completes; with --parallel B a batch
// takes records of several groups, each drafting from its own group's pool. --pool-from OLD_RUNDIR seeds
// each group's pool from an earlier run's knowledge of the same group and
// skips the warm-up phase. --top-items N restricts items to the N most-rated
// and user histories to ratings of them; --test-fraction F keeps each user's
// last F of those ratings (the test part `dare eval ctr` scores, same rule)
// out of the user prompts, so knowledge never sees a test interaction.
//
// RUNDIR: run.json (settings; a rerun with other settings is refused unless
// force), knowledge.jsonl (one flushed line per record; a rerun resumes it,
// repairing a torn last line), pools/<kind>-<group>.pool (+ .json with the
// number of records it holds; reloaded on resume when current, else rebuilt
// from the records), summary.json (totals and per-group figures; "errors":
// how many records could not be generated), errors.jsonl (only when some
// could not: one line per record with kind, id, group, phase and the reason,
// e.g. a prompt longer than the context; the job generates the others).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dare/health.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"

namespace dare {

struct run_options {
    std::string dataset;              // folder; see load_dataset
    std::string target = "both";      // items | users | both
    std::string out;                  // RUNDIR
    int64_t limit = 0;                // records in all, warm-up included (0 = every record)
    int32_t top_items = 0;            // only the N most-rated items, and user histories over them (0 = all)
    double test_fraction = 0.0;       // keep each user's last share of ratings (time_split) out of prompts
    generate_job_options gen;         // model, mode, verify, budget, max tokens, threads... (prompts/out/pool unused)
    std::string index = "trie";       // pool index kind: trie | suffix
    index_options index_opts;
    std::string grouping = "customized";  // customized | random | none
    int32_t user_groups = 3;
    std::string genre_groups;         // JSON genre -> group map (default: the MovieLens map)
    double warmup_fraction = 0.5;
    int history_max = 30;
    std::string templates;            // JSON {"item", "user"} prompt templates (default: KAR)
    std::string pool_from;            // an earlier RUNDIR whose knowledge seeds the pools
    // Incremental refresh: an earlier RUNDIR made with the same decoding
    // settings; each of its records whose prompt is unchanged is copied
    // ("reused": true) instead of generated, and its knowledge seeds the pools
    // (as pool_from). Throws dare::error when its decoding settings differ.
    std::string reuse_from;
    uint64_t seed = 42;               // sampling (--limit), grouping
    bool strict_input = false;
    bool force = false;               // accept settings that differ from RUNDIR/run.json
};

// dare run's defaults: the bundled dataset, default_generate_options()
// (jobs.h) with DARE mode and relaxed verification. (A default-constructed
// run_options is plain decoding with strict settings: the building block.)
run_options default_run_options();

// One record of a run's plan.
struct planned_record {
    std::string kind;   // item | user
    std::string id;
    std::string group;
    std::string phase;  // warmup | main
    std::string prompt;
    std::vector<token> tokens;  // filled by run_pipeline once the model is loaded
    grounding_ref ground;       // what the record's text is checked against (health.h)
};

// One group of a run's plan: its warm-up records first.
struct group_plan {
    std::string kind, name;
    int64_t dataset_size = 0;  // records of this group in the whole dataset
    std::vector<planned_record> records;
    int64_t warmup = 0;
};

struct run_plan {
    json settings;      // what run.json holds
    json dataset_info;  // plan.json's "dataset": name, format, sizes, malformed rows
    json group_info;    // plan.json's "groups": kind, group, dataset_size, selected, warmup
    std::vector<group_plan> groups;  // item groups, then user groups
    // The templates' text before their first placeholder, of each kind the
    // run has (template_start): openings every prompt of that kind shares.
    std::vector<std::string> prompt_starts;
};

// What `dare run` will do, without a model and without writing anything:
// checks the options, loads the dataset, templates and genre map, groups and
// samples the records and writes their prompts. Logs the dataset and groups
// to stderr.
// Throws dare::error on bad options or input.
run_plan plan_run(const run_options & o);

// Runs (or resumes) the job (plan_run, then generation) and returns the
// summary written to summary.json.
json run_pipeline(const run_options & o);

// Recomputes summary.json's figures from a RUNDIR's knowledge.jsonl.
json summarize_run(const std::string & rundir);

// The same from records given one by one (fn(record, line) for each);
// RUNDIR supplies run.json and plan.json.
using record_source = std::function<void(const std::function<void(const json &, long)> &)>;
json summarize_records(const std::string & rundir, const record_source & each);

// The ratings a user prompt lists from the user's history (as the run sees
// it): the last history_max of it, or of its earlier half with earlier_half
// (the warm-up user prompts of run folders made before run.json's
// "warmup_history" setting).
std::span<const int32_t> prompt_history(std::span<const int32_t> history, bool earlier_half, int history_max);

// `dare eval health RUNDIR`: every record's health measured again with the
// current definitions (health.h), grounded against the run's dataset (from
// run.json, or `dataset_dir`), and the summary over them; with `write`,
// knowledge.jsonl (atomically) and summary.json are rewritten with it.
// Throws dare::error naming FILE:LINE on a record that is not in the dataset.
json reassess_health(const std::string & rundir, const std::string & dataset_dir, bool write);

}  // namespace dare
