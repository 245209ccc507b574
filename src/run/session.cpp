// generation_session: see dare/session.h.
#include "dare/session.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include "dare/budget.h"
#include "dare/error.h"
#include "dare/health.h"
#include "dare/signals.h"

namespace dare {

bool generation_session::one_at_a_time(const generate_job_options & o) {
    // Batches decode greedily: with auto, sampled records go one at a time.
    return o.parallel == 1 ||
           (o.parallel == 0 && (parse_verify_mode(o.verify) == verify_mode::sample || o.gen.temperature > 0));
}

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
    o.gen.repetition.validate();
    model_options mo;
    mo.verbose = o.verbose;
    mo.chat_template = o.chat_template;
    model_ = std::make_unique<model>(o.model, mo);
    // Plain decoding keeps the invariant layout too: it is the reference strict runs reproduce.
    const bool fixed_layout = o.kv_layout != "auto";
    const kv_layout layout = fixed_layout ? parse_kv_layout(o.kv_layout) : kv_layout::batch_invariant;
    if (speculative() && o.auto_budget) {
        spec_.cost = load_or_measure_cost_curve(*model_, o.n_threads, true, layout);
    }
    invariant_layout_ = layout == kv_layout::batch_invariant;
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
    if (o.parallel < 0) {
        throw error("--parallel must be auto or at least 1");
    }
    // Batches of records keep the one-record layout (the batch-invariant
    // one unless --kv-layout fixes another), with one KV stream per record:
    // plain and strict texts are those of one record at a time, and a
    // relaxed text is strict's until its first off-argmax token (the guard
    // keeps such texts without regenerating them).
    parallel_ = o.parallel;
    if (parallel_ == 0) {
        const bool sampled = one_at_a_time(o);
        // KV cells of B records in a quarter of this machine's memory at most.
        const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        const uint64_t memory = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
        const int32_t fits = memory > 0 ? parallel_fitting_memory(model_->info(), o.n_ctx, memory) : 64;
        parallel_ = sampled ? 1
                            : choose_parallel(spec_.cost.empty()
                                                  ? load_or_measure_cost_curve(*model_, o.n_threads, true, layout)
                                                  : spec_.cost,
                                              std::min(64, fits));
        std::fprintf(stderr, "--parallel auto: %d at a time (%s%s)\n", parallel_,
                     sampled ? "sampled records are decoded one at a time"
                             : "records decoded together, from this machine's cost curve",
                     !sampled && fits < 64 && parallel_ >= fits
                         ? ", capped so that their KV cells fit in a quarter of its memory"
                         : "");
    }
    if (!o.step_log.empty()) {  // only the header when auto chose one record at a time
        step_log_ = std::make_unique<std::ofstream>(o.step_log);
        if (!*step_log_) {
            throw error(o.step_log + ": cannot write the step log");
        }
        *step_log_ << "step\t" << batched_step_header << '\n';
    }
    batch_co_ = co;
    model_name_ = std::filesystem::path(o.model).filename().string();
}

generation_session::~generation_session() = default;

batched_decoder & generation_session::batched_for(size_t cells_per_record) {
    constexpr size_t kv_pad = 256;  // llama.cpp rounds a stream's cells up to this
    const auto cells =
        static_cast<uint32_t>(std::min<size_t>(o_.n_ctx, (cells_per_record + kv_pad - 1) / kv_pad * kv_pad));
    if (batched_ && cells <= batch_cells_) {
        return *batched_;
    }
    batched_.reset();
    batch_ctx_.reset();
    context_options bc = batch_co_;
    set_batched_context(bc, parallel_, cells);
    batch_ctx_ = std::make_unique<context>(*model_, bc);
    batch_cells_ = cells;
    batched_options bo;
    bo.parallel = parallel_;
    bo.spec = spec_;  // the cost curve too: the same layout
    bo.speculate = speculative();
    bo.insert_output = false;  // guard_and_commit inserts the text kept
    if (step_log_) {
        bo.on_step = [this, step = int64_t{0}](const batched_step & st) mutable {
            *step_log_ << step++ << '\t';
            write_batched_step(*step_log_, st);
            *step_log_ << '\n';
        };
    }
    batched_ = std::make_unique<batched_decoder>(*batch_ctx_, bo);
    return *batched_;
}

std::vector<token> generation_session::prompt_tokens(const std::string & prompt) const {
    return model_->prompt_tokens(prompt);
}

std::vector<token> generation_session::text_tokens(const std::string & text) const {
    return model_->tokenize(text, false, false);
}

void generation_session::check_fits(size_t n_prompt_tokens) const {
    const size_t slack = speculative() ? static_cast<size_t>(spec_.limits.max_nodes) : 0;
    check_fits_context(*ctx_, n_prompt_tokens + slack, o_.gen.max_tokens);
}

bool generation_session::guarded() const {
    return speculative() && o_.health_guard && spec_.verify.mode == verify_mode::relaxed;
}

speculative_decoder & generation_session::strict_decoder() {
    if (!strict_dec_) {
        speculative_options so = spec_;
        so.verify.mode = verify_mode::strict;
        const kv_layout layout = kv_layout::batch_invariant;
        if (o_.auto_budget) {
            so.cost = load_or_measure_cost_curve(*model_, o_.n_threads, true, layout);
        }
        context_options co;
        co.n_ctx = o_.n_ctx;
        co.n_threads = o_.n_threads;
        co.layout = layout;
        co.n_seq_max = speculative_seq_max(so.limits);
        strict_ctx_ = std::make_unique<context>(*model_, co);
        strict_dec_ = std::make_unique<speculative_decoder>(*strict_ctx_, so);
    }
    return *strict_dec_;
}

void generation_session::guard_and_commit(std::span<const token> prompt, const std::string & prompt_text,
                                          const generation_options & g, token_index * pool, bool exact_until_departure,
                                          bool resumable, generation_result & r) {
    if (guarded()) {
        guard(prompt, prompt_text, g, exact_until_departure, resumable, r);
    }
    if (pool) {
        // The kept text's tokens as a resumed run reads them back from
        // knowledge.jsonl (reinsert), so that a rebuilt pool is this one.
        pool->insert(text_tokens(r.text), token_source::output);
    }
}

void generation_session::guard(std::span<const token> prompt, const std::string & prompt_text,
                               const generation_options & g, bool exact_until_departure, bool resumable,
                               generation_result & r) {
    r.guard = "passed";
    // A text that never took a token off the argmax is strict's own (relaxed
    // verification keeps strict's KV order until then, on the same layout):
    // plain decoding would have written it too, healthy or not.
    const bool strict_text = exact_until_departure && r.stats.off_argmax == 0;
    if (!measure_health(prompt_text, r.text).healthy()) {
        r.guard = strict_text ? "strict_text" : "regenerated";
    }
    if (r.guard == std::string("regenerated")) {
        // Drafts from the record's own prompt and output only: the prompt is
        // in the pool already, and strict text does not depend on drafts.
        // Relaxed decoding on the batch-invariant layout left the one-record
        // context holding the prompt and strict's own first tokens in
        // strict's KV order: strict decoding continues from there, so neither
        // the prompt nor those tokens are decoded again.
        generation_result s;
        if (resumable && r.strict_prefix > 0) {
            if (!resume_dec_) {
                speculative_options so = spec_;
                so.verify.mode = verify_mode::strict;
                resume_dec_ = std::make_unique<speculative_decoder>(*ctx_, so);
            }
            const auto prefix = std::span<const token>(r.tokens).first(static_cast<size_t>(r.strict_prefix));
            s = resume_dec_->resume_strict(prompt, prefix, g);
            if (g.record_gaps) {
                std::copy(r.gaps.begin(), r.gaps.begin() + static_cast<long>(prefix.size()), s.gaps.begin());
            }
        } else {
            s = strict_decoder().generate(prompt, g, nullptr);
        }
        const generation_stats & a = r.stats;
        generation_stats & b = s.stats;
        b.forward_passes += a.forward_passes;
        b.draft_tokens += a.draft_tokens;
        b.accepted_tokens += a.accepted_tokens;
        b.redecoded_tokens += a.redecoded_tokens;
        b.prefill_seconds += a.prefill_seconds;
        b.retrieval_seconds += a.retrieval_seconds;
        b.verify_seconds += a.verify_seconds;
        b.decode_seconds += a.decode_seconds;
        b.seconds += a.seconds;
        b.off_argmax = a.off_argmax;
        b.off_argmax_copies = a.off_argmax_copies;
        b.off_argmax_eog = a.off_argmax_eog;
        b.refused = a.refused;
        r = std::move(s);
        r.regenerated = true;
        r.guard = "regenerated";
    }
}

generation_result generation_session::generate(std::span<const token> prompt, const std::string & prompt_text,
                                               const std::string & record_id, token_index * pool) {
    generation_options g = o_.gen;
    g.seed = record_seed(o_.gen.seed, record_id);
    if (!speculative()) {
        return vanilla_->generate(prompt, g);
    }
    generation_result r = spec_dec_->generate(prompt, g, pool, false);
    guard_and_commit(prompt, prompt_text, g, pool, invariant_layout_, invariant_layout_, r);
    return r;
}

void generation_session::generate_many(size_t n, const std::function<record_ref(size_t)> & record,
                                       const std::function<void(size_t, generation_result &&)> & on_done) {
    if (parallel_ <= 1) {
        for (size_t i = 0; i < n; ++i) {
            throw_if_stopped();
            const record_ref r = record(i);
            on_done(i, generate(r.prompt, r.prompt_text, r.id, r.pool));
        }
        return;
    }
    // Batched records are greedy (strict or relaxed): no per-record seed to set.
    // pld drafts from each record's own context, so it gets no pool.
    if (n == 0) {
        return;
    }
    std::vector<record_ref> refs(n);
    size_t longest = 0;
    for (size_t i = 0; i < n; ++i) {
        refs[i] = record(i);
        longest = std::max(longest, refs[i].prompt.size());
    }
    // The engine's room per record: prompt, output, a draft chain and one more.
    batched_decoder & batched =
        batched_for(longest + static_cast<size_t>(o_.gen.max_tokens + spec_.limits.max_depth) + 1);
    batched.run(
        n,
        [&](size_t i) {
            return batched_record{refs[i].prompt, drafts_from_pool() ? refs[i].pool : nullptr};
        },
        o_.gen,
        [&](size_t i, generation_result && res) {
            generation_options g = o_.gen;
            g.seed = record_seed(o_.gen.seed, refs[i].id);
            // On the batch-invariant layout a batched relaxed text keeps strict's
            // order until its first off-argmax token, as one record at a time.
            guard_and_commit(refs[i].prompt, refs[i].prompt_text, g, drafts_from_pool() ? refs[i].pool : nullptr,
                             invariant_layout_, false, res);
            on_done(i, std::move(res));
        });
}

void generation_session::reinsert(token_index & pool, const std::string & prompt, const std::string & text) const {
    pool.insert(prompt_tokens(prompt), token_source::prompt);
    pool.insert(text_tokens(text), token_source::output);
}

json generation_session::record_fields(const generation_result & r) const {
    json j = {{"text", r.text},
            {"tokens", r.stats.tokens},
            {"forward_passes", r.stats.forward_passes},
            {"tau", r.stats.tau()},
            {"prompt_tokens", r.stats.prompt_tokens},
            {"prompt_tokens_reused", r.stats.prompt_tokens_reused},
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
    if (speculative() && spec_.verify.mode == verify_mode::relaxed) {
        j["relaxed"] = {{"rule", relaxed_rule_name(spec_.verify.rule)},
                        {"off_argmax", r.stats.off_argmax},
                        {"copies", r.stats.off_argmax_copies},
                        {"eog", r.stats.off_argmax_eog},
                        {"refused", r.stats.refused}};
    }
    if (r.guard) {
        j["guard"] = r.guard;
    }
    if (spec_dec_ && parallel_ <= 1 && spec_.verify.mode != verify_mode::sample) {
        j["draft_estimate"] = {spec_dec_->estimate().predicted, spec_dec_->estimate().accepted};
    }
    return j;
}

json generation_session::record_json(const json & id, const std::string & prompt, const generation_result & r) const {
    json rec = {{"id", id}, {"prompt", prompt}};
    rec.update(record_fields(r));
    rec["health"] = health_json(measure_health(prompt, r.text));
    return rec;
}

void generation_session::restore_draft_estimate(const std::vector<json> & written) {
    if (written.empty()) {
        return;
    }
    const auto it = written.back().find("draft_estimate");
    if (!spec_dec_ || parallel_ > 1 || it == written.back().end() || !it->is_array() || it->size() != 2 ||
        !(*it)[0].is_number() || !(*it)[1].is_number()) {
        return;
    }
    acceptance_tracker t;
    t.predicted = (*it)[0].get<double>();
    t.accepted = (*it)[1].get<double>();
    spec_dec_->restore_estimate(t);
}

}  // namespace dare
