// One model loaded with one decoding setup (mode, verification, draft budget,
// context): the part `dare generate` and `dare run` share. It validates the
// options up front, turns prompts into tokens through the chat template,
// checks that they fit, generates a record (vanilla or speculative, drafting
// from a pool when given) and describes it as the JSON fields every output
// record carries.
#pragma once

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
    // o.n_threads, o.raw_prompt and o.verbose; throws dare::error on bad
    // options before loading anything expensive.
    explicit generation_session(const generate_job_options & o);
    ~generation_session();

    const model & get_model() const { return *model_; }
    bool speculative() const { return o_.mode != "vanilla"; }
    bool drafts_from_pool() const { return o_.mode == "dare"; }

    std::vector<token> prompt_tokens(const std::string & prompt) const;
    std::vector<token> text_tokens(const std::string & text) const;
    // Throws dare::error when the prompt plus --max-tokens (plus the draft
    // tree's room) cannot fit the context.
    void check_fits(size_t n_prompt_tokens) const;

    // Generates one record; `pool` (dare mode) is drafted from and grows with
    // the prompt and output.
    generation_result generate(std::span<const token> prompt, const std::string & record_id, token_index * pool);

    // Generates records 0..n-1 (record(i) gives its prompt tokens, id and
    // pool), o.parallel at a time with continuous batching, calling
    // on_done(i, result) as each finishes (completion order). With
    // o.parallel == 1 it is generate() in a loop.
    struct record_ref {
        std::span<const token> prompt;
        std::string id;
        token_index * pool = nullptr;
    };
    void generate_many(size_t n, const std::function<record_ref(size_t)> & record,
                       const std::function<void(size_t, generation_result &&)> & on_done);
    // Puts a record's prompt and text back into a pool (resuming a run).
    void reinsert(token_index & pool, const std::string & prompt, const std::string & text) const;

    // text, tokens, forward_passes, tau, prompt_tokens, stop, draft_tokens,
    // accepted_tokens, *_seconds, mode, verify, temperature, model.
    json record_fields(const generation_result & r) const;

  private:
    generate_job_options o_;
    speculative_options spec_;
    std::unique_ptr<model> model_;
    std::unique_ptr<context> ctx_;
    std::unique_ptr<vanilla_decoder> vanilla_;
    std::unique_ptr<speculative_decoder> spec_dec_;
    std::unique_ptr<context> batch_ctx_;  // --parallel > 1
    std::unique_ptr<batched_decoder> batched_;
    std::string model_name_;
};

}  // namespace dare
