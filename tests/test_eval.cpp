// Perplexity: the batched scorer agrees with token-by-token scoring, and the
// model's own greedy answer is likelier than a scrambled one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "dare/error.h"
#include "dare/eval.h"
#include "dare/generate.h"
#include "test_util.h"

using namespace dare_test;

TEST(Eval, AnswerNllMatchesStepwiseScoring) {
    const auto & m = bundled_model();
    dare::context ctx(m, test_context());
    const auto prompt = m.tokenize(m.apply_chat_template({{"user", "Introduce movie Heat (1995)."}}, true), true, true);
    const auto answer = m.tokenize("Heat is a 1995 crime film directed by Michael Mann.", false, false);
    const double batched = dare::answer_nll(ctx, prompt, answer);

    // Token by token through the same context.
    dare::batch b;
    double stepwise = 0;
    ctx.seq_rm(0, 0, -1);
    std::vector<dare::token> all = prompt;
    for (size_t i = 0; i < prompt.size(); ++i) {
        b.add(prompt[i], static_cast<dare::pos_t>(i), 0, i + 1 == prompt.size());
    }
    ctx.decode(b);
    for (size_t k = 0; k < answer.size(); ++k) {
        const auto lg = ctx.logits(b.size() - 1);
        double sum = 0;
        for (float x : lg) {
            sum += std::exp(static_cast<double>(x));
        }
        stepwise += std::log(sum) - lg[answer[k]];
        b.clear();
        b.add(answer[k], static_cast<dare::pos_t>(prompt.size() + k), 0, true);
        ctx.decode(b);
    }
    EXPECT_NEAR(batched, stepwise, 0.05 * answer.size());
    EXPECT_GT(batched, 0.0);
}

TEST(Eval, GreedyAnswerIsLikelierThanScrambled) {
    const auto & m = bundled_model();
    dare::context ctx(m, test_context());
    const auto prompt =
        m.tokenize(m.apply_chat_template({{"user", "Introduce movie Toy Story (1995)."}}, true), true, true);
    dare::vanilla_decoder dec(ctx);
    dare::generation_options g;
    g.max_tokens = 32;
    auto answer = dec.generate(prompt, g).tokens;
    if (m.is_eog(answer.back())) {
        answer.pop_back();
    }
    auto scrambled = answer;
    std::reverse(scrambled.begin(), scrambled.end());
    const double good = dare::answer_nll(ctx, prompt, answer);
    const double bad = dare::answer_nll(ctx, prompt, scrambled);
    EXPECT_LT(good / answer.size(), 1.0);  // greedy tokens: mostly confident
    EXPECT_GT(bad, 3 * good);
}

TEST(Eval, CorpusPerplexityReadsKnowledgeFiles) {
    temp_dir d;
    write_file(d / "k.jsonl",
               "{\"id\": 1, \"prompt\": \"Introduce movie Heat (1995).\", \"text\": \"Heat is a crime film.\"}\n"
               "{\"text\": \"The film is a drama.\"}\n");
    const auto r = dare::corpus_perplexity(bundled_model(), d / "k.jsonl", test_context(512));
    EXPECT_EQ(r.records, 2);
    EXPECT_GT(r.tokens, 5);
    EXPECT_GT(r.perplexity(), 1.0);
    write_file(d / "bad.jsonl", "{\"text\": \"ok\"}\n{\"prompt\": \"x\"}\n");
    try {
        dare::corpus_perplexity(bundled_model(), d / "bad.jsonl", test_context(512));
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("bad.jsonl:2:"), std::string::npos) << e.what();
    }
}
