// CTR evaluation pieces: the per-user time split, base features that no
// test label (and no row's own label) can reach, AUC and LogLoss against
// hand-checked values, and the whole evaluation on a small generic dataset
// with knowledge vectors written as `dare encode` writes them.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

#include "dare/ctr.h"
#include "dare/encode.h"
#include "dare/error.h"
#include "test_util.h"

using namespace dare_test;

namespace {

// 6 users x 8 items, ratings depend on user parity and item genre.
void write_fixture(const std::string & dir) {
    std::filesystem::create_directories(dir);
    std::ostringstream items, inter;
    inter << "user,item,rating,timestamp\n";
    for (int i = 0; i < 8; ++i) {
        items << "{\"id\": \"i" << i << "\", \"title\": \"Film " << i << " (199" << i << ")\", \"genres\": [\""
              << (i % 2 ? "Drama" : "Comedy") << "\"]}\n";
    }
    for (int u = 0; u < 6; ++u) {
        for (int i = 0; i < 8; ++i) {
            inter << 'u' << u << ",i" << i << ',' << ((u % 2 == i % 2) ? 5 : 2) << ',' << (1000 + u * 3 + i * 10) << '\n';
        }
    }
    write_file(dir + "/items.jsonl", items.str());
    write_file(dir + "/interactions.csv", inter.str());
}

}  // namespace

TEST(Ctr, AucAndLogLossMatchHandComputedValues) {
    // Scores 0.1 0.4 0.35 0.8 with labels 0 0 1 1: positive-negative pairs
    // (0.35 > 0.1 yes, 0.35 > 0.4 no, 0.8 > both): 3 of 4 -> 0.75.
    EXPECT_DOUBLE_EQ(dare::auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
    // A tie between a positive and a negative counts half: (1 + 0.5) / 2.
    EXPECT_DOUBLE_EQ(dare::auc({0.2f, 0.5f, 0.5f}, {0, 0, 1}), 0.75);
    EXPECT_TRUE(std::isnan(dare::auc({0.1f, 0.2f}, {1, 1})));
    // LogLoss of p = 0.5 everywhere is ln 2; of (0.9 on a positive, 0.2 on a negative) is -(ln .9 + ln .8) / 2.
    EXPECT_NEAR(dare::logloss({0.5f, 0.5f}, {1, 0}), std::log(2.0), 1e-9);
    EXPECT_NEAR(dare::logloss({0.9f, 0.2f}, {1, 0}), -(std::log(0.9) + std::log(0.8)) / 2, 1e-6);
}

TEST(Ctr, SplitKeepsEachUsersLatestInteractionsForTest) {
    temp_dir t;
    write_fixture(t / "ds");
    const auto d = dare::load_dataset(t / "ds");
    std::vector<int32_t> all(d.interactions.size());
    std::iota(all.begin(), all.end(), 0);
    const auto s = dare::time_split(d, all, 0.1);
    EXPECT_EQ(s.train.size() + s.test.size(), d.interactions.size());
    EXPECT_EQ(s.test.size(), 6u);  // ceil(0.1 * 8) = 1 per user
    for (int32_t k : s.test) {
        const auto & ti = d.interactions[k];
        for (int32_t j : s.train) {
            if (d.interactions[j].user == ti.user) {
                EXPECT_LE(d.interactions[j].timestamp, ti.timestamp);
            }
        }
    }
}

TEST(Ctr, NoTestLabelReachesAnyFeature) {
    temp_dir t;
    write_fixture(t / "ds");
    auto d = dare::load_dataset(t / "ds");
    std::vector<int32_t> all(d.interactions.size());
    std::iota(all.begin(), all.end(), 0);
    const auto s = dare::time_split(d, all, 0.25);
    const auto f1 = dare::base_features(d, s, 4.0f);
    // Flip every test rating: labels change, features must not.
    for (int32_t k : s.test) {
        d.interactions[k].rating = d.interactions[k].rating >= 4 ? 1.0f : 5.0f;
    }
    const auto f2 = dare::base_features(d, s, 4.0f);
    EXPECT_EQ(f1.x, f2.x);
    EXPECT_NE(f1.y, f2.y);
    // A training row's own label does not reach its features either: the
    // first interaction of every user has no user history.
    const size_t cols = static_cast<size_t>(f1.cols());
    EXPECT_EQ(f1.names[0], "user_log_count");
    std::set<int32_t> seen_user;
    for (size_t r = 0; r < s.train.size(); ++r) {
        const auto & in = d.interactions[s.train[r]];
        if (seen_user.insert(in.user).second) {
            EXPECT_FLOAT_EQ(f1.x[r * cols], 0.0f) << "row " << r;
        }
    }
    // Later rows do see earlier training history.
    EXPECT_GT(*std::max_element(f1.x.begin(), f1.x.end()), 0.0f);
}

TEST(Ctr, EvaluatesWithAndWithoutKnowledge) {
    temp_dir t;
    write_fixture(t / "ds");
    // Knowledge vectors that encode the users' taste and the items' genre.
    std::filesystem::create_directories(t / "run/embeddings");
    std::vector<float> iv, uv;
    std::ostringstream iids, uids;
    for (int i = 0; i < 8; ++i) {
        iv.insert(iv.end(), {static_cast<float>(i % 2), 0.3f * i, 1.0f});
        iids << 'i' << i << '\n';
    }
    for (int u = 0; u < 6; ++u) {
        uv.insert(uv.end(), {static_cast<float>(u % 2), 0.1f * u, -1.0f});
        uids << 'u' << u << '\n';
    }
    dare::write_npy_f32(t / "run/embeddings/item.npy", iv, 8, 3);
    dare::write_npy_f32(t / "run/embeddings/user.npy", uv, 6, 3);
    write_file(t / "run/embeddings/item_ids.txt", iids.str());
    write_file(t / "run/embeddings/user_ids.txt", uids.str());
    dare::ctr_options o;
    o.dataset = t / "ds";
    o.knowledge = {t / "run", t / "run"};
    o.test_fraction = 0.25;
    o.pca_dim = 2;
    o.rounds = 20;
    o.bootstrap = 50;
    o.threads = 2;
    o.json_out = t / "ctr.json";
    const auto r = dare::run_ctr_eval(o);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].setting, "none");
    for (const auto & x : r) {
        EXPECT_EQ(x.test_rows, 12);
        EXPECT_LE(x.auc_lo, x.auc_hi);
        EXPECT_GT(x.logloss, 0.0);
    }
    EXPECT_DOUBLE_EQ(r[1].knowledge_coverage, 1.0);
    // The same knowledge twice: same model (same seed), zero difference.
    EXPECT_DOUBLE_EQ(r[2].auc, r[1].auc);
    EXPECT_DOUBLE_EQ(r[2].dauc, 0.0);
    EXPECT_TRUE(std::filesystem::exists(t / "ctr.json"));
    // Missing embeddings: a clear error naming dare encode.
    o.knowledge = {t / "nothing"};
    try {
        dare::run_ctr_eval(o);
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("dare encode"), std::string::npos) << e.what();
    }
}
