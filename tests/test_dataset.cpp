// Dataset loading: CSV quoting, the ml-latest shape on a fixture written
// here, malformed rows reported with file and line, strict mode.
#include <gtest/gtest.h>

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
