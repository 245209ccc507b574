// Acceptance rules on hand-made logits (no model): strict follows the argmax,
// relaxed the top-k/threshold rule, sampling keeps the target distribution.
#include <gtest/gtest.h>

#include <cmath>

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

TEST(Verify, SamplingKeepsTheTargetDistribution) {
    // Root children tokens 1 and 2; the first emitted token must follow p.
    const auto t = small_tree();
    const std::vector<double> p = {0.1, 0.3, 0.2, 0.15, 0.15, 0.1};
    const std::vector<std::vector<float>> rows = {
        from_probs(p), from_probs({0.2, 0.2, 0.2, 0.2, 0.1, 0.1}), from_probs({0.2, 0.2, 0.2, 0.2, 0.1, 0.1}),
        from_probs({0.2, 0.2, 0.2, 0.2, 0.1, 0.1})};
    dare::verify_options o;
    o.mode = dare::verify_mode::sample;
    o.temperature = 1.0f;
    dare::verifier v(o, 77);
    dare::verify_result r;
    std::vector<int> counts(6, 0);
    const int n = 60000;
    for (int i = 0; i < n; ++i) {
        v.verify(t, [&](int32_t row) { return std::span<const float>(rows[row]); }, r);
        const int first = r.accepted.empty() ? r.next : t.nodes[r.accepted[0]].tok;
        ++counts[first];
    }
    for (int k = 0; k < 6; ++k) {
        const double freq = static_cast<double>(counts[k]) / n;
        const double sd = std::sqrt(p[k] * (1 - p[k]) / n);
        EXPECT_NEAR(freq, p[k], 5 * sd) << "token " << k;
    }
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
