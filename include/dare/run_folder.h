// The two sides of a dare run (docs/pipeline.md), shared by `dare run` and
// the distributed job (`python -m dare.ray run`, docs/scale.md):
//
// - run_folder, the writer: the one process that owns a run folder and
//   writes every file in it (knowledge.jsonl, errors.jsonl, run.json,
//   plan.json, pools/, summary.json), resumably.
// - run_worker, a model that generates given records of the run's plan
//   exactly as `dare run` writes them, drafting from a pool it is given, and
//   builds a group's pool from earlier records.
//
// Both take the options of `dare run` and compute the same plan (plan_run),
// so a record is named by its key ("kind:id") alone between them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dare/jsonl.h"
#include "dare/pipeline.h"
#include "dare/session.h"

namespace dare {

// RUNDIR/pools/KIND-GROUP (add .pool or .json).
std::string pool_stem(const std::string & rundir, const std::string & kind, const std::string & group);

// Tokenizes every planned record's prompt (filling planned_record::tokens)
// and removes those whose prompt cannot fit the session's context; returns
// one errors.jsonl row for each removed record (kind, id, group, phase,
// prompt_tokens, error).
json fit_prompts(const generation_session & session, std::vector<group_plan> & plan);
// Registers the plan's template openings (run_plan::prompt_starts) with the
// session's model (model::add_prompt_head), saying on stderr which ones are
// kept between records: `dare run` and every run_worker cut prompts alike.
void register_prompt_openings(generation_session & session, const run_plan & plan);

// The knowledge record `dare run` writes for a planned record once
// generated: kind, id, group, phase, prompt, the session's record fields,
// and health grounded against the dataset.
json run_record(const generation_session & session, const planned_record & r, const generation_result & res);

// The records a run's pools are seeded with, by "kind/group": those of
// --pool-from or --reuse-from (none without either).
std::map<std::string, std::vector<json>> seed_knowledge(const run_options & o);

// Adds to `pool` the prompt and text of each of `seeds`, then of each of
// `done` that is not a reused record (a reused record's text is among the
// seeds already). Checks for a stop request between records.
void fill_pool(const generation_session & session, token_index & pool, const std::vector<json> & seeds,
               const std::vector<const json *> & done);

class run_folder {
  public:
    // Takes the run folder's one-writer lock and refuses a folder made with
    // other settings (unless o.force). Writes nothing yet.
    run_folder(const run_options & o, const run_plan & plan);
    run_folder(const run_folder &) = delete;
    run_folder & operator=(const run_folder &) = delete;
    // Once the model is loaded (so that a model or context that fails to
    // load leaves no settings behind): writes run.json and plan.json and
    // opens knowledge.jsonl (cutting a torn last line left by a kill). The
    // calls below need it first.
    void begin();

    // Rewrites errors.jsonl with these rows (removes it when there are none)
    // and says how many on stderr.
    void write_errors(const json & errors);
    // --reuse-from: appends every planned record not yet done whose kind, id
    // and prompt the earlier run has, copied with this plan's group and phase
    // and "reused": true (refusing an earlier run made with other decoding
    // settings). Returns them. Without --reuse-from, none.
    const std::vector<json> & reuse(const std::vector<group_plan> & plan);
    // Records done so far by "kind/group" in file order: those in the file
    // when it was opened, then those reused. Pointers stay valid.
    std::map<std::string, std::vector<const json *>> done_by_group() const;

    bool contains(const std::string & key) const { return log().contains(key); }
    void append(const json & record) { log().append(record); }
    const std::vector<json> & existing() const { return log().existing(); }

    // Writes pools/KIND-GROUP.pool and its manifest (the records it holds).
    void save_pool(const std::string & kind, const std::string & group, const std::string & pool_bytes,
                   int64_t records) const;
    // The records the saved pool of a group holds (its manifest), or -1.
    int64_t saved_pool_records(const std::string & kind, const std::string & group) const;
    // Writes summary.json from knowledge.jsonl and returns it.
    json finish() const;

  private:
    record_log & log() const;

    run_options o_;
    run_plan plan_info_;  // settings and plan.json's content (no records)
    output_lock lock_;
    std::unique_ptr<record_log> out_;
    std::vector<json> reused_;
};

// A result of run_worker::generate: the records as `dare run` writes them,
// in the order asked, and the pool grown with them ("" for a mode that
// drafts from no pool).
struct shard_result {
    std::vector<json> records;
    std::string pool;
};

class run_worker {
  public:
    // Plans the run (plan_run: the dataset must be at the same path as for
    // the writer), loads the model, and drops the records that cannot fit
    // (prompt_errors()).
    explicit run_worker(const run_options & o);

    // The errors.jsonl rows of the plan (fit_prompts).
    const json & prompt_errors() const { return errors_; }
    // The pool a group's records draft from: the seed records of the group
    // (--pool-from, --reuse-from), then `done` (the group's records written
    // so far, in order), serialized; "" for a mode without pools.
    std::string group_pool(const std::string & kind, const std::string & group, const std::vector<json> & done);
    // Generates the planned records `keys` ("kind:id", all of one group, in
    // this order), drafting from `pool` (serialized; "" for an empty pool),
    // decoding --parallel at a time. Throws dare::error on a key that is not
    // in the plan or records of several groups.
    shard_result generate(const std::vector<std::string> & keys, const std::string & pool);

  private:
    run_options o_;
    run_plan plan_;
    generation_session session_;
    json errors_;
    std::map<std::string, const planned_record *> by_key_;
    std::map<std::string, std::vector<json>> seeds_;
    bool seeds_loaded_ = false;
};

}  // namespace dare
