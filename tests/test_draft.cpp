// Draft trees and cost-aware budgets (the batch-shape timing test loads the bundled model).
#include <gtest/gtest.h>

#include <set>

#include "dare/budget.h"
#include "dare/draft.h"
#include "dare/error.h"
#include "dare/paths.h"
#include "test_util.h"

using namespace dare_test;

namespace {
// root -> a(10) -> b(8) -> c(5); root -> d(6) -> e(2); a -> f(1)
dare::draft_tree best_first_tree() {
    dare::draft_tree t;
    t.nodes = {{1, -1, 1, 10}, {2, 0, 2, 8}, {4, -1, 1, 6}, {3, 1, 3, 5}, {5, 2, 2, 2}, {6, 0, 2, 1}};
    t.root_score = 12;
    return t;
}
}  // namespace

TEST(Draft, DepthFirstOrderPutsTheBestPathFirst) {
    auto t = best_first_tree();
    t.order_depth_first();
    ASSERT_EQ(t.size(), 6);
    // The best path a -> b -> c takes rows 0..2, then a's other child, then d -> e.
    std::vector<dare::token> toks;
    for (const auto & n : t.nodes) {
        toks.push_back(n.tok);
    }
    EXPECT_EQ(toks, (std::vector<dare::token>{1, 2, 3, 6, 4, 5}));
    for (int i = 0; i < t.size(); ++i) {
        ASSERT_LT(t.nodes[i].parent, i);
        EXPECT_EQ(t.nodes[i].depth, t.nodes[i].parent < 0 ? 1 : t.nodes[t.nodes[i].parent].depth + 1);
    }
    EXPECT_EQ(t.path(2), (std::vector<dare::token>{1, 2, 3}));
    EXPECT_EQ(t.path(5), (std::vector<dare::token>{4, 5}));
}

TEST(Draft, RemovingANodeRemovesItsSubtreeAndKeepsTheOrder) {
    auto t = best_first_tree();
    std::vector<std::vector<dare::token>> seen_paths;
    // Drop b (token 2, under a): c goes with it; the others keep their order.
    const int32_t removed = t.remove_subtrees([&](int32_t i, std::span<const dare::token> path) {
        seen_paths.emplace_back(path.begin(), path.end());
        return t.nodes[i].tok == 2;
    });
    EXPECT_EQ(removed, 2);
    std::vector<dare::token> toks;
    for (const auto & n : t.nodes) {
        toks.push_back(n.tok);
    }
    EXPECT_EQ(toks, (std::vector<dare::token>{1, 4, 5, 6}));
    EXPECT_EQ(t.path(2), (std::vector<dare::token>{4, 5}));
    EXPECT_EQ(t.path(3), (std::vector<dare::token>{1, 6}));
    // drop() saw each surviving candidate's path to its parent, and never c.
    EXPECT_EQ(seen_paths.size(), 5u);
    EXPECT_EQ(seen_paths[1], (std::vector<dare::token>{1}));     // b, under a
    EXPECT_EQ(seen_paths[3], (std::vector<dare::token>{4}));     // e, under d
    EXPECT_EQ(t.remove_subtrees([](int32_t, std::span<const dare::token>) { return false; }), 0);
    EXPECT_EQ(t.remove_subtrees([](int32_t, std::span<const dare::token>) { return true; }), 4);
    EXPECT_TRUE(t.empty());
}

TEST(Draft, CostModelInterpolatesAndExtrapolates) {
    dare::cost_model c({1, 2, 4, 8}, {10, 15, 20, 40});
    EXPECT_DOUBLE_EQ(c.relative(1), 1.0);
    EXPECT_DOUBLE_EQ(c.relative(3), 1.75);
    EXPECT_DOUBLE_EQ(c.relative(8), 4.0);
    EXPECT_DOUBLE_EQ(c.relative(12), 6.0);  // slope of the last segment: 5 ms per token
    EXPECT_THROW(dare::cost_model({2, 4}, {1, 2}), dare::error);
    temp_dir d;
    c.save(d / "c.json", "test");
    const auto back = dare::cost_model::load(d / "c.json");
    EXPECT_DOUBLE_EQ(back.relative(3), 1.75);
    write_file(d / "bad.json", "{\"sizes\": [1]}");
    EXPECT_THROW(dare::cost_model::load(d / "bad.json"), dare::error);
}

TEST(Draft, ParallelGrowsWhileTheCostPerTokenFalls) {
    // A VM's curve (2 threads, bundled model): per token 1, 0.91, 0.68,
    // 0.49, 0.47, 0.49 of one row at B = 1..32: B = 8 is within 3% of B = 16.
    dare::cost_model vm({1, 2, 4, 8, 16, 32}, {13.4, 24.4, 36.4, 52.1, 101.6, 211.7});
    EXPECT_EQ(dare::choose_parallel(vm), 8);
    EXPECT_EQ(dare::choose_parallel(vm, 4), 4);    // capped
    EXPECT_EQ(dare::choose_parallel(vm, 32, 0), 16);  // no tolerance: the cheapest
    EXPECT_EQ(dare::choose_parallel(vm, 32, 0.01), 16);
    // The AMD EPYC VM's (Q8_0, AVX-512 build): 3.10, 2.83 and 2.69 ms per
    // token at 16, 32 and 64: the default reaches 64.
    dare::cost_model epyc({1, 16, 32, 64}, {9.09, 49.6, 90.4, 172.5});
    EXPECT_EQ(dare::choose_parallel(epyc), 64);
    EXPECT_EQ(dare::choose_parallel(epyc, 32), 32);
    // Linear cost (nothing shared by a batch): one record at a time.
    EXPECT_EQ(dare::choose_parallel(dare::cost_model({1, 64}, {10, 640})), 1);
    // Flat cost (a GPU): as many as allowed.
    EXPECT_EQ(dare::choose_parallel(dare::cost_model({1, 64}, {10, 10}), 16), 16);
    EXPECT_EQ(dare::choose_parallel(dare::cost_model()), 1);
}

TEST(Draft, ParallelIsCappedByTheKvMemoryOfItsRecords) {
    dare::model_info m;  // SmolLM2-135M: 30 layers, 576 wide, 9 heads, 3 of keys and values
    m.n_layer = 30;
    m.n_embd = 576;
    m.n_head = 9;
    m.n_head_kv = 3;
    // 30 * 2 * 3 * 64 * 2 = 23040 bytes a cell; 2048 cells a record: 45 MiB.
    const uint64_t gib = uint64_t{1} << 30;
    EXPECT_EQ(dare::parallel_fitting_memory(m, 2048, 24 * gib), static_cast<int32_t>(6 * gib / (23040 * 2048)));
    EXPECT_EQ(dare::parallel_fitting_memory(m, 2048, 8 * gib), 45);
    EXPECT_EQ(dare::parallel_fitting_memory(m, 2048, 1 << 20), 1);               // never below one
    EXPECT_EQ(dare::parallel_fitting_memory(dare::model_info{}, 2048, gib), 1);  // nothing known
}

TEST(Draft, BudgetDraftsOnlyWhereItPays) {
    const auto t = best_first_tree();
    // Free verification (a GPU): keep everything that adds expected tokens.
    dare::cost_model flat({1, 64}, {10, 10});
    EXPECT_EQ(dare::choose_draft_size(t, t.root_score, 1.0, flat, 1), 6);
    // Each extra token costs as much as a whole step: drafting never pays.
    dare::cost_model linear({1, 2, 64}, {10, 20, 640});
    EXPECT_EQ(dare::choose_draft_size(t, t.root_score, 1.0, linear, 1), 0);
    // In between: the confident head of the tree pays, the tail does not.
    dare::cost_model cpu({1, 2, 3, 4, 8}, {10, 12, 14, 25, 60});
    double predicted = 0;
    const int32_t n = dare::choose_draft_size(t, t.root_score, 1.0, cpu, 1, &predicted);
    EXPECT_EQ(n, 2);  // a (10/12) and b (8/12): (1 + 1.5) / 1.4 beats the alternatives
    EXPECT_NEAR(predicted, 18.0 / 12.0, 1e-9);
    // A pessimistic acceptance history shrinks the draft.
    EXPECT_LT(dare::choose_draft_size(t, t.root_score, 0.1, cpu, 1), n);
    // No cost curve: the whole tree (fixed budget).
    EXPECT_EQ(dare::choose_draft_size(t, t.root_score, 1.0, dare::cost_model(), 1), 6);
}

TEST(Draft, AcceptanceTrackerLearnsTheRatio) {
    dare::acceptance_tracker tr;
    for (int i = 0; i < 500; ++i) {
        tr.update(2.0, 1.0);
    }
    EXPECT_NEAR(tr.alpha(), 0.5, 0.02);
}

TEST(DraftMerger, MergesTwoTreesByEstimatedProbabilityKeepingPrefixes) {
    // a: root 10; 5 (p .8) -> 6 (p .6); 7 (p .2)
    dare::draft_tree a;
    a.root_score = 10;
    a.nodes = {{5, -1, 1, 8}, {6, 0, 2, 6}, {7, -1, 1, 2}};
    // b: root 4; 5 (p .5) -> 9 (p .5); 8 (p .25)
    dare::draft_tree b;
    b.root_score = 4;
    b.nodes = {{5, -1, 1, 2}, {9, 0, 2, 2}, {8, -1, 1, 1}};
    dare::draft_merger m;
    dare::draft_tree out;
    m.merge(a, b, 16, out);
    ASSERT_EQ(out.size(), 5);  // 5, 6, 9, 8, 7: the shared first token once
    EXPECT_FLOAT_EQ(out.root_score, 1.0f);
    EXPECT_EQ(out.nodes[0].tok, 5);
    EXPECT_FLOAT_EQ(out.nodes[0].score, 0.8f);  // the higher of the two estimates
    EXPECT_EQ(out.nodes[1].tok, 6);
    EXPECT_EQ(out.nodes[1].parent, 0);
    EXPECT_EQ(out.nodes[2].tok, 9);
    EXPECT_EQ(out.nodes[2].parent, 0);
    EXPECT_EQ(out.nodes[3].tok, 8);
    EXPECT_EQ(out.nodes[4].tok, 7);
    for (int32_t i = 0; i < out.size(); ++i) {  // best-first: parents first, estimates never rise
        EXPECT_LT(out.nodes[i].parent, i);
        if (i > 0) {
            EXPECT_LE(out.nodes[i].score, out.nodes[i - 1].score);
        }
    }
    m.merge(a, b, 2, out);  // a budget keeps the best prefix-closed set
    ASSERT_EQ(out.size(), 2);
    EXPECT_EQ(out.path(1), (std::vector<dare::token>{5, 6}));
    dare::draft_tree empty;
    m.merge(empty, b, 16, out);
    EXPECT_EQ(out.size(), 3);
}

// `dare calibrate --shapes`: every shape is timed in every context, and the
// contexts are left as they were found (nothing in any sequence).
TEST(Draft, BatchShapesAreTimedInEveryLayoutAndLeaveTheContextEmpty) {
    std::vector<std::unique_ptr<dare::context>> owned;
    std::vector<dare::context *> ctxs;
    for (const auto layout : {dare::kv_layout::batch_invariant, dare::kv_layout::plain_attention}) {
        auto co = test_context(256);
        co.layout = layout;
        co.n_seq_max = 4;
        owned.push_back(std::make_unique<dare::context>(default_model(), co));
        ctxs.push_back(owned.back().get());
    }
    const auto res = dare::measure_batch_shapes(ctxs, {16, 40}, {1, 8}, 1);
    ASSERT_EQ(res.size(), 4u);
    for (const auto & s : res) {
        EXPECT_EQ(s.branches, s.rows == 8 ? 3 : 1);
        ASSERT_EQ(s.tree_ms.size(), 2u);
        for (size_t c = 0; c < 2; ++c) {
            EXPECT_GT(s.chain_ms[c], 0.0);
            EXPECT_GT(s.chain_rebuilt_ms[c], 0.0);
            EXPECT_GT(s.tree_ms[c], 0.0);
        }
    }
    EXPECT_EQ(res[2].depth, 40);
    for (auto * c : ctxs) {
        for (dare::seq_id s = 0; s < 4; ++s) {
            EXPECT_EQ(c->seq_pos_max(s), -1) << "sequence " << s;
        }
    }
    auto co = test_context(256);
    co.n_seq_max = 2;  // 8 rows need 4 sequences
    dare::context small(default_model(), co);
    dare::context * one[] = {&small};
    EXPECT_THROW(dare::measure_batch_shapes(one, {16}, {8}, 1), dare::error);
}

TEST(Draft, CalibrationCacheIsKeyedByModelThreadsAndLayout) {
    // A cached cost curve is reused only for the same model (vocabulary and
    // size), thread count and KV layout: any of them changes what a batch costs.
    dare::model_info a;
    a.vocab_fingerprint = 0x1234;
    a.size_bytes = 1000;
    dare::model_info other_vocab = a, other_size = a;
    other_vocab.vocab_fingerprint = 0x4321;
    other_size.size_bytes = 2000;
    const std::string base = dare::calibration_path(a, 2, dare::kv_layout::batch_invariant);
    std::set<std::string> paths = {base};
    for (const auto & p : {dare::calibration_path(other_vocab, 2, dare::kv_layout::batch_invariant),
                           dare::calibration_path(other_size, 2, dare::kv_layout::batch_invariant),
                           dare::calibration_path(a, 4, dare::kv_layout::batch_invariant),
                           dare::calibration_path(a, 2, dare::kv_layout::llama_default),
                           dare::calibration_path(a, 2, dare::kv_layout::plain_attention)}) {
        EXPECT_TRUE(paths.insert(p).second) << p << " shared by two keys";
    }
    EXPECT_EQ(dare::calibration_path(a, 2, dare::kv_layout::batch_invariant), base);  // and stable
    EXPECT_EQ(base.rfind(dare::cache_dir() + "/calibration/", 0), 0u) << base;
}
