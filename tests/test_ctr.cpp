// CTR evaluation pieces: the per-user time split, base features that no
// test label (and no row's own label) can reach, AUC and LogLoss against
// hand-checked values, and the whole evaluation on a small generic dataset
// with knowledge vectors written as `dare encode` writes them.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "dare/ctr.h"
#include "dare/encode.h"
#include "dare/error.h"
#include "dare/jsonl.h"
#include "test_util.h"

using namespace dare_test;

namespace {

// 6 users x 8 items, ratings depend on user parity and item genre (the
// genre follows the item's parity).
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

// A task only knowledge can solve: an item is liked iff its index is even;
// all items share a genre and have no year; 24 users each rate one of items
// 0-5 (training, all at one time: a row sees only earlier times, so no
// training row has any history) and then item 6 or 7 (test; which one is
// independent of the training item's parity, so the user's own history says
// nothing about it).
void write_knowledge_fixture(const std::string & dir) {
    std::filesystem::create_directories(dir);
    std::ostringstream items, inter;
    inter << "user,item,rating,timestamp\n";
    for (int i = 0; i < 8; ++i) {
        items << "{\"id\": \"i" << i << "\", \"title\": \"Film " << i << "\", \"genres\": [\"Comedy\"]}\n";
    }
    auto rating = [](int i) { return i % 2 == 0 ? 5 : 2; };
    for (int u = 0; u < 24; ++u) {
        const int train = u % 6, test = 6 + (u / 2) % 2;
        inter << 'u' << u << ",i" << train << ',' << rating(train) << ",1000\n";
        inter << 'u' << u << ",i" << test << ',' << rating(test) << ",2000\n";
    }
    write_file(dir + "/items.jsonl", items.str());
    write_file(dir + "/interactions.csv", inter.str());
}

// Writes a run folder's embeddings/ as `dare encode` does: vectors of width
// `dim`, row k for ids[k].
void write_vectors(const std::string & run, const std::string & kind, const std::vector<std::string> & ids,
                   const std::vector<float> & v, int dim) {
    std::filesystem::create_directories(run + "/embeddings");
    std::ostringstream lines;
    for (const auto & id : ids) {
        lines << id << '\n';
    }
    dare::write_npy_f32(run + "/embeddings/" + kind + ".npy", v, static_cast<int64_t>(ids.size()), dim);
    write_file(run + "/embeddings/" + kind + "_ids.txt", lines.str());
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
    // No row's features use its own label or anything later in time:
    // changing every rating at or after a row's time (its own included)
    // leaves that row's features as they were.
    const auto d0 = dare::load_dataset(t / "ds");
    const auto f0 = dare::base_features(d0, s, 4.0f);
    const size_t cols = static_cast<size_t>(f0.cols());
    std::vector<int32_t> rows = s.train;
    rows.insert(rows.end(), s.test.begin(), s.test.end());
    int changed_later = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
        auto d1 = d0;
        const int64_t t0 = d0.interactions[rows[r]].timestamp;
        for (auto & in : d1.interactions) {
            if (in.timestamp >= t0) {
                in.rating = in.rating >= 4 ? 1.0f : 5.0f;
            }
        }
        const auto f = dare::base_features(d1, s, 4.0f);
        for (size_t c = 0; c < cols; ++c) {
            EXPECT_EQ(f.x[r * cols + c], f0.x[r * cols + c]) << "row " << r << ", " << f0.names[c];
        }
        // ... while the later training rows do see the change.
        for (size_t q = 0; q < s.train.size(); ++q) {
            if (d0.interactions[rows[q]].timestamp > t0 &&
                !std::equal(f.x.begin() + q * cols, f.x.begin() + (q + 1) * cols, f0.x.begin() + q * cols)) {
                ++changed_later;
                break;
            }
        }
    }
    EXPECT_GT(changed_later, static_cast<int>(s.train.size()) / 2);
}

TEST(Ctr, EvaluatesWithAndWithoutKnowledge) {
    temp_dir t;
    write_knowledge_fixture(t / "ds");
    // Knowledge vectors that encode the users' taste and the items' genre.
    std::vector<float> iv, uv;
    std::vector<std::string> iids, uids;
    // Written in reverse order of the dataset's ids: vectors are joined by
    // id, not by position.
    for (int i = 7; i >= 0; --i) {
        iv.insert(iv.end(), {static_cast<float>(i % 2), 0.2f * static_cast<float>(i % 3), 1.0f});
        iids.push_back(std::string(1, 'i').append(std::to_string(i)));
    }
    for (int u = 23; u >= 0; --u) {
        uv.insert(uv.end(), {static_cast<float>(u % 2), 0.1f * static_cast<float>(u % 5), -1.0f});
        uids.push_back(std::string(1, 'u').append(std::to_string(u)));
    }
    write_vectors(t / "run", "item", iids, iv, 3);
    write_vectors(t / "run", "user", uids, uv, 3);
    dare::ctr_options o;
    o.dataset = t / "ds";
    // A second run whose vectors carry nothing: random numbers, the same
    // for the two test items (rows 0 and 1: ids i7 and i6).
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> unif(-1.0f, 1.0f);
    for (auto * v : {&iv, &uv}) {
        for (float & x : *v) {
            x = unif(rng);
        }
    }
    std::copy_n(iv.begin(), 3, iv.begin() + 3);
    write_vectors(t / "noise", "item", iids, iv, 3);
    write_vectors(t / "noise", "user", uids, uv, 3);
    o.knowledge = {t / "run", t / "noise"};
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
        EXPECT_EQ(x.test_rows, 24);
        EXPECT_LE(x.auc_lo, x.auc);  // percentile bootstrap intervals around the estimate
        EXPECT_LE(x.auc, x.auc_hi);
        EXPECT_LE(x.logloss_lo, x.logloss);
        EXPECT_LE(x.logloss, x.logloss_hi);
        EXPECT_GT(x.logloss, 0.0);
    }
    EXPECT_DOUBLE_EQ(r[1].knowledge_coverage, 1.0);
    // Ratings follow item parity, which the history features cannot see and
    // the first run's vectors encode: its knowledge lifts the AUC, the
    // noise does not, and the paired difference says so.
    std::printf("AUC none %.3f, informative %.3f, noise %.3f; noise minus informative %.3f [%.3f, %.3f]\n", r[0].auc,
                r[1].auc, r[2].auc, r[2].dauc, r[2].dauc_lo, r[2].dauc_hi);
    EXPECT_GT(r[1].auc, r[0].auc + 0.2);
    EXPECT_GT(r[1].auc, 0.9);
    EXPECT_LT(r[2].auc, r[1].auc - 0.2);
    EXPECT_DOUBLE_EQ(r[2].dauc, r[2].auc - r[1].auc);
    EXPECT_LT(r[2].dauc_hi, 0.0);
    EXPECT_DOUBLE_EQ(r[1].dauc, 0.0);  // the first knowledge setting against itself
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

// The PCA that reduces knowledge vectors sees only users and items with a
// training interaction: vectors of items met only in test rows (i6, i7 in
// the fixture) change their own rows' columns and nothing else. A PCA
// fitted on every vector would move its mean and directions toward these
// outliers, and with them every training row's columns.
TEST(Ctr, PcaIsFittedOnTrainingUsersAndItemsOnly) {
    temp_dir t;
    write_knowledge_fixture(t / "ds");
    const auto d = dare::load_dataset(t / "ds");
    std::vector<std::string> iids, uids;
    std::vector<float> iv, uv;
    for (int i = 0; i < 8; ++i) {
        iids.push_back(std::string(1, 'i').append(std::to_string(i)));
        iv.insert(iv.end(), {static_cast<float>(i % 2), 0.2f * static_cast<float>(i % 3), 0.1f * static_cast<float>(i)});
    }
    for (int u = 0; u < 24; ++u) {
        uids.push_back(std::string(1, 'u').append(std::to_string(u)));
        uv.insert(uv.end(), {static_cast<float>(u % 2), 0.1f * static_cast<float>(u % 5), -1.0f});
    }
    write_vectors(t / "a", "item", iids, iv, 3);
    write_vectors(t / "a", "user", uids, uv, 3);
    for (size_t k = 6 * 3; k < iv.size(); ++k) {  // i6 and i7: far away
        iv[k] = 100.0f * iv[k] + 50.0f;
    }
    write_vectors(t / "b", "item", iids, iv, 3);
    write_vectors(t / "b", "user", uids, uv, 3);

    const auto split = dare::time_split(d, dare::interactions_with_top_items(d, 0), 0.25);
    std::vector<int32_t> rows = split.train;
    rows.insert(rows.end(), split.test.begin(), split.test.end());
    const auto a = dare::knowledge_features(d, split, rows, t / "a", 2);
    const auto b = dare::knowledge_features(d, split, rows, t / "b", 2);
    ASSERT_EQ(a.item_cols, 2);
    ASSERT_EQ(a.user_cols, 2);
    const size_t cols = 4;
    size_t test_only = 0, moved = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
        ASSERT_TRUE(a.has_item[r] && a.has_user[r]) << r;
        const int32_t item = d.interactions[rows[r]].item;
        const bool outlier = d.items[static_cast<size_t>(item)].id == "i6" || d.items[static_cast<size_t>(item)].id == "i7";
        ASSERT_EQ(outlier, r >= split.train.size()) << "the fixture's test rows are exactly i6 and i7's";
        for (size_t c = 0; c < cols; ++c) {
            const float x = a.x[r * cols + c], y = b.x[r * cols + c];
            ASSERT_FALSE(std::isnan(x));
            if (!outlier || c >= 2) {  // every training row, and every user column: bit for bit
                EXPECT_EQ(x, y) << "row " << r << " column " << c;
            } else {
                moved += x != y;
            }
        }
        test_only += outlier;
    }
    EXPECT_EQ(test_only, split.test.size());
    EXPECT_GT(moved, 0u);  // the outliers' own rows do change
}

// `dare eval ctr --top-items N` trains and tests on the interactions with the
// N most-rated items only (the items `bench/quality.sh` generates for).
TEST(Ctr, TopItemsKeepsTheMostRatedItemsInteractions) {
    temp_dir t;
    const auto d = dare::load_dataset(dare::default_dataset_path());
    for (const int n : {0, 50}) {
        const std::string json = t / ("ctr" + std::to_string(n) + ".json");
        const auto r = run_dare("eval ctr --dataset " + dare::default_dataset_path() + " --top-items " +
                                std::to_string(n) + " --rounds 2 --bootstrap 10 --threads 2 --json " + json);
        ASSERT_EQ(r.exit_code, 0) << r.output;
        const auto j = dare::json::parse(read_file(json));
        const auto split = dare::time_split(d, dare::interactions_with_top_items(d, n), 0.1);
        EXPECT_EQ(j["settings"]["top_items"], n);
        EXPECT_EQ(j["results"][0]["train_rows"], split.train.size()) << n;
        EXPECT_EQ(j["results"][0]["test_rows"], split.test.size()) << n;
        if (n > 0) {
            EXPECT_LT(split.train.size() + split.test.size(), d.interactions.size() / 2);
        } else {
            EXPECT_EQ(split.train.size() + split.test.size(), d.interactions.size());
        }
    }
}
