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
    // A prompt longer than the scorer's 256-token chunk (as every user
    // prompt is), so its chunked path runs and an answer token's logits come
    // from the last chunk.
    const auto & m = default_model();
    dare::context ctx(m, test_context());
    std::string history = "Summarize this user's taste. They rated:";
    for (const char * title : {"Heat (1995)", "Casino (1995)", "Sabrina (1995)", "Jumanji (1995)", "Balto (1995)",
                               "GoldenEye (1995)", "Nixon (1995)", "Toy Story (1995)", "Se7en (1995)",
                               "Braveheart (1995)", "Apollo 13 (1995)", "Babe (1995)", "Clueless (1995)",
                               "Dead Man Walking (1995)", "Sense and Sensibility (1995)", "Get Shorty (1995)",
                               "Twelve Monkeys (1995)", "Waterworld (1995)", "Rob Roy (1995)", "Desperado (1995)",
                               "Species (1995)", "Hackers (1995)", "Mallrats (1995)", "Congo (1995)"}) {
        history += std::string(" ") + title + " (4.0 stars, liked the story and the actors);";
    }
    const auto prompt = m.tokenize(m.apply_chat_template({{"user", history}}, true), true, true);
    ASSERT_GT(prompt.size(), 300u);
    const auto answer = m.tokenize("This user enjoys crime films and family comedies from the nineties.", false, false);
    const double batched = dare::answer_nll(ctx, prompt, answer);

    // Token by token through the same context.
    dare::batch b;
    double stepwise = 0;
    int32_t row = dare::prefill(ctx, b, prompt);
    for (size_t k = 0; k < answer.size(); ++k) {
        const auto lg = ctx.logits(row);
        const float mx = *std::max_element(lg.begin(), lg.end());
        double sum = 0;
        for (float x : lg) {
            sum += std::exp(static_cast<double>(x - mx));
        }
        stepwise += std::log(sum) - static_cast<double>(lg[answer[k]] - mx);
        b.clear();
        row = b.add(answer[k], static_cast<dare::pos_t>(prompt.size() + k), 0, true);
        ctx.decode(b);
    }
    // The batch-invariant layout gives a token the same logits in a chunk of
    // 256 as alone, so the two sums agree to double rounding.
    std::printf("answer NLL: chunked %.9f, token by token %.9f\n", batched, stepwise);
    EXPECT_NEAR(batched, stepwise, 1e-9 * answer.size());
    EXPECT_GT(batched, 0.0);
}

TEST(Eval, GreedyAnswerIsLikelierThanScrambled) {
    const auto & m = default_model();
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
    std::printf("answer NLL per token: greedy %.3f, scrambled %.3f (%zu tokens)\n", good / answer.size(),
                bad / answer.size(), answer.size());
    // Greedy tokens are the model's most likely ones: measured 1.035 nats
    // per token (this prompt's greedy text without repetition rules echoes
    // it), against 10.8 for a uniform pick among 49,152 tokens.
    EXPECT_LT(good / answer.size(), 1.5);
    EXPECT_GT(bad, 3 * good);
}

TEST(Eval, CorpusPerplexityReadsKnowledgeFiles) {
    temp_dir d;
    write_file(d / "k.jsonl",
               "{\"id\": 1, \"prompt\": \"Introduce movie Heat (1995).\", \"text\": \"Heat is a crime film.\"}\n"
               "{\"text\": \"The film is a drama.\"}\n");
    const auto r = dare::corpus_perplexity(default_model(), d / "k.jsonl", test_context(512));
    EXPECT_EQ(r.records, 2);
    EXPECT_GT(r.tokens, 5);
    EXPECT_GT(r.perplexity(), 1.0);
    write_file(d / "bad.jsonl", "{\"text\": \"ok\"}\n{\"prompt\": \"x\"}\n");
    try {
        dare::corpus_perplexity(default_model(), d / "bad.jsonl", test_context(512));
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("bad.jsonl:2:"), std::string::npos) << e.what();
    }
}
