// Evaluation helpers. Perplexity of knowledge texts under a model, each text
// scored as the assistant's answer to its prompt (through the chat
// template): the check that a requantized model still assigns the same
// likelihood to the knowledge a team generates.
#pragma once

#include <string>

#include "dare/backend.h"

namespace dare {

// Sum of -log p(text token | prompt, earlier text tokens), natural log: the
// prompt prefilled as every engine prefills it (generate.h prefill), the text
// decoded as generated rows, so each token is scored by the logits decoding
// would pick it from.
double answer_nll(context & ctx, std::span<const token> prompt, std::span<const token> answer);

struct perplexity_result {
    int64_t records = 0;
    int64_t tokens = 0;
    double nll = 0;
    double perplexity() const;
};

// Scores every {"text", "prompt"} line of a JSONL file (a knowledge output of
// dare generate, or a pool corpus). Lines without a prompt are scored alone.
// The context options choose threads, size and the KV cache layout.
perplexity_result corpus_perplexity(const model & m, const std::string & corpus, context_options co);

}  // namespace dare
