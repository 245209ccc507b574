// Repetition rules on next-token logits: the no-repeat and no-copy n-gram
// rules against a brute-force reference, llama.cpp's presence / frequency /
// DRY penalties against their formulas (only the window's tokens change),
// and the verifier walking a tree with a processor choosing exactly what
// step-by-step greedy choice over processed logits chooses.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "dare/error.h"
#include "dare/repetition.h"
#include "dare/verify.h"
#include "test_util.h"

using namespace dare_test;

namespace {

// Tokens t such that `stretch` holds the n-gram (last n-1 output tokens, t).
std::set<dare::token> banned_brute(const std::vector<dare::token> & stretch, const std::vector<dare::token> & output,
                                   size_t n) {
    std::set<dare::token> out;
    if (n < 2 || output.size() < n - 1 || stretch.size() < n) {
        return out;
    }
    for (size_t i = 0; i + n <= stretch.size(); ++i) {
        bool match = true;
        for (size_t k = 0; k + 1 < n; ++k) {
            match = match && stretch[i + k] == output[output.size() - (n - 1) + k];
        }
        if (match) {
            out.insert(stretch[i + n - 1]);
        }
    }
    return out;
}

std::vector<float> random_logits(int32_t n_vocab, std::mt19937 & rng) {
    std::normal_distribution<float> nd(0.0f, 3.0f);
    std::vector<float> l(static_cast<size_t>(n_vocab));
    for (auto & x : l) {
        x = nd(rng);
    }
    return l;
}

}  // namespace

TEST(Repetition, NgramRulesBanWhatBruteForceBans) {
    const auto & m = default_model();
    std::mt19937 rng(11);
    for (int32_t n : {0, 2, 3, 4}) {
        for (int32_t c : {0, 2, 3, 5}) {
            dare::repetition_options o;
            o.no_repeat_ngram = n;
            o.no_copy_ngram = c;
            if (!o.enabled()) {
                continue;
            }
            dare::logit_processor p(m, o);
            for (int trial = 0; trial < 30; ++trial) {
                std::vector<dare::token> prompt(rng() % 12), output;
                for (auto & t : prompt) {
                    t = static_cast<dare::token>(rng() % 4);
                }
                p.begin(prompt);
                const int steps = static_cast<int>(rng() % 30);
                for (int k = 0; k <= steps; ++k) {
                    const auto b = p.banned();
                    std::set<dare::token> want = banned_brute(output, output, static_cast<size_t>(n));
                    for (dare::token t : banned_brute(prompt, output, static_cast<size_t>(c))) {
                        want.insert(t);
                    }
                    ASSERT_EQ(std::set<dare::token>(b.begin(), b.end()), want)
                        << "no-repeat " << n << " no-copy " << c << " step " << k;
                    const dare::token t = static_cast<dare::token>(rng() % 4);
                    p.accept(t);
                    output.push_back(t);
                }
            }
        }
    }
}

TEST(Repetition, BannedTokensGetMinusInfinityAndNothingElseChanges) {
    const auto & m = default_model();
    dare::repetition_options o;
    o.no_repeat_ngram = 2;
    dare::logit_processor p(m, o);
    p.begin(std::vector<dare::token>{5, 6});
    for (dare::token t : {7, 8, 7}) {
        p.accept(t);
    }
    std::mt19937 rng(3);
    const auto raw = random_logits(m.n_vocab(), rng);
    const auto out = p.apply(raw);
    ASSERT_EQ(out.size(), raw.size());
    for (size_t t = 0; t < raw.size(); ++t) {
        if (t == 8) {  // "7 8" is in the output: after 7, 8 is banned
            EXPECT_EQ(out[t], -INFINITY);
        } else {
            EXPECT_EQ(out[t], raw[t]) << t;  // the prompt is out of the rule's scope
        }
    }
}

TEST(Repetition, PresenceAndFrequencyPenaltiesFollowTheirFormulas) {
    const auto & m = default_model();
    std::mt19937 rng(5);
    const auto raw = random_logits(m.n_vocab(), rng);
    dare::repetition_options o;
    o.penalties.presence = 0.5f;
    o.penalties.frequency = 0.25f;
    o.penalties.penalty_last_n = 4;
    for (const bool sees_prompt : {false, true}) {
        o.penalties_see_prompt = sees_prompt;
        dare::logit_processor p(m, o);
        p.begin(std::vector<dare::token>{100, 101});
        for (dare::token t : {200, 201, 200, 202}) {
            p.accept(t);
        }
        const auto out = p.apply(raw);
        // The window is the last 4 tokens of the rule's history: 200 201 200 202
        // either way (the prompt tokens are older than the window).
        for (size_t t = 0; t < raw.size(); ++t) {
            const int count = t == 200 ? 2 : (t == 201 || t == 202) ? 1 : 0;
            const float want = count ? raw[t] - 0.25f * static_cast<float>(count) - 0.5f : raw[t];
            ASSERT_FLOAT_EQ(out[t], want) << t;
        }
        // A longer window reaches the prompt only when the scope includes it.
        dare::repetition_options wide = o;
        wide.penalties.penalty_last_n = 64;
        dare::logit_processor q(m, wide);
        q.begin(std::vector<dare::token>{100, 101});
        q.accept(200);
        const auto out2 = q.apply(raw);
        EXPECT_FLOAT_EQ(out2[100], sees_prompt ? raw[100] - 0.75f : raw[100]);
        EXPECT_FLOAT_EQ(out2[200], raw[200] - 0.75f);
    }
}

TEST(Repetition, DryPenalisesTheTokenThatWouldExtendARepeat) {
    const auto & m = default_model();
    const auto w = m.tokenize(" apple banana cherry date", false, false);
    ASSERT_GE(w.size(), 4u);
    const dare::token a = w[0], b = w[1], c = w[2], d = w[3];
    std::mt19937 rng(9);
    const auto raw = random_logits(m.n_vocab(), rng);
    dare::repetition_options o;
    o.penalties.dry_multiplier = 0.8f;
    o.penalties.dry_base = 2.0f;
    o.penalties.dry_allowed_length = 2;
    o.penalties.dry_last_n = 64;
    dare::logit_processor p(m, o);
    p.begin({});
    // a b c d a b: the suffix "a b" (2 tokens) occurred before, followed by c.
    for (dare::token t : {a, b, c, d, a, b}) {
        p.accept(t);
    }
    auto out = p.apply(raw);
    for (size_t t = 0; t < raw.size(); ++t) {
        ASSERT_FLOAT_EQ(out[t], t == static_cast<size_t>(c) ? raw[t] - 0.8f : raw[t]) << t;
    }
    // ... a b c: now "a b c" (3) would be extended by d: 0.8 * 2^(3 - 2).
    p.accept(c);
    out = p.apply(raw);
    EXPECT_FLOAT_EQ(out[static_cast<size_t>(d)], raw[static_cast<size_t>(d)] - 1.6f);
    EXPECT_FLOAT_EQ(out[static_cast<size_t>(c)], raw[static_cast<size_t>(c)]);
}

TEST(Repetition, VerifierWalksTheTreeWithTheProcessor) {
    // A chain 1 -> 2 -> 1 -> 2 drafted on rows that all prefer it; with
    // no-repeat 2, after "1 2 1" the token 2 is banned ("1 2" again), so
    // strict accepts three drafts and the processed argmax replaces the
    // fourth.
    const auto & m = default_model();
    std::mt19937 rng(2);
    auto base = random_logits(m.n_vocab(), rng);
    std::vector<std::vector<float>> rows(5, base);
    const dare::token seq[] = {1, 2, 1, 2};
    for (int r = 0; r < 4; ++r) {
        rows[static_cast<size_t>(r)][static_cast<size_t>(seq[r])] = 100;
        rows[static_cast<size_t>(r)][7] = 90;  // second best everywhere
    }
    dare::draft_tree t;
    for (int32_t i = 0; i < 4; ++i) {
        t.nodes.push_back({seq[i], i - 1, i + 1, 1.0f});
    }
    dare::repetition_options o;
    o.no_repeat_ngram = 2;
    dare::logit_processor p(m, o);
    p.begin(std::vector<dare::token>{50, 51});
    dare::verifier v({dare::verify_mode::strict});
    dare::verify_result r;
    dare::verify_context vc;
    vc.processor = &p;
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[static_cast<size_t>(row)]); }, r, vc);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 1, 2}));
    EXPECT_EQ(r.next, 7);
    // The processor's history now holds exactly the emitted tokens 1 2 1 7:
    // nothing followed a 7 yet, and after one more 1 both 2 and 7 are banned.
    EXPECT_TRUE(p.banned().empty());
    p.accept(1);
    const auto b = p.banned();
    EXPECT_EQ(std::set<dare::token>(b.begin(), b.end()), (std::set<dare::token>{2, 7}));
    // Without the processor the whole chain is accepted.
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[static_cast<size_t>(row)]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(Repetition, OptionsAreRangeChecked) {
    dare::repetition_options o;
    EXPECT_FALSE(o.enabled());
    o.no_repeat_ngram = 1;
    EXPECT_THROW(o.validate(), dare::error);
    o.no_repeat_ngram = 4;
    EXPECT_NO_THROW(o.validate());
    EXPECT_TRUE(o.enabled());
    o.penalties.dry_base = 0.5f;
    EXPECT_THROW(o.validate(), dare::error);
    o.penalties.dry_base = 1.75f;
    o.penalties.repeat = 0;
    EXPECT_THROW(o.validate(), dare::error);
}

TEST(Repetition, BansOnADraftPathAgreeWithAcceptingIt) {
    // bans(path, t) is what banned() says once the path is accepted, except
    // for n-grams the path itself creates (which it cannot see): a "yes" is
    // always right, and with an empty path the two agree exactly.
    const auto & m = default_model();
    std::mt19937 rng(21);
    dare::repetition_options o;
    o.no_repeat_ngram = 3;
    o.no_copy_ngram = 3;
    int yes = 0;
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<dare::token> prompt(3 + rng() % 8), output(rng() % 10), path(rng() % 4);
        for (auto * v : {&prompt, &output, &path}) {
            for (auto & t : *v) {
                t = static_cast<dare::token>(rng() % 4);
            }
        }
        dare::logit_processor p(m, o);
        p.begin(prompt);
        for (dare::token t : output) {
            p.accept(t);
        }
        std::vector<bool> said(4);
        for (dare::token t = 0; t < 4; ++t) {
            said[static_cast<size_t>(t)] = p.bans(path, t);
        }
        for (dare::token t : path) {
            p.accept(t);
        }
        const auto b = p.banned();
        const std::set<dare::token> now(b.begin(), b.end());
        for (dare::token t = 0; t < 4; ++t) {
            if (said[static_cast<size_t>(t)]) {
                ++yes;
                EXPECT_TRUE(now.count(t)) << "trial " << trial << " token " << t;
            } else if (path.empty()) {
                EXPECT_FALSE(now.count(t)) << "trial " << trial << " token " << t;
            }
        }
    }
    EXPECT_GT(yes, 50);
}
