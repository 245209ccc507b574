// Plain autoregressive decoding: the reference every speculative mode is
// measured against (speed) and must reproduce (strict verification).
// Accounting: `tokens` counts every token the model produced, the final
// end-of-generation token included (it cost a forward pass); `text` omits it.
// `forward_passes` counts decode calls that produced tokens, the prompt's
// prefill included, so plain decoding has tau = tokens / forward_passes = 1.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dare/backend.h"
#include "dare/repetition.h"

namespace dare {

struct generation_options {
    int32_t max_tokens = 256;
    float temperature = 0.0f;  // 0 = greedy (argmax); > 0 = sample from softmax(logits / T)
    uint64_t seed = 42;        // sampling seed for this record
    bool record_gaps = false;  // keep each emitted token's top-1 minus top-2 logit gap (diagnostics)
    repetition_options repetition;  // logits processing before every choice (repetition.h)
};

struct generation_stats {
    int32_t prompt_tokens = 0;
    int32_t prompt_tokens_reused = 0;  // prompt tokens whose KV cells were kept from the sequence's last prompt (context::begin_prompt)
    int32_t tokens = 0;
    int32_t forward_passes = 0;
    int32_t draft_tokens = 0;
    int32_t accepted_tokens = 0;
    int32_t redecoded_tokens = 0;  // accepted tokens whose cells were dropped and decoded again (speculative.h)
    double prefill_seconds = 0;
    double retrieval_seconds = 0;
    double verify_seconds = 0;  // decoding the draft rows and checking them (decode included)
    double decode_seconds = 0;  // inside llama.cpp's decode, prefill included (context::decode_seconds)
    double seconds = 0;  // whole record: prefill + decoding
    // Relaxed verification (verify.h, verify_result): accepted tokens that
    // were not the argmax, of those prompt copies and end-of-generation
    // tokens, and candidates the rule's guards refused.
    int32_t off_argmax = 0, off_argmax_copies = 0, off_argmax_eog = 0, refused = 0;
    double tau() const { return forward_passes ? static_cast<double>(tokens) / forward_passes : 0.0; }
};

struct generation_result {
    std::vector<token> tokens;  // generated tokens, EOG included when produced
    std::string text;           // detokenized, without the EOG token
    bool stopped_at_eog = false;
    std::vector<float> gaps;    // per emitted token, when record_gaps is set
    generation_stats stats;
    // The health guard (session.h) found the relaxed text degenerate and
    // this is the strict regeneration; stats cover both attempts.
    bool regenerated = false;
    // Relaxed verification on the batch-invariant layout: how many leading
    // tokens are certainly strict's own (those emitted before the step that
    // first took a token off the argmax; all of them when none did). -1
    // when not known (other modes and layouts).
    int32_t strict_prefix = -1;
    // Its verdict: "passed" (healthy), "regenerated", or "strict_text" (not
    // healthy, but no token was taken off the argmax, so the text is what
    // plain decoding writes and stays); null when no guard ran.
    const char * guard = nullptr;
    // The generated tokens without a final end-of-generation token (what a
    // pool's output side receives).
    std::span<const token> output_tokens() const {
        return std::span<const token>(tokens).first(stopped_at_eog ? tokens.size() - 1 : tokens.size());
    }
};

// Fills stopped_at_eog, stats.tokens and text from r.tokens (the EOG token,
// when last, is counted but not part of the text).
void finish_result(const model & m, generation_result & r);

// Throws dare::error when prompt + max_tokens cannot fit the context.
void check_fits_context(const context & ctx, size_t prompt_tokens, int32_t max_tokens);

// Decodes the prompt into sequence `seq`, chunk by chunk (prompt_chunk_end
// with the prompt's opening, model::prompt_head_in; context::decode_prompt),
// from the cells the sequence keeps of its last prompt
// (context::begin_prompt; their count in *reused when given); returns the
// row of the last chunk's batch holding the logits of the last prompt token.
int32_t prefill(context & ctx, batch & b, std::span<const token> prompt, seq_id seq = 0, size_t * reused = nullptr);

// Picks the next token: argmax at temperature 0, else a sample (from the
// logits as given: repetition rules are applied before).
class token_picker {
  public:
    token_picker(float temperature, uint64_t seed);
    token pick(std::span<const float> logits);

  private:
    float temperature_;
    uint64_t state_;
    std::vector<float> probs_;
};

class vanilla_decoder {
  public:
    explicit vanilla_decoder(context & ctx) : ctx_(ctx) {}
    generation_result generate(std::span<const token> prompt, const generation_options & opts);

  private:
    context & ctx_;
    batch batch_;
    std::unique_ptr<logit_processor> processor_;
};

// Seed for one record: mixes the run's seed with the record id so a resumed
// run samples each record exactly as an uninterrupted one would.
uint64_t record_seed(uint64_t run_seed, const std::string & record_id);

}  // namespace dare
