// Grouping: BPR learns real preferences, k-means finds clear clusters, every
// method is deterministic for a seed, and items go to their first mapped genre.
#include <gtest/gtest.h>

#include "dare/error.h"
#include "dare/grouping.h"
#include "dare/paths.h"
#include "test_util.h"

using namespace dare_test;

namespace {

// Two taste communities: users 0..19 rate items 0..9, users 20..39 rate 10..19.
dare::dataset two_communities() {
    dare::dataset d;
    for (int i = 0; i < 20; ++i) {
        d.items.push_back({std::to_string(i), "item " + std::to_string(i), {}});
    }
    for (int u = 0; u < 40; ++u) {
        d.users.push_back({std::to_string(u), "", "", ""});
        for (int k = 0; k < 6; ++k) {
            const int item = (u < 20 ? 0 : 10) + (u * 7 + k * 3) % 10;
            d.interactions.push_back({u, item, 4.0f, u * 100 + k});
        }
    }
    return d;
}

}  // namespace

TEST(Grouping, BprLearnsThePreferenceStructure) {
    const auto d = two_communities();
    dare::bpr_options o;
    o.epochs = 40;
    const auto e = dare::train_bpr(d, o);
    EXPECT_GT(dare::bpr_pair_accuracy(d, e, 2000, 7), 0.85);
    dare::bpr_options untrained = o;
    untrained.epochs = 0;
    EXPECT_LT(dare::bpr_pair_accuracy(d, dare::train_bpr(d, untrained), 2000, 7), 0.7);
}

TEST(Grouping, KmeansSeparatesClearClusters) {
    std::vector<float> pts;
    for (int i = 0; i < 30; ++i) {
        const float cx = i < 10 ? 0.0f : i < 20 ? 10.0f : -10.0f;
        pts.push_back(cx + 0.1f * static_cast<float>(i % 5));
        pts.push_back(cx - 0.05f * static_cast<float>(i % 3));
    }
    const auto l = dare::kmeans(pts, 2, 3, 1);
    for (int i = 0; i < 30; ++i) {
        EXPECT_EQ(l[i], l[(i / 10) * 10]) << i;
    }
    EXPECT_NE(l[0], l[10]);
    EXPECT_NE(l[10], l[20]);
    EXPECT_EQ(l[0], 0);  // numbered by first appearance
}

TEST(Grouping, CollaborativeUserGroupsFollowCommunitiesAndAreDeterministic) {
    const auto d = two_communities();
    const auto a = dare::group_users(d, "customized", 2, 42);
    const auto b = dare::group_users(d, "customized", 2, 42);
    EXPECT_EQ(a.method, "collaborative");
    EXPECT_EQ(a.of, b.of);
    int agree = 0;
    for (int u = 0; u < 40; ++u) {
        agree += (a.of[u] == a.of[0]) == (u < 20);
    }
    EXPECT_GE(agree, 36);  // the two communities, up to a few stragglers
}

TEST(Grouping, RealDatasetGroupingIsDeterministicPerSeed) {
    const auto d = dare::load_dataset(dare::default_dataset_path());
    const auto a = dare::group_users(d, "customized", 3, 5);
    const auto b = dare::group_users(d, "customized", 3, 5);
    EXPECT_EQ(a.of, b.of);
    ASSERT_EQ(a.names.size(), 3u);
    for (auto s : a.sizes()) {
        std::printf("user group size %lld\n", static_cast<long long>(s));
        EXPECT_GT(s, 0);
        EXPECT_LT(s, static_cast<int64_t>(d.users.size() * 7 / 10));  // no single group swallows the users
    }
    const auto r1 = dare::group_users(d, "random", 3, 5);
    const auto r2 = dare::group_users(d, "random", 3, 6);
    EXPECT_NE(r1.of, r2.of);
    EXPECT_EQ(dare::group_users(d, "none", 3, 5).names, (std::vector<std::string>{"all"}));
}

TEST(Grouping, ItemsGoToTheirFirstMappedGenre) {
    dare::dataset d;
    d.items = {{"1", "a", {"Adventure", "Comedy"}}, {"2", "b", {"Comedy", "Drama"}}, {"3", "c", {}},
               {"4", "d", {"Unknown genre", "Drama"}}};
    const auto g = dare::group_items(d, "customized", dare::default_genre_groups(), 1);
    EXPECT_EQ(g.method, "attribute");
    EXPECT_EQ(g.names[g.of[0]], "action");
    EXPECT_EQ(g.names[g.of[1]], "comedy");
    EXPECT_EQ(g.names[g.of[2]], "other");
    EXPECT_EQ(g.names[g.of[3]], "drama");
    const auto r = dare::group_items(d, "random", dare::default_genre_groups(), 1);
    EXPECT_EQ(r.names.size(), g.names.size());  // same number of groups as the attribute grouping
}

TEST(Grouping, GenreMapFileIsChecked) {
    temp_dir t;
    write_file(t / "ok.json", "{\"Drama\": \"serious\", \"Comedy\": \"light\"}");
    EXPECT_EQ(dare::load_genre_groups(t / "ok.json").at("Drama"), "serious");
    write_file(t / "bad.json", "{\"Drama\": 3}");
    EXPECT_THROW(dare::load_genre_groups(t / "bad.json"), dare::error);
    write_file(t / "notjson.json", "[");
    EXPECT_THROW(dare::load_genre_groups(t / "notjson.json"), dare::error);
    EXPECT_THROW(dare::group_users(dare::dataset{}, "clusters", 3, 1), dare::error);
}
