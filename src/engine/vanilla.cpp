// Plain autoregressive decoding, prefill, and token picking.
#include <chrono>
#include <cmath>

#include "dare/error.h"
#include "dare/generate.h"
#include "dare/signals.h"
#include "dare/verify.h"
#include "util/mix.h"

namespace dare {

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}
}  // namespace

void check_fits_context(const context & ctx, size_t prompt_tokens, int32_t max_tokens) {
    const size_t need = prompt_tokens + static_cast<size_t>(max_tokens) + 1;
    if (need > ctx.n_ctx()) {
        throw error("context too small: a prompt of " + std::to_string(prompt_tokens) + " tokens plus --max-tokens " +
                    std::to_string(max_tokens) + " needs " + std::to_string(need) + " tokens but --ctx is " +
                    std::to_string(ctx.n_ctx()));
    }
}

int32_t prefill(context & ctx, batch & b, std::span<const token> prompt, seq_id seq, size_t * reused) {
    if (prompt.empty()) {
        throw error("empty prompt");
    }
    const size_t head = ctx.get_model().prompt_head_in(prompt);
    const size_t kept = ctx.begin_prompt(seq, prompt, head);
    if (reused) {
        *reused = kept;
    }
    for (size_t begin = kept; begin < prompt.size();) {
        const size_t end = prompt_chunk_end(head, begin, prompt.size());
        b.clear();
        for (size_t i = begin; i < end; ++i) {
            b.add(prompt[i], static_cast<pos_t>(i), seq, i + 1 == prompt.size());
        }
        ctx.decode_prompt(b);
        begin = end;
    }
    return b.size() - 1;
}

token_picker::token_picker(float temperature, uint64_t seed) : temperature_(temperature), state_(seed) {}

token token_picker::pick(std::span<const float> logits) {
    if (temperature_ <= 0.0f) {
        return argmax(logits);
    }
    probs_.resize(logits.size());
    const float mx = logits[argmax(logits)];
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        probs_[i] = std::exp((logits[i] - mx) / temperature_);
        sum += probs_[i];
    }
    const double u = mix::uniform01(state_) * sum;
    double acc = 0;
    for (size_t i = 0; i < probs_.size(); ++i) {
        acc += probs_[i];
        if (u < acc) {
            return static_cast<token>(i);
        }
    }
    return argmax(logits);
}

generation_result vanilla_decoder::generate(std::span<const token> prompt, const generation_options & opts) {
    check_fits_context(ctx_, prompt.size(), opts.max_tokens);
    const model & m = ctx_.get_model();
    generation_result r;
    r.stats.prompt_tokens = static_cast<int32_t>(prompt.size());
    r.tokens.reserve(opts.max_tokens);
    token_picker picker(opts.temperature, opts.seed);
    logit_processor * proc = processor_for(processor_, m, opts.repetition);
    if (proc) {
        proc->begin(prompt);
    }

    const auto t0 = clock_type::now();
    const double d0 = ctx_.decode_seconds();
    size_t reused = 0;
    int32_t row = prefill(ctx_, batch_, prompt, 0, &reused);
    r.stats.prompt_tokens_reused = static_cast<int32_t>(reused);
    r.stats.prefill_seconds = seconds_since(t0);
    r.stats.forward_passes = 1;
    pos_t pos = static_cast<pos_t>(prompt.size());
    while (true) {
        throw_if_stopped();
        const auto lg = proc ? proc->apply(ctx_.logits(row)) : ctx_.logits(row);
        const token t = picker.pick(lg);
        if (opts.record_gaps) {
            r.gaps.push_back(top2_gap(lg));
        }
        if (proc) {
            proc->accept(t);
        }
        r.tokens.push_back(t);
        if (m.is_eog(t)) {
            break;
        }
        if (static_cast<int32_t>(r.tokens.size()) >= opts.max_tokens) {
            break;
        }
        batch_.clear();
        row = batch_.add(t, pos++, 0, true);
        ctx_.decode(batch_);
        ++r.stats.forward_passes;
    }
    r.stats.seconds = seconds_since(t0);
    r.stats.decode_seconds = ctx_.decode_seconds() - d0;
    finish_result(m, r);
    return r;
}

void finish_result(const model & m, generation_result & r) {
    r.stopped_at_eog = !r.tokens.empty() && m.is_eog(r.tokens.back());
    r.stats.tokens = static_cast<int32_t>(r.tokens.size());
    const size_t n_text = r.stopped_at_eog ? r.tokens.size() - 1 : r.tokens.size();
    r.text = m.detokenize(std::span<const token>(r.tokens.data(), n_text));
}

uint64_t record_seed(uint64_t run_seed, const std::string & record_id) {
    uint64_t h = mix::fnv1a(mix::fnv_offset ^ run_seed, record_id.data(), record_id.size());
    return mix::splitmix64(h);
}

}  // namespace dare
