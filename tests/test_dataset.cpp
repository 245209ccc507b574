// Dataset loading: CSV quoting, the ml-latest shape on a fixture written
// here, malformed rows reported with file and line, strict mode.
#include <gtest/gtest.h>

#include <set>

#include "dare/dataset.h"
#include "dare/error.h"
#include "test_util.h"

using namespace dare_test;

TEST(Dataset, SplitsQuotedCsvFields) {
    std::vector<std::string> f;
    ASSERT_TRUE(dare::split_csv_line("11,\"American President, The (1995)\",Comedy|Drama|Romance", f));
    EXPECT_EQ(f, (std::vector<std::string>{"11", "American President, The (1995)", "Comedy|Drama|Romance"}));
    ASSERT_TRUE(dare::split_csv_line("1,\"Say \"\"Hi\"\"\",", f));
    EXPECT_EQ(f, (std::vector<std::string>{"1", "Say \"Hi\"", ""}));
    EXPECT_FALSE(dare::split_csv_line("1,\"open", f));
}

namespace {
void write_fixture(const temp_dir & d) {
    write_file(d / "movies.csv",
               "movieId,title,genres\n"
               "1,Toy Story (1995),Adventure|Animation|Children\n"
               "2,\"American President, The (1995)\",Comedy|Drama\n"
               "x,Bad Id (1999),Drama\n"
               "3,Untitled (2000),(no genres listed)\n");
    write_file(d / "ratings.csv",
               "userId,movieId,rating,timestamp\n"
               "1,1,4.0,964982703\n"
               "1,2,3.5,964981247\n"
               "2,1,5.0,964982224\n"
               "2,99,5.0,964982224\n"
               "2,2,five,964982224\n"
               "3,3,2.0,964983815\n");
}
}  // namespace

TEST(Dataset, LoadsMovieLensLatestShape) {
    temp_dir d;
    write_fixture(d);
    const auto ds = dare::load_dataset(d.str());
    EXPECT_EQ(ds.format, "ml-latest");
    ASSERT_EQ(ds.items.size(), 3u);
    EXPECT_EQ(ds.items[1].title, "American President, The (1995)");
    EXPECT_EQ(ds.items[1].genres, (std::vector<std::string>{"Comedy", "Drama"}));
    EXPECT_TRUE(ds.items[2].genres.empty());
    EXPECT_EQ(ds.users.size(), 3u);
    EXPECT_EQ(ds.interactions.size(), 4u);
    EXPECT_FLOAT_EQ(ds.interactions[1].rating, 3.5f);
    // Bad rows are reported with their file and line, not dropped silently.
    ASSERT_EQ(ds.problems.size(), 3u);
    EXPECT_EQ(ds.problems[0].line, 4);
    EXPECT_NE(ds.problems[0].file.find("movies.csv"), std::string::npos);
    EXPECT_EQ(ds.problems[1].line, 5);
    EXPECT_NE(ds.problems[1].what.find("99"), std::string::npos);
    EXPECT_EQ(ds.problems[2].line, 6);
    // Popularity: item 0 has two ratings.
    EXPECT_EQ(dare::items_by_popularity(ds)[0], 0);
}

TEST(Dataset, StrictInputFailsOnTheFirstBadRow) {
    temp_dir d;
    write_fixture(d);
    dare::load_options o;
    o.strict = true;
    try {
        dare::load_dataset(d.str(), o);
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("movies.csv:4:"), std::string::npos) << e.what();
    }
}

TEST(Dataset, UnknownFolderIsAClearError) {
    temp_dir d;
    EXPECT_THROW(dare::load_dataset(d.str()), dare::error);
    EXPECT_THROW(dare::load_dataset(d / "nope"), dare::error);
}

TEST(Dataset, BundledDatasetLoadsCleanly) {
    const auto ds = dare::load_dataset(dare::default_dataset_path());
    EXPECT_EQ(ds.items.size(), 9125u);
    EXPECT_EQ(ds.users.size(), 671u);
    EXPECT_EQ(ds.interactions.size(), 100004u);
    EXPECT_TRUE(ds.problems.empty());
}

TEST(Dataset, LoadsMovieLens1mWithDemographicsAndLatin1Titles) {
    temp_dir d;
    // "Bicycle Thief, The (Ladri di biciclette)" style titles; one in Latin-1 (0xE9 = é).
    write_file(d / "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                 "2::Am\xE9lie (2001)::Comedy|Romance\n"
                                 "3:Broken (2000)::Drama\n");
    write_file(d / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n2::M::25::1::1\n");
    write_file(d / "ratings.dat", "1::1::5::978300760\n1::2::3::978302109\n2::2::4::978301968\n2::7::4::978301968\n");
    const auto ds = dare::load_dataset(d.str());
    EXPECT_EQ(ds.format, "ml-1m");
    ASSERT_EQ(ds.items.size(), 2u);
    EXPECT_EQ(ds.items[1].title, "Am\xC3\xA9lie (2001)");  // converted to UTF-8
    EXPECT_EQ(ds.items[0].genres, (std::vector<std::string>{"Animation", "Children's", "Comedy"}));
    ASSERT_EQ(ds.users.size(), 2u);
    EXPECT_EQ(ds.users[0].gender, "female");
    EXPECT_EQ(ds.users[0].age, "under 18");
    EXPECT_EQ(ds.users[0].occupation, "K-12 student");
    EXPECT_EQ(ds.users[1].occupation, "self-employed");
    EXPECT_EQ(ds.interactions.size(), 3u);
    ASSERT_EQ(ds.problems.size(), 3u);  // movies.dat:3 (bad separator), users.dat:3 (duplicate), ratings.dat:4 (item 7)
    EXPECT_NE(ds.problems[0].file.find("movies.dat"), std::string::npos);
    EXPECT_EQ(ds.problems[0].line, 3);
    EXPECT_NE(ds.problems[1].file.find("users.dat"), std::string::npos);
    EXPECT_EQ(ds.problems[2].line, 4);
}

TEST(Dataset, MovieLens10mShapeHasNoDemographics) {
    temp_dir d;
    write_file(d / "movies.dat", "1::Toy Story (1995)::Adventure|Animation\n");
    write_file(d / "ratings.dat", "5::1::4.5::1112486027\n");
    const auto ds = dare::load_dataset(d.str());
    EXPECT_EQ(ds.format, "ml-10m");
    ASSERT_EQ(ds.users.size(), 1u);
    EXPECT_TRUE(ds.users[0].gender.empty());
    EXPECT_FLOAT_EQ(ds.interactions[0].rating, 4.5f);
}

TEST(Dataset, LoadsMovieLens100kShape) {
    temp_dir d;
    // 19 genre flags: unknown, Action, Adventure, Animation, Children's, Comedy, ...
    write_file(d / "u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                             "2|Caf\xE9 au lait (1994)|01-Jan-1994||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
                             "3|Short row|01-Jan-1994\n");
    write_file(d / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n");
    write_file(d / "u.data", "1\t1\t5\t874965758\n2\t2\t3\t876893171\n2\t1\tx\t876893171\n");
    const auto ds = dare::load_dataset(d.str());
    EXPECT_EQ(ds.format, "ml-100k");
    ASSERT_EQ(ds.items.size(), 2u);
    EXPECT_EQ(ds.items[0].genres, (std::vector<std::string>{"Animation", "Children's", "Comedy"}));
    EXPECT_EQ(ds.items[1].title, "Caf\xC3\xA9 au lait (1994)");
    EXPECT_EQ(ds.items[1].genres, (std::vector<std::string>{"Drama"}));
    ASSERT_EQ(ds.users.size(), 2u);
    EXPECT_EQ(ds.users[0].age, "24");
    EXPECT_EQ(ds.users[0].occupation, "technician");
    EXPECT_EQ(ds.users[1].gender, "female");
    EXPECT_EQ(ds.interactions.size(), 2u);
    ASSERT_EQ(ds.problems.size(), 2u);
    EXPECT_EQ(ds.problems[0].line, 3);  // u.item short row
    EXPECT_NE(ds.problems[1].file.find("u.data"), std::string::npos);
    EXPECT_EQ(ds.problems[1].line, 3);
}

TEST(Dataset, LoadsGenericShape) {
    temp_dir d;
    write_file(d / "items.jsonl", "{\"id\": \"sku-1\", \"title\": \"Trail shoes\", \"genres\": [\"Sports\", \"Shoes\"]}\n"
                                  "{\"id\": 2, \"title\": \"Rain jacket\"}\n"
                                  "{\"title\": \"no id\"}\n"
                                  "not json\n");
    write_file(d / "users.jsonl", "{\"id\": \"u1\", \"age\": 31, \"gender\": \"female\"}\n");
    write_file(d / "interactions.csv", "user,item,rating,timestamp\nu1,sku-1,5,100\nu2,2,4,200\nu2,sku-9,4,300\n");
    const auto ds = dare::load_dataset(d.str());
    EXPECT_EQ(ds.format, "generic");
    ASSERT_EQ(ds.items.size(), 2u);
    EXPECT_EQ(ds.items[1].id, "2");
    EXPECT_EQ(ds.items[0].genres, (std::vector<std::string>{"Sports", "Shoes"}));
    ASSERT_EQ(ds.users.size(), 2u);  // u1 from users.jsonl, u2 from the interactions
    EXPECT_EQ(ds.users[0].age, "31");
    EXPECT_EQ(ds.interactions.size(), 2u);
    ASSERT_EQ(ds.problems.size(), 3u);
    EXPECT_EQ(ds.problems[0].line, 3);
    EXPECT_EQ(ds.problems[1].line, 4);
    EXPECT_NE(ds.problems[2].file.find("interactions.csv"), std::string::npos);
    // Strict mode: the first bad row is fatal, with file and line.
    dare::load_options strict;
    strict.strict = true;
    try {
        dare::load_dataset(d.str(), strict);
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("items.jsonl:3"), std::string::npos) << e.what();
    }
}

TEST(Dataset, UnknownFolderNamesTheShapesItKnows) {
    temp_dir d;
    write_file(d / "readme.txt", "x");
    try {
        dare::load_dataset(d.str());
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("u.item"), std::string::npos) << e.what();
    }
}

TEST(Dataset, UserHistoriesAreInTimeOrder) {
    temp_dir d;
    write_fixture(d);
    const auto ds = dare::load_dataset(d.str());
    const auto h = dare::user_histories(ds);
    ASSERT_EQ(h.size(), ds.users.size());
    ASSERT_EQ(h[0].size(), 2u);
    EXPECT_LE(ds.interactions[h[0][0]].timestamp, ds.interactions[h[0][1]].timestamp);
    EXPECT_EQ(ds.interactions[h[0][0]].item, 1);  // the 3.5-star rating came first
}

TEST(Dataset, TopItemInteractionsAndSubsetHistories) {
    const auto ds = dare::load_dataset(dare::default_dataset_path());
    EXPECT_EQ(dare::interactions_with_top_items(ds, 0).size(), ds.interactions.size());
    const auto pop = dare::items_by_popularity(ds);
    const std::set<int32_t> top(pop.begin(), pop.begin() + 10);
    std::vector<int32_t> count(ds.items.size(), 0);
    for (const auto & x : ds.interactions) {
        ++count[x.item];
    }
    size_t expected = 0;
    for (int32_t i : top) {
        expected += static_cast<size_t>(count[i]);
    }
    const auto kept = dare::interactions_with_top_items(ds, 10);
    ASSERT_EQ(kept.size(), expected);
    for (int32_t k : kept) {
        ASSERT_TRUE(top.count(ds.interactions[k].item)) << k;
    }
    // Histories over the subset: exactly its interactions, each user's in time order.
    const auto h = dare::user_histories(ds, kept);
    size_t total = 0;
    for (size_t u = 0; u < h.size(); ++u) {
        total += h[u].size();
        for (size_t j = 0; j < h[u].size(); ++j) {
            EXPECT_EQ(ds.interactions[h[u][j]].user, static_cast<int32_t>(u));
            EXPECT_TRUE(top.count(ds.interactions[h[u][j]].item));
            if (j > 0) {
                EXPECT_LE(ds.interactions[h[u][j - 1]].timestamp, ds.interactions[h[u][j]].timestamp);
            }
        }
    }
    EXPECT_EQ(total, kept.size());
}
