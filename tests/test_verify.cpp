// Acceptance rules on hand-made logits (no model): strict follows the argmax,
// relaxed the top-k/threshold rule, sampling keeps the target distribution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "dare/error.h"
#include "dare/verify.h"

namespace {

// Logits for a vocabulary of 6 from probabilities (log-probs).
std::vector<float> from_probs(std::vector<double> p) {
    std::vector<float> l;
    for (double x : p) {
        l.push_back(static_cast<float>(std::log(std::max(x, 1e-12))));
    }
    return l;
}

// Root has children tokens 1 and 2; node 0 (token 1) has child token 3.
dare::draft_tree small_tree() {
    dare::draft_tree t;
    t.nodes = {{1, -1, 1, 5}, {2, -1, 1, 3}, {3, 0, 2, 4}};
    return t;
}

}  // namespace

TEST(Verify, StrictAcceptsOnlyTheArgmaxPath) {
    const auto t = small_tree();
    const std::vector<std::vector<float>> rows = {
        from_probs({0.05, 0.6, 0.3, 0.02, 0.02, 0.01}),  // root: argmax 1 -> node 0
        from_probs({0.1, 0.1, 0.1, 0.5, 0.1, 0.1}),      // node 0: argmax 3 -> node 2
        from_probs({0.1, 0.1, 0.1, 0.1, 0.5, 0.1}),      // node 1
        from_probs({0.7, 0.1, 0.1, 0.05, 0.05, 0.0}),    // node 2: argmax 0 = next
    };
    dare::verifier v({dare::verify_mode::strict});
    dare::verify_result r;
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 2}));
    EXPECT_EQ(r.next, 0);
    EXPECT_EQ(r.gaps.size(), 3u);

    // Root argmax 4 (not drafted): nothing accepted, next = 4.
    auto rows2 = rows;
    rows2[0] = from_probs({0.1, 0.2, 0.2, 0.1, 0.3, 0.1});
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows2[row]); }, r);
    EXPECT_TRUE(r.accepted.empty());
    EXPECT_EQ(r.next, 4);
}

TEST(Verify, RelaxedAcceptsTopKAboveThreshold) {
    const auto t = small_tree();
    dare::verify_options o;
    o.mode = dare::verify_mode::relaxed;
    o.top_k = 2;
    o.min_prob = 0.1f;
    dare::verifier v(o);
    dare::verify_result r;
    // Root: token 2 is second (p 0.3 > 0.1), token 1 third: accept 2 (node 1),
    // then node 1's argmax (4) is the next token.
    std::vector<std::vector<float>> rows = {
        from_probs({0.4, 0.15, 0.3, 0.05, 0.05, 0.05}),
        from_probs({0.1, 0.1, 0.1, 0.5, 0.1, 0.1}),
        from_probs({0.1, 0.1, 0.1, 0.1, 0.5, 0.1}),
        from_probs({0.7, 0.1, 0.1, 0.05, 0.05, 0.0}),
    };
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{1}));
    EXPECT_EQ(r.next, 4);
    // Both children acceptable: the more probable one (token 1) is followed.
    rows[0] = from_probs({0.05, 0.5, 0.4, 0.02, 0.02, 0.01});
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 2}));
    // Top-2 but under the threshold: rejected.
    o.min_prob = 0.45f;
    dare::verifier strictish(o);
    strictish.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 2}));  // token 1 (0.5) still clears
    rows[0] = from_probs({0.05, 0.3, 0.4, 0.1, 0.1, 0.05});
    strictish.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{1}));  // nothing clears 0.45: only the argmax (token 2)
}

TEST(Verify, RelaxedFallsBackToArgmaxWhenNothingClears) {
    const auto t = small_tree();
    dare::verify_options o;
    o.mode = dare::verify_mode::relaxed;
    o.min_prob = 0.5f;
    dare::verifier v(o);
    dare::verify_result r;
    const std::vector<std::vector<float>> rows = {
        from_probs({0.1, 0.2, 0.3, 0.2, 0.1, 0.1}),  // argmax 2 = node 1, nothing > 0.5
        from_probs({0.1, 0.1, 0.1, 0.5, 0.1, 0.1}),
        from_probs({0.1, 0.1, 0.1, 0.1, 0.5, 0.1}),
        from_probs({0.7, 0.1, 0.1, 0.05, 0.05, 0.0}),
    };
    v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{1}));
    EXPECT_EQ(r.next, 4);
}

namespace {

// The relaxed rule computed the slow, obvious way: full softmax in double,
// top-k by sorting. Returns the accepted child's index in `kids`, or -1.
int32_t relaxed_by_definition(const std::vector<float> & l, const std::vector<dare::token> & kids, int32_t k,
                              double min_prob, double * closest) {
    std::vector<int32_t> order(l.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    const std::set<int32_t> top(order.begin(), order.begin() + k);
    const double mx = l[order[0]];
    double z = 0;
    for (float x : l) {
        z += std::exp(x - mx);
    }
    const auto p = [&](int32_t t) { return std::exp(l[t] - mx) / z; };
    const bool any_clears = p(order[0]) > min_prob;
    int32_t chosen = -1;
    double best_p = -1;
    for (size_t i = 0; i < kids.size(); ++i) {
        const int32_t t = kids[i];
        *closest = std::min(*closest, std::abs(p(t) - min_prob));
        const bool ok = any_clears ? p(t) > min_prob && top.count(t) : t == order[0];
        if (ok && p(t) > best_p) {
            best_p = p(t);
            chosen = static_cast<int32_t>(i);
        }
    }
    *closest = std::min(*closest, std::abs(p(order[0]) - min_prob));
    return chosen;
}

}  // namespace

TEST(Verify, RelaxedMatchesItsDefinitionOnRandomRows) {
    // 2000 random rows of a 3000-token vocabulary with a few peaks, three
    // drafted children at the root (drawn mostly from the top tokens);
    // settings from DARE's (k 2, p 0.1) to loose and tight ones.
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 1.5f);
    std::uniform_int_distribution<int32_t> any_token(0, 2999);
    const std::vector<std::pair<int32_t, float>> settings = {{2, 0.1f}, {1, 0.1f}, {5, 0.02f}, {3, 0.3f}, {2, 0.0f}};
    int32_t compared = 0, accepted_non_argmax = 0, rejected = 0;
    for (int32_t trial = 0; trial < 2000; ++trial) {
        const auto [k, min_prob] = settings[trial % settings.size()];
        std::vector<float> root(3000);
        for (auto & x : root) {
            x = noise(rng);
        }
        for (float peak : {9.0f, 8.5f, 8.0f, 6.0f}) {
            root[any_token(rng)] += peak * std::uniform_real_distribution<float>(0.7f, 1.1f)(rng);
        }
        std::vector<int32_t> order(root.size());
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + 6, order.end(),
                          [&](int32_t a, int32_t b) { return root[a] > root[b]; });
        std::vector<dare::token> kids;
        while (kids.size() < 3) {
            const dare::token t = trial % 4 == 0 ? any_token(rng) : order[any_token(rng) % 6];
            if (std::find(kids.begin(), kids.end(), t) == kids.end()) {
                kids.push_back(t);
            }
        }
        double closest = 1;
        const int32_t want = relaxed_by_definition(root, kids, k, min_prob, &closest);
        if (closest < 1e-4) {
            continue;  // float vs double rounding could decide this one either way
        }
        dare::draft_tree t;
        for (dare::token tok : kids) {
            t.nodes.push_back({tok, -1, 1, 1});
        }
        const std::vector<float> leaf(3000, 0.0f);  // every child's row: argmax 0
        dare::verify_options o;
        o.mode = dare::verify_mode::relaxed;
        o.top_k = k;
        o.min_prob = min_prob;
        dare::verifier v(o);
        dare::verify_result r;
        v.verify(t, [&](int32_t row) { return std::span<const float>(row == 0 ? root : leaf); }, r);
        ++compared;
        if (want < 0) {
            ++rejected;
            EXPECT_TRUE(r.accepted.empty()) << "trial " << trial;
            EXPECT_EQ(r.next, order[0]) << "trial " << trial;
        } else {
            accepted_non_argmax += kids[want] != order[0];
            EXPECT_EQ(r.accepted, (std::vector<int32_t>{want})) << "trial " << trial;
            EXPECT_EQ(r.next, 0) << "trial " << trial;
        }
        ASSERT_EQ(r.gaps.size(), r.accepted.size() + 1);
        EXPECT_FLOAT_EQ(r.gaps[0], root[order[0]] - root[order[1]]);
    }
    // The comparison covered every outcome, many times.
    EXPECT_GT(compared, 1900);
    EXPECT_GT(accepted_non_argmax, 100);
    EXPECT_GT(rejected, 100);
}

TEST(Verify, SamplingKeepsTheTargetDistribution) {
    // Root children tokens 1 and 2, node 0 (token 1) has child token 3. The
    // first emitted token must follow the root's p, the second (after an
    // accepted token 1) node 0's q, and drafts must really be accepted: a
    // deterministic draft token is kept with its target probability, so the
    // first token comes from the tree (token 1 or 2) half the time, and
    // token 3 after token 1 half the time.
    const auto t = small_tree();
    const std::vector<double> p = {0.1, 0.3, 0.2, 0.15, 0.15, 0.1};
    const std::vector<double> q = {0.05, 0.1, 0.15, 0.5, 0.1, 0.1};
    const std::vector<std::vector<float>> rows = {from_probs(p), from_probs(q),
                                                  from_probs({0.2, 0.2, 0.2, 0.2, 0.1, 0.1}),
                                                  from_probs({0.2, 0.2, 0.2, 0.2, 0.1, 0.1})};
    dare::verify_options o;
    o.mode = dare::verify_mode::sample;
    o.temperature = 1.0f;
    dare::verifier v(o, 77);
    dare::verify_result r;
    std::vector<int> first_counts(6, 0), second_counts(6, 0);
    int drafted_first = 0, after_one = 0, drafted_second = 0;
    const int n = 60000;
    for (int i = 0; i < n; ++i) {
        v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
        const int first = r.accepted.empty() ? r.next : t.nodes[r.accepted[0]].tok;
        ++first_counts[first];
        drafted_first += !r.accepted.empty();
        if (first == 1) {
            ASSERT_FALSE(r.accepted.empty());  // token 1 can only come as the accepted draft
            const int second = r.accepted.size() > 1 ? t.nodes[r.accepted[1]].tok : r.next;
            ++second_counts[second];
            drafted_second += r.accepted.size() > 1;
            ++after_one;
        }
    }
    auto expect_freq = [](int count, int total, double want, const std::string & what) {
        const double sd = std::sqrt(want * (1 - want) / total);
        EXPECT_NEAR(static_cast<double>(count) / total, want, 5 * sd) << what;
    };
    for (int k = 0; k < 6; ++k) {
        expect_freq(first_counts[k], n, p[k], "first token " + std::to_string(k));
        expect_freq(second_counts[k], after_one, q[k], "second token " + std::to_string(k) + " after token 1");
    }
    expect_freq(drafted_first, n, p[1] + p[2], "first token taken from the draft");
    expect_freq(drafted_second, after_one, q[3], "token 3 taken from the draft after token 1");
}

TEST(Verify, OptionsAreRangeChecked) {
    dare::verify_options o;
    o.top_k = 0;
    EXPECT_THROW(o.validate(), dare::error);
    o.top_k = 2;
    o.min_prob = 2.0f;
    EXPECT_THROW(o.validate(), dare::error);
    o.min_prob = 0.1f;
    o.mode = dare::verify_mode::sample;
    o.temperature = 0.0f;
    EXPECT_THROW(o.validate(), dare::error);
    EXPECT_THROW(dare::parse_verify_mode("loose"), dare::error);
    EXPECT_EQ(dare::parse_verify_mode("relaxed"), dare::verify_mode::relaxed);
}

TEST(Verify, Top2Gap) {
    const std::vector<float> l = {1.0f, 3.5f, 3.0f, -2.0f};
    EXPECT_FLOAT_EQ(dare::top2_gap(l), 0.5f);
}

namespace {
// Root with one drafted child `tok` (and the child's row); the argmax (token
// 1) is not drafted, so the child can only be accepted off the argmax.
struct one_child {
    dare::draft_tree t;
    std::vector<std::vector<float>> rows;
    one_child(dare::token tok, std::vector<double> root) {
        t.nodes = {{tok, -1, 1, 1}};
        rows = {from_probs(std::move(root)), from_probs({0.1, 0.1, 0.1, 0.5, 0.1, 0.1})};
    }
    dare::verify_result run(dare::relaxed_rule rule, const dare::verify_context & vc) {
        dare::verify_options o;
        o.mode = dare::verify_mode::relaxed;
        o.rule = rule;
        dare::verifier v(o);
        dare::verify_result r;
        v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r, vc);
        return r;
    }
};
}  // namespace

TEST(Verify, RelaxedGuardsRefuseEndOfTextOffTheArgmax) {
    one_child c(5, {0.05, 0.5, 0.05, 0.05, 0.05, 0.3});  // token 5 (EOG here) second, p 0.3
    dare::verify_context vc;
    vc.is_eog = [](dare::token t) { return t == 5; };
    auto r = c.run(dare::relaxed_rule::dare, vc);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0}));
    EXPECT_EQ(r.off_argmax, 1);
    EXPECT_EQ(r.off_argmax_eog, 1);
    for (auto rule : {dare::relaxed_rule::eog, dare::relaxed_rule::guarded, dare::relaxed_rule::typical}) {
        r = c.run(rule, vc);
        EXPECT_TRUE(r.accepted.empty()) << dare::relaxed_rule_name(rule);
        EXPECT_EQ(r.next, 1);
        EXPECT_EQ(r.refused, 1);
    }
    EXPECT_EQ(c.run(dare::relaxed_rule::copy, vc).accepted.size(), 1u);  // the copy guard alone lets it through
}

TEST(Verify, RelaxedGuardsRefusePromptCopiesOffTheArgmax) {
    dare::prompt_copies pc;
    pc.build(std::vector<dare::token>{9, 2, 3, 4, 9});
    one_child c(4, {0.05, 0.5, 0.05, 0.05, 0.3, 0.05});  // token 4 second, p 0.3
    dare::verify_context vc;
    vc.copies = &pc;
    const std::vector<dare::token> ctx_copying = {0, 2, 3};  // "2 3" + 4 is in the prompt
    vc.context = ctx_copying;
    auto r = c.run(dare::relaxed_rule::dare, vc);
    EXPECT_EQ(r.accepted.size(), 1u);
    EXPECT_EQ(r.off_argmax_copies, 1);
    for (auto rule : {dare::relaxed_rule::copy, dare::relaxed_rule::guarded}) {
        r = c.run(rule, vc);
        EXPECT_TRUE(r.accepted.empty()) << dare::relaxed_rule_name(rule);
        EXPECT_EQ(r.refused, 1);
    }
    // Inside a copy (the context ends with "2 3 4", a prompt 3-gram), any
    // off-argmax token is refused, here token 0 which continues nothing.
    one_child d(0, {0.3, 0.5, 0.05, 0.05, 0.05, 0.05});
    const std::vector<dare::token> ctx_in_copy = {2, 3, 4};
    vc.context = ctx_in_copy;
    EXPECT_TRUE(d.run(dare::relaxed_rule::copy, vc).accepted.empty());
    // Elsewhere it is accepted.
    const std::vector<dare::token> ctx_free = {5, 5, 5};
    vc.context = ctx_free;
    EXPECT_EQ(d.run(dare::relaxed_rule::copy, vc).accepted.size(), 1u);
    EXPECT_EQ(c.run(dare::relaxed_rule::copy, vc).accepted.size(), 1u);  // "5 5 4" is no copy
    // The path counts too: drafts 2 -> 3 -> 4 after a free context; at the
    // third row the text "2 3" + 4 is a copy.
    dare::draft_tree chain;
    chain.nodes = {{2, -1, 1, 1}, {3, 0, 2, 1}, {4, 1, 3, 1}};
    const std::vector<std::vector<float>> rows = {
        from_probs({0.05, 0.05, 0.6, 0.1, 0.1, 0.1}),  // 2 is the argmax
        from_probs({0.05, 0.05, 0.1, 0.6, 0.1, 0.1}),  // 3 is the argmax
        from_probs({0.05, 0.5, 0.05, 0.05, 0.3, 0.05}),  // 4 second
        from_probs({0.5, 0.1, 0.1, 0.1, 0.1, 0.1}),
    };
    dare::verify_options o;
    o.mode = dare::verify_mode::relaxed;
    o.rule = dare::relaxed_rule::copy;
    dare::verifier v(o);
    v.verify(chain, [&](int32_t row) { return std::span<const float>(rows[row]); }, r, vc);
    EXPECT_EQ(r.accepted, (std::vector<int32_t>{0, 1}));
    EXPECT_EQ(r.next, 1);
}

TEST(Verify, TypicalAcceptanceLowersTheThresholdWhenTheRowIsUncertain) {
    // 20 tokens: argmax 0.1, token 2 at 0.08, 18 at 0.0456: the entropy is
    // about 2.97, so the threshold is min(0.1, 0.3 * exp(-2.97)) = 0.0154.
    std::vector<double> p(20, 0.82 / 18);
    p[1] = 0.1;
    p[2] = 0.08;
    dare::draft_tree t;
    t.nodes = {{2, -1, 1, 1}};
    const std::vector<std::vector<float>> rows = {from_probs(p), from_probs(p)};
    for (auto rule : {dare::relaxed_rule::dare, dare::relaxed_rule::typical}) {
        dare::verify_options o;
        o.mode = dare::verify_mode::relaxed;
        o.rule = rule;
        dare::verifier v(o);
        dare::verify_result r;
        v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
        EXPECT_EQ(r.accepted.size(), rule == dare::relaxed_rule::typical ? 1u : 0u) << dare::relaxed_rule_name(rule);
    }
    EXPECT_THROW(dare::parse_relaxed_rule("loose"), dare::error);
    EXPECT_EQ(dare::parse_relaxed_rule("guarded"), dare::relaxed_rule::guarded);
}
