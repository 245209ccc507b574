// The pool-size sweep: the path matcher on a hand-built tree, and the sweep
// on a small corpus (real tokens first, then filler; replayed tau is high
// when the held-out texts repeat the pool's and near 1 with filler only).
#include <gtest/gtest.h>

#include "dare/error.h"
#include "dare/pool_bench.h"
#include "test_util.h"

using namespace dare_test;

TEST(PoolBench, LongestMatchingPathFollowsTheTree) {
    dare::draft_tree t;
    // root -> 5 -> 6 -> 7, root -> 5 -> 8, root -> 9
    t.nodes = {{5, -1, 1, 3}, {9, -1, 1, 1}, {6, 0, 2, 2}, {8, 0, 2, 1}, {7, 2, 3, 2}};
    const std::vector<dare::token> a = {5, 6, 7, 1}, b = {5, 8, 6}, c = {9, 9}, d = {4};
    EXPECT_EQ(dare::longest_matching_path(t, a), 3);
    EXPECT_EQ(dare::longest_matching_path(t, b), 2);
    EXPECT_EQ(dare::longest_matching_path(t, c), 1);
    EXPECT_EQ(dare::longest_matching_path(t, d), 0);
    EXPECT_EQ(dare::longest_matching_path(t, {}), 0);
}

TEST(PoolBench, SweepReplaysHeldOutTexts) {
    temp_dir dir;
    // 40 records that all say the same thing: held-out texts are in the pool.
    std::string corpus;
    for (int i = 0; i < 40; ++i) {
        corpus += R"({"text": "This movie is a drama with a strong cast, a moving story and a memorable score that critics praised."})";
        corpus += "\n";
    }
    write_file(dir / "corpus.jsonl", corpus);
    dare::pool_bench_options o;
    o.model = dare::default_model_path();
    o.corpus = dir / "corpus.jsonl";
    o.heldout = 5;
    o.sizes = {10, 100000};
    const auto rows = dare::run_pool_bench(o);
    ASSERT_EQ(rows.size(), 4u);  // 2 kinds x 2 sizes
    for (const auto & r : rows) {
        EXPECT_LE(r.real_tokens, r.target_tokens);
        EXPECT_GT(r.drafts, 0);
        EXPECT_GE(r.tau, 1.0);
        EXPECT_GT(r.stored_tokens, 0u);
    }
    // 10 tokens of real text predict little; the whole corpus (then filler) predicts the repeats.
    EXPECT_LT(rows[0].tau, rows[1].tau);
    EXPECT_GT(rows[1].tau, 4.0);
    EXPECT_GT(rows[1].real_tokens, 500u);
    EXPECT_LT(rows[1].real_tokens, 100000u);  // the rest is filler

    o.heldout = 40;
    EXPECT_THROW(dare::run_pool_bench(o), dare::error);
}
