// Acceptance rules for a draft tree, given the target model's logits at the
// root (the last context token) and at every node:
//  - strict: a draft token is accepted iff it is the target's argmax, so the
//    output is exactly greedy decoding;
//  - relaxed (DARE): accepted iff it is among the target's top-k and its
//    probability exceeds min_prob (only the argmax when no top-k token clears
//    the threshold); the most probable acceptable child is followed;
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

namespace dare {

enum class verify_mode { strict, relaxed, sample };

verify_mode parse_verify_mode(const std::string & s);  // throws dare::error

// Whether decoding under this rule needs the batch-invariant KV layout
// (kv_layout::batch_invariant): strict and sample verification promise
// plain decoding's output (or its distribution), which only holds if a
// token's logits do not depend on the batch around it.
inline bool needs_batch_invariance(verify_mode m) { return m != verify_mode::relaxed; }
// The KV layout decoding under this rule runs on. Relaxed verification
// changes the text by design, so it runs where multi-row batches are
// cheapest on CPUs (docs/benchmarks.md): plain attention for one record's
// draft trees, llama.cpp's default (whose attention skips masked cells) for
// many records sharing one cache.
inline kv_layout layout_for(verify_mode m, bool many_records) {
    return needs_batch_invariance(m) ? kv_layout::batch_invariant
           : many_records            ? kv_layout::llama_default
                                     : kv_layout::plain_attention;
}
const char * verify_mode_name(verify_mode m);

struct verify_options {
    verify_mode mode = verify_mode::strict;
    int32_t top_k = 2;
    float min_prob = 0.1f;
    float temperature = 1.0f;  // sample mode only
    // Throws dare::error on out-of-range values.
    void validate() const;
};

struct verify_result {
    std::vector<int32_t> accepted;  // node indices of the accepted path, root to tip
    token next = 0;                 // the target's own token after the path
    std::vector<float> gaps;        // top-1 minus top-2 logit at each emitted token's row
};

// Logits of row r: r = 0 is the root, r = i + 1 is draft node i.
using logits_fn = std::function<std::span<const float>(int32_t row)>;

class verifier {
  public:
    explicit verifier(const verify_options & o, uint64_t seed = 0);
    void reseed(uint64_t seed) { rng_ = seed; }
    void verify(const draft_tree & tree, const logits_fn & logits, verify_result & out);
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
};

// Top-1 minus top-2 logit (how close a greedy choice was to a tie).
float top2_gap(std::span<const float> logits);

}  // namespace dare
