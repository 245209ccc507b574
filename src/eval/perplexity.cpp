// Perplexity of answers given prompts.
#include <algorithm>
#include <cmath>

#include "dare/error.h"
#include "dare/eval.h"
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
    ctx.seq_rm(0, 0, -1);
    batch b;
    const size_t n = prompt.size() + answer.size();
    for (size_t i = 0; i < n; ++i) {
        const token t = i < prompt.size() ? prompt[i] : answer[i - prompt.size()];
        // Logits wanted at every position that predicts an answer token.
        b.add(t, static_cast<pos_t>(i), 0, i + 1 >= prompt.size() && i + 1 < n);
    }
    // One decode per n_batch chunk keeps only the last chunk's logits, so
    // score chunk by chunk.
    double nll = 0;
    const size_t chunk = 256;
    for (size_t begin = 0; begin < n; begin += chunk) {
        batch part;
        const size_t end = std::min(n, begin + chunk);
        for (size_t i = begin; i < end; ++i) {
            const int32_t s = b.seq_offsets[i];
            part.add(b.tokens[i], b.positions[i], b.seq_ids[s], b.logits[i] != 0);
        }
        ctx.decode(part);
        for (size_t i = begin; i < end; ++i) {
            if (!b.logits[i]) {
                continue;
            }
            const auto lg = ctx.logits(static_cast<int32_t>(i - begin));
            const token next = answer[i + 1 - prompt.size()];
            const float mx = lg[argmax(lg)];
            double sum = 0;
            for (float x : lg) {
                sum += std::exp(static_cast<double>(x - mx));
            }
            nll += std::log(sum) - static_cast<double>(lg[next] - mx);
        }
    }
    ctx.seq_rm(0, 0, -1);
    return nll;
}

double perplexity_result::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : 0.0; }

perplexity_result corpus_perplexity(const model & m, const std::string & corpus, context_options co) {
    co.n_batch = std::min<uint32_t>(co.n_batch, 256);
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
