// One model loaded with one decoding setup (mode, verification, draft budget,
// context): the part `dare generate` and `dare run` share. It validates the
// options up front, turns prompts into tokens through the chat template,
// checks that they fit, generates a record (vanilla or speculative, drafting
// from a pool when given) and describes it as the JSON fields every output
// record carries.
#pragma once

#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dare/batched.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"

namespace dare {

class generation_session {
  public:
    // Uses o.model, o.mode, o.verify, o.spec, o.auto_budget, o.gen, o.n_ctx,
    // o.n_threads, o.parallel, o.health_guard, o.kv_layout, o.chat_template,
    // o.verbose and o.step_log; throws dare::error on bad options before
    // loading anything expensive.
    explicit generation_session(const generate_job_options & o);
    ~generation_session();
    // Whether o's records are decoded one at a time (--parallel 1, or auto
    // with sampled decoding), known before anything is loaded.
    static bool one_at_a_time(const generate_job_options & o);

    const model & get_model() const { return *model_; }
    bool speculative() const { return o_.mode != "vanilla"; }
    bool drafts_from_pool() const { return o_.mode == "dare"; }

    std::vector<token> prompt_tokens(const std::string & prompt) const;
    std::vector<token> text_tokens(const std::string & text) const;
    // model::add_prompt_head: before the first record.
    size_t add_prompt_head(const std::string & text_start) { return model_->add_prompt_head(text_start); }
    // Throws dare::error when the prompt plus --max-tokens (plus the draft
    // tree's room) cannot fit the context.
    void check_fits(size_t n_prompt_tokens) const;

    // Generates one record; `pool` (dare mode) is drafted from and grows with
    // the prompt and the kept text (as the tokens of the text, so that a
    // resumed run rebuilds exactly this pool from knowledge.jsonl). `prompt_text` is the prompt before the chat
    // template: with relaxed verification and o.health_guard, a text that is
    // echo-only or looped against it (health.h) is generated again with
    // strict verification (result.regenerated; its stats add both attempts'
    // work, so timings stay whole), and only the text kept enters the pool.
    // One record at a time on the batch-invariant layout, strict decoding
    // continues from the text's strict prefix (generation_result::
    // strict_prefix) on the same KV cache instead of starting over.
    // A degenerate text that never left the argmax on the batch-invariant
    // layout is strict's own and stays (result.guard "strict_text").
    generation_result generate(std::span<const token> prompt, const std::string & prompt_text,
                               const std::string & record_id, token_index * pool);

    // Generates records 0..n-1 (record(i) gives its prompt tokens and text,
    // id and pool), o.parallel at a time (0: auto, budget.h choose_parallel
    // on the layout's cost curve) with continuous batching, calling
    // on_done(i, result) as each finishes (completion order). One at a time
    // it is generate() in a loop. The health guard applies
    // to batched records too (their regeneration runs one at a time, from
    // the start).
    struct record_ref {
        std::span<const token> prompt;
        std::string prompt_text;
        std::string id;
        token_index * pool = nullptr;
    };
    void generate_many(size_t n, const std::function<record_ref(size_t)> & record,
                       const std::function<void(size_t, generation_result &&)> & on_done);
    // Puts a record's prompt and text back into a pool (resuming a run).
    void reinsert(token_index & pool, const std::string & prompt, const std::string & text) const;

    // text, tokens, forward_passes, tau, prompt_tokens, stop, draft_tokens,
    // accepted_tokens, *_seconds, mode, verify, temperature, model; with
    // relaxed verification also "relaxed" (off-argmax acceptances, prompt
    // copies and EOG among them, guard refusals) and "guard" ("regenerated"
    // or "passed"); one record at a time with greedy speculation also
    // "draft_estimate" (the decoder's estimate after the record).
    json record_fields(const generation_result & r) const;
    // A record as dare generate writes it: {"id", "prompt"}, record_fields()
    // and "health" (health.h, against the prompt).
    json record_json(const json & id, const std::string & prompt, const generation_result & r) const;
    // Resuming: the one-record decoder's draft-size estimate as the last of
    // the records already written left it (its "draft_estimate"), so that
    // the records still to do are decoded as in an uninterrupted run. No-op
    // without records or when the last has none (batched, vanilla, sampled).
    void restore_draft_estimate(const std::vector<json> & written);

  private:
    bool guarded() const;
    // guard() when the health guard is on, then the kept text goes into the
    // pool as its text's tokens (what reinsert() puts back on a resume).
    void guard_and_commit(std::span<const token> prompt, const std::string & prompt_text, const generation_options & g,
                          token_index * pool, bool exact_until_departure, bool resumable, generation_result & r);
    // The health guard's check and, when the text fails it, the strict
    // regeneration. `exact_until_departure`: the text was decoded on the
    // batch-invariant layout with strict's KV order up to its first
    // off-argmax token, so a text without one is strict's own.
    // `resumable`: the one-record context still holds the prompt and the
    // text (one record at a time), so the regeneration continues from the
    // text's strict prefix; otherwise it starts over.
    void guard(std::span<const token> prompt, const std::string & prompt_text, const generation_options & g,
               bool exact_until_departure, bool resumable, generation_result & r);
    speculative_decoder & strict_decoder();
    // The batched context and decoder, made on first use and made again
    // when a call's records need more KV cells each than it has. Each
    // record's stream gets `cells_per_record` (the call's longest prompt,
    // --max-tokens and a draft chain) rounded up to llama.cpp's 256, at
    // most --ctx: llama.cpp allocates and clears the whole context up
    // front, and 64 streams of --ctx 2048 cells are 3 GB for the default
    // model where its item prompts need 256 cells each.
    batched_decoder & batched_for(size_t cells_per_record);

    generate_job_options o_;
    speculative_options spec_;
    std::unique_ptr<model> model_;
    std::unique_ptr<context> ctx_;
    std::unique_ptr<vanilla_decoder> vanilla_;
    std::unique_ptr<speculative_decoder> spec_dec_;
    context_options batch_co_;            // --parallel > 1: the batched context's options but its size
    std::unique_ptr<context> batch_ctx_;  // made by batched_for
    std::unique_ptr<batched_decoder> batched_;
    uint32_t batch_cells_ = 0;                 // KV cells per record of batch_ctx_
    std::unique_ptr<std::ofstream> step_log_;  // --step-log
    std::unique_ptr<context> strict_ctx_;  // the guard's regenerations (batch-invariant layout)
    std::unique_ptr<speculative_decoder> strict_dec_;
    std::unique_ptr<speculative_decoder> resume_dec_;  // strict, on ctx_: continues a relaxed record (the guard)
    bool invariant_layout_ = false;  // the decoding contexts (one-record and batched) have the batch-invariant layout
    int32_t parallel_ = 1;           // records decoded together (o.parallel, auto resolved)
    std::string model_name_;
};

}  // namespace dare
