// generation_session: see dare/session.h.
#include "dare/session.h"

#include <filesystem>

#include "dare/budget.h"
#include "dare/error.h"

namespace dare {

generation_session::generation_session(const generate_job_options & o) : o_(o) {
    if (o.mode != "vanilla" && o.mode != "pld" && o.mode != "dare") {
        throw error("--mode must be vanilla, pld or dare (got '" + o.mode + "')");
    }
    if (o.gen.max_tokens < 1) {
        throw error("--max-tokens must be at least 1");
    }
    spec_ = o.spec;
    spec_.verify.mode = parse_verify_mode(o.verify);
    if (spec_.verify.mode == verify_mode::sample) {
        spec_.verify.temperature = o.gen.temperature;
    } else if (o.mode != "vanilla" && o.gen.temperature > 0) {
        throw error("--temperature > 0 with --mode " + o.mode + " needs --verify sample");
    }
    spec_.verify.validate();
    model_options mo;
    mo.verbose = o.verbose;
    model_ = std::make_unique<model>(o.model, mo);
    // Plain decoding keeps the invariant layout too: it is the reference strict runs reproduce.
    const kv_layout layout =
        speculative() ? layout_for(spec_.verify.mode, false) : kv_layout::batch_invariant;
    if (speculative() && o.auto_budget) {
        spec_.cost = load_or_measure_cost_curve(*model_, o.n_threads, true, layout);
    }
    context_options co;
    co.n_ctx = o.n_ctx;
    co.n_threads = o.n_threads;
    co.layout = layout;
    co.n_seq_max = speculative() ? speculative_seq_max(spec_.limits) : 1;
    ctx_ = std::make_unique<context>(*model_, co);
    vanilla_ = std::make_unique<vanilla_decoder>(*ctx_);
    if (speculative()) {
        spec_dec_ = std::make_unique<speculative_decoder>(*ctx_, spec_);
    }
    if (o.parallel < 1) {
        throw error("--parallel must be at least 1");
    }
    if (o.parallel > 1) {
        context_options bc = co;
        bc.layout = speculative() ? layout_for(spec_.verify.mode, true) : kv_layout::batch_invariant;
        bc.n_ctx = o.n_ctx * static_cast<uint32_t>(o.parallel);
        bc.n_seq_max = batched_seq_max(o.parallel);
        batch_ctx_ = std::make_unique<context>(*model_, bc);
        batched_options bo;
        bo.parallel = o.parallel;
        bo.spec = spec_;
        if (speculative() && o.auto_budget) {
            bo.spec.cost = load_or_measure_cost_curve(*model_, o.n_threads, true, bc.layout);
        }
        bo.speculate = speculative();
        batched_ = std::make_unique<batched_decoder>(*batch_ctx_, bo);
    }
    model_name_ = std::filesystem::path(o.model).filename().string();
}

generation_session::~generation_session() = default;

std::vector<token> generation_session::prompt_tokens(const std::string & prompt) const {
    return o_.raw_prompt ? model_->tokenize(prompt, true, false)
                         : model_->tokenize(model_->apply_chat_template({{"user", prompt}}, true), true, true);
}

std::vector<token> generation_session::text_tokens(const std::string & text) const {
    return model_->tokenize(text, false, false);
}

void generation_session::check_fits(size_t n_prompt_tokens) const {
    const size_t slack = speculative() ? static_cast<size_t>(spec_.limits.max_nodes) : 0;
    check_fits_context(*ctx_, n_prompt_tokens + slack, o_.gen.max_tokens);
}

generation_result generation_session::generate(std::span<const token> prompt, const std::string & record_id,
                                               token_index * pool) {
    generation_options g = o_.gen;
    g.seed = record_seed(o_.gen.seed, record_id);
    return speculative() ? spec_dec_->generate(prompt, g, pool) : vanilla_->generate(prompt, g);
}

void generation_session::generate_many(size_t n, const std::function<record_ref(size_t)> & record,
                                       const std::function<void(size_t, generation_result &&)> & on_done) {
    if (!batched_) {
        for (size_t i = 0; i < n; ++i) {
            const record_ref r = record(i);
            on_done(i, generate(r.prompt, r.id, r.pool));
        }
        return;
    }
    // Batched records are greedy (strict or relaxed): no per-record seed to set.
    // pld drafts from each record's own context, so it gets no pool.
    batched_->run(
        n,
        [&](size_t i) {
            const record_ref r = record(i);
            return batched_record{r.prompt, drafts_from_pool() ? r.pool : nullptr};
        },
        o_.gen, on_done);
}

void generation_session::reinsert(token_index & pool, const std::string & prompt, const std::string & text) const {
    pool.insert(prompt_tokens(prompt), token_source::prompt);
    pool.insert(text_tokens(text), token_source::output);
}

json generation_session::record_fields(const generation_result & r) const {
    return {{"text", r.text},
            {"tokens", r.stats.tokens},
            {"forward_passes", r.stats.forward_passes},
            {"tau", r.stats.tau()},
            {"prompt_tokens", r.stats.prompt_tokens},
            {"stop", r.stopped_at_eog ? "eog" : "max_tokens"},
            {"draft_tokens", r.stats.draft_tokens},
            {"accepted_tokens", r.stats.accepted_tokens},
            {"prefill_seconds", r.stats.prefill_seconds},
            {"retrieval_seconds", r.stats.retrieval_seconds},
            {"verify_seconds", r.stats.verify_seconds},
            {"decode_seconds", r.stats.decode_seconds},
            {"seconds", r.stats.seconds},
            {"mode", o_.mode},
            {"verify", speculative() ? verify_mode_name(spec_.verify.mode) : "none"},
            {"temperature", o_.gen.temperature},
            {"model", model_name_}};
}

}  // namespace dare
