// Repetition control: deterministic processing of next-token logits from the
// record's own token history, the same in every decoding mode. A decoder
// feeds the prompt (begin) and every token it emits (accept), and passes
// each row's raw logits through apply() before choosing from them. In a
// draft tree a row's history is the context plus the path down to it; the
// verifier walks one path from the root, accepting each chosen token before
// it looks at the next row, so one processor serves the whole tree and strict
// verification picks exactly what plain decoding with the same processing
// picks.
// Rules (each off at its zero value):
//  - no-repeat n-gram: a token that would complete a token n-gram the
//    output already holds is banned (logit -inf): no loops;
//  - no-copy m-gram: a token that would make the output's last m tokens a
//    token m-gram of the prompt is banned: no verbatim copy of more than
//    m - 1 prompt tokens (titles stay, an echoed instruction does not);
//  - DRY and repeat / frequency / presence penalties: llama.cpp's samplers
//    (backend.h, llama_penalties), over the output or, with
//    penalties_see_prompt, over prompt and output.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dare/backend.h"

namespace dare {

struct repetition_options {
    int32_t no_repeat_ngram = 0;  // n tokens (0 = off)
    int32_t no_copy_ngram = 0;    // m tokens (0 = off)
    llama_penalty_options penalties;
    bool penalties_see_prompt = false;
    bool enabled() const;
    // Throws dare::error on out-of-range values (naming the flag).
    void validate() const;
    bool operator==(const repetition_options & o) const;
};

class logit_processor {
  public:
    logit_processor(const model & m, const repetition_options & o);
    ~logit_processor();
    const repetition_options & options() const { return o_; }
    bool enabled() const { return o_.enabled(); }

    // Starts a record: the history is the prompt (seen by the rules whose
    // scope includes it), then the output as it is accepted.
    void begin(std::span<const token> prompt);
    // Appends an emitted (or, inside a tree walk, a chosen) token.
    void accept(token t);
    // The row's logits after every rule, given the current history: a copy
    // held by the processor (valid until the next apply), or `logits` itself
    // when no rule is on.
    std::span<const float> apply(std::span<const float> logits);

    // Tokens the no-repeat and no-copy rules ban after the current history.
    std::span<const token> banned();
    // Whether those rules ban `t` after the history followed by `path` (a
    // draft path not yet accepted). N-grams that only the path itself would
    // repeat are not seen, so a false answer may still be banned once the
    // path is accepted; a true answer never errs.
    bool bans(std::span<const token> path, token t);

  private:
    // n-grams of one stretch of the history, by the hash of their first n-1
    // tokens: the history index of each one's last token.
    struct ngram_rule {
        size_t n = 0;
        std::unordered_map<uint64_t, std::vector<int32_t>> next;
        void clear() { next.clear(); }
        void index(const std::vector<token> & h, size_t last);  // the n-gram ending at h[last]
        // Appends the tokens that would complete an indexed n-gram after h.
        void ban_after(const std::vector<token> & h, std::vector<token> & out) const;
        // Whether the indexed n-gram tail + t exists (tail: the last n-1 tokens).
        bool has(const std::vector<token> & h, std::span<const token> tail, token t) const;
    };

    repetition_options o_;
    std::unique_ptr<llama_penalties> penalties_;
    int32_t n_vocab_ = 0;
    std::vector<token> history_;     // prompt + output
    size_t output_start_ = 0;        // index of the first output token in history_
    ngram_rule repeats_;             // n-grams of the output
    ngram_rule copies_;              // m-grams of the prompt
    std::vector<token> banned_;
    std::vector<token> tail_;
    std::vector<float> out_;
    std::vector<token> window_;      // distinct tokens of the penalty window
    std::vector<uint32_t> stamp_;    // per token: epoch it was last put into window_
    uint32_t epoch_ = 0;
};

// The rules `dare run` and `dare generate` apply unless told otherwise,
// whose text health docs/quality.md "Text health" measures.
repetition_options default_repetition();

// The processor for `o` kept in `slot` (made, or remade when the options
// changed); null when no rule is on.
logit_processor * processor_for(std::unique_ptr<logit_processor> & slot, const model & m, const repetition_options & o);

}  // namespace dare
