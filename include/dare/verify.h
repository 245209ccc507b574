// Acceptance rules for a draft tree, given the target model's logits at the
// root (the last context token) and at every node:
//  - strict: a draft token is accepted iff it is the target's argmax, so the
//    output is exactly greedy decoding;
//  - relaxed (DARE): accepted iff it is among the target's top-k and its
//    probability exceeds min_prob (only the argmax when no top-k token clears
//    the threshold); the most probable acceptable child is followed. Named
//    variants (relaxed_rule) add guards against what makes relaxed text
//    degenerate: end-of-generation accepted only as the argmax (else a text
//    ends early), a token that continues a copy of the prompt accepted only
//    as the argmax (else a text echoes its prompt), and Medusa's typical
//    acceptance (threshold min(min_prob, alpha * exp(-entropy)));
//  - sample: recursive rejection sampling against softmax(logits / T) with
//    deterministic drafts, so outputs are distributed exactly as plain
//    sampling at temperature T.
// After the accepted path, one more token comes from the target (argmax, or a
// sample in sample mode), as in ordinary speculative decoding.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dare/backend.h"
#include "dare/draft.h"
#include "dare/repetition.h"

namespace dare {

enum class verify_mode { strict, relaxed, sample };

verify_mode parse_verify_mode(const std::string & s);  // throws dare::error

// Every rule decodes on the batch-invariant KV layout
// (kv_layout::batch_invariant) unless --kv-layout fixes another, one record
// at a time and in batches (one KV stream per record). Strict and sample
// verification promise plain decoding's output (or its distribution),
// which only holds if a token's logits do not depend on the batch around
// it; relaxed text then departs from plain decoding's only where the
// rule accepts another token (on other layouts near-ties of the model flip
// too: 7 more points of echo-only item texts with plain attention,
// docs/quality.md), a batched relaxed text is strict's own until its first
// off-argmax token (so the health guard keeps such texts without
// regenerating them), and small draft trees decode faster there than with
// plain attention on this machine kind (docs/quality.md "Text health").
const char * verify_mode_name(verify_mode m);

// Relaxed verification's variants, by name (--relaxed-rule):
//   dare     the paper's top-k / threshold rule, nothing else
//   eog      dare, end-of-generation only as the argmax
//   copy     dare, prompt copies only as the argmax
//   guarded  dare with both guards
//   typical  guarded, with the typical-acceptance threshold
enum class relaxed_rule { dare, eog, copy, guarded, typical };
relaxed_rule parse_relaxed_rule(const std::string & s);  // throws dare::error
const char * relaxed_rule_name(relaxed_rule r);

struct verify_options {
    verify_mode mode = verify_mode::strict;
    int32_t top_k = 2;
    float min_prob = 0.1f;
    float temperature = 1.0f;  // sample mode only
    relaxed_rule rule = relaxed_rule::dare;
    float typical_alpha = 0.3f;  // typical rule: threshold min(min_prob, alpha * exp(-entropy))
    bool eog_as_argmax_only() const { return rule == relaxed_rule::eog || rule == relaxed_rule::guarded || rule == relaxed_rule::typical; }
    bool copies_as_argmax_only() const { return rule == relaxed_rule::copy || rule == relaxed_rule::guarded || rule == relaxed_rule::typical; }
    // Throws dare::error on out-of-range values.
    void validate() const;
};

// A token n-gram set of one prompt. A token t after the text `tail` is part
// of a copy of the prompt when the kCopyNgram - 1 tokens before it and t
// occur in a row in the prompt, or when the text is copying the prompt at
// that point already (its last kCopyNgram tokens occur in the prompt): an
// off-argmax token there is what turns a text into an echo of its prompt
// (docs/quality.md).
class prompt_copies {
  public:
    static constexpr size_t kCopyNgram = 3;
    void build(std::span<const token> prompt);
    bool in_copy(std::span<const token> tail, token t) const;

  private:
    std::vector<uint64_t> grams_;  // sorted hashes (collisions only make a copy more likely: the guard errs strict)
};

// What acceptance may look at beyond the logits: the repetition rules (each
// row's logits go through them, and each chosen token goes into them), the
// tokens before the root's successor and the prompt's n-grams (relaxed copy
// guard), and which tokens end generation (relaxed EOG guard).
struct verify_context {
    logit_processor * processor = nullptr;
    std::span<const token> context;  // prompt + emitted tokens (the root row's token last)
    const prompt_copies * copies = nullptr;
    std::function<bool(token)> is_eog;
};

struct verify_result {
    std::vector<int32_t> accepted;  // node indices of the accepted path, root to tip
    token next = 0;                 // the target's own token after the path
    std::vector<float> gaps;        // top-1 minus top-2 logit at each emitted token's row
    // Relaxed diagnostics: accepted tokens that were not the row's argmax,
    // how many of those continued a prompt copy or ended generation, and
    // how many the rule's guards refused.
    int32_t off_argmax = 0, off_argmax_copies = 0, off_argmax_eog = 0, refused = 0;
};

// Logits of row r: r = 0 is the root, r = i + 1 is draft node i.
using logits_fn = std::function<std::span<const float>(int32_t row)>;

class verifier {
  public:
    explicit verifier(const verify_options & o, uint64_t seed = 0);
    void reseed(uint64_t seed) { rng_ = seed; }
    // With a processor in `vc`, each row's logits are processed and each
    // accepted token (and `next`) is accepted into it, so that afterwards
    // the processor's history holds the emitted tokens.
    void verify(const draft_tree & tree, const logits_fn & logits, verify_result & out, const verify_context & vc = {});
    const verify_options & options() const { return opts_; }

  private:
    double uniform();
    token sample_from(std::span<const float> probs);
    void softmax(std::span<const float> logits, float temperature, std::vector<float> & out) const;
    // topk_ = the k largest logits' indices, best first (lower index on ties).
    void select_top_k(std::span<const float> logits, int32_t k);

    verify_options opts_;
    uint64_t rng_;
    std::vector<std::vector<int32_t>> children_;  // children of root (index 0) and node i (index i + 1)
    std::vector<float> probs_;   // sample mode
    std::vector<int32_t> topk_;  // relaxed mode
    std::vector<token> tail_;    // copy guard: the last tokens before a row
};

// Top-1 minus top-2 logit (how close a greedy choice was to a tie).
float top2_gap(std::span<const float> logits);

}  // namespace dare
