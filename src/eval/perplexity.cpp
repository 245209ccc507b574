// Perplexity of answers given prompts.
#include <algorithm>
#include <cmath>

#include "dare/error.h"
#include "dare/eval.h"
#include "dare/generate.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"

namespace dare {

double answer_nll(context & ctx, std::span<const token> prompt, std::span<const token> answer) {
    if (prompt.empty() || answer.empty()) {
        throw error("answer_nll: empty prompt or answer");
    }
    if (prompt.size() + answer.size() > ctx.n_ctx()) {
        throw error("context too small: prompt + text is " + std::to_string(prompt.size() + answer.size()) +
                    " tokens, --ctx is " + std::to_string(ctx.n_ctx()));
    }
    // The prompt as every engine prefills it (prompt chunks, generate.h),
    // the answer as generated rows, a chunk of them per decode: each answer
    // token is scored by the logits decoding picked it from.
    auto token_nll = [](std::span<const float> lg, token next) {
        const float mx = lg[argmax(lg)];
        double sum = 0;
        for (float x : lg) {
            sum += std::exp(static_cast<double>(x - mx));
        }
        return std::log(sum) - static_cast<double>(lg[next] - mx);
    };
    batch b;
    double nll = token_nll(ctx.logits(prefill(ctx, b, prompt, 0)), answer[0]);
    const size_t chunk = 256;
    for (size_t begin = 0; begin + 1 < answer.size(); begin += chunk) {
        const size_t end = std::min(answer.size() - 1, begin + chunk);
        b.clear();
        for (size_t i = begin; i < end; ++i) {
            b.add(answer[i], static_cast<pos_t>(prompt.size() + i), 0, true);
        }
        ctx.decode(b);
        for (size_t i = begin; i < end; ++i) {
            nll += token_nll(ctx.logits(static_cast<int32_t>(i - begin)), answer[i + 1]);
        }
    }
    ctx.seq_rm(0, 0, -1);
    return nll;
}

double perplexity_result::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : 0.0; }

perplexity_result corpus_perplexity(const model & m, const std::string & corpus, context_options co) {
    context ctx(m, co);
    perplexity_result r;
    const auto bos_only = m.tokenize("", true, false);
    for (auto & rec : read_corpus(m, corpus)) {
        std::vector<token> & answer = rec.text;
        std::vector<token> prompt = rec.prompt;
        if (prompt.empty() && !bos_only.empty()) {
            prompt = bos_only;
        } else if (prompt.empty() && !answer.empty()) {  // no BOS: the first token conditions the rest
            prompt.push_back(answer.front());
            answer.erase(answer.begin());
        }
        if (answer.empty()) {
            continue;
        }
        try {
            r.nll += answer_nll(ctx, prompt, answer);
        } catch (const error & e) {
            throw error_at(corpus, rec.line, e.what());
        }
        r.tokens += static_cast<int64_t>(answer.size());
        ++r.records;
    }
    return r;
}

}  // namespace dare
