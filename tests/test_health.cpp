// Text health of knowledge records (no model): the echo-only and looped
// definitions on hand-made texts, the longest repeat against a brute-force
// reference, grounding against items and user histories, and the totals.
#include <gtest/gtest.h>

#include <random>

#include "dare/health.h"
#include "dare/text_metrics.h"

namespace {

const std::string kPrompt = "Introduce movie Heat (1995) and describe its attributes (genre, director, mood).";

// Longest word sequence occurring at least twice, by enumerating every pair
// of start positions.
int32_t longest_repeat_brute(const dare::word_seq & w) {
    int32_t best = 0;
    for (size_t i = 0; i < w.size(); ++i) {
        for (size_t j = i + 1; j < w.size(); ++j) {
            int32_t k = 0;
            while (j + k < w.size() && w[i + k] == w[j + k]) {
                ++k;
            }
            best = std::max(best, k);
        }
    }
    return best;
}

}  // namespace

TEST(Health, WordsKeepApostrophes) {
    EXPECT_EQ(dare::words_of("The user's favourite: Schindler's List!"),
              (dare::word_seq{"the", "user's", "favourite", "schindler's", "list"}));
}

TEST(Health, EchoOnlyIsUnderFifteenPercentNewWords) {
    // 21 words, 2 new (under 10%): echo-only.
    const auto echo = dare::measure_health(
        kPrompt, "Introduce movie Heat 1995 and describe its attributes genre director mood Heat 1995 movie genre "
                 "director mood and its crime drama");
    EXPECT_EQ(echo.words, 21);
    EXPECT_NEAR(echo.new_word_share, 2.0 / 21, 1e-12);
    EXPECT_TRUE(echo.echo_only);
    EXPECT_FALSE(echo.healthy());
    // 3 new of 20 (15%): not echo-only (the threshold is strict).
    const auto edge = dare::measure_health(
        kPrompt, "heat heat heat heat heat heat heat heat heat heat heat heat heat heat heat heat heat crime "
                 "drama thriller");
    EXPECT_EQ(edge.words, 20);
    EXPECT_FALSE(edge.echo_only);
    // An empty text says nothing new.
    EXPECT_TRUE(dare::measure_health(kPrompt, "").echo_only);
    EXPECT_TRUE(dare::measure_health(kPrompt, "A tense crime thriller set in Los Angeles.").healthy());
}

TEST(Health, LoopedIsAFiveWordSequenceThreeTimes) {
    const std::string five = "the film is a drama ";
    EXPECT_FALSE(dare::measure_health("", five + "and " + five + "then").looped);  // twice
    EXPECT_TRUE(dare::measure_health("", five + "and " + five + "but " + five).looped);
    // Overlapping occurrences count: seven equal words hold the same 5-gram three times.
    EXPECT_TRUE(dare::measure_health("", "stars stars stars stars stars stars stars").looped);
    EXPECT_FALSE(dare::measure_health("", "stars stars stars stars stars stars").looped);
    // Four-word repeats never make a loop.
    EXPECT_FALSE(dare::measure_health("", "a b c d x a b c d y a b c d z a b c d").looped);
}

TEST(Health, LongestRepeatMatchesBruteForce) {
    std::mt19937 rng(7);
    const std::vector<std::string> vocab = {"a", "b", "c", "film", "drama"};
    for (int trial = 0; trial < 300; ++trial) {
        std::string text;
        dare::word_seq w;
        const int n = static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i) {
            w.push_back(vocab[rng() % (trial % 2 ? 2 : vocab.size())]);
            text += w.back() + " ";
        }
        const auto h = dare::measure_health("", text);
        ASSERT_EQ(h.longest_repeat, longest_repeat_brute(w)) << text;
    }
}

TEST(Health, DistinctTwoPerText) {
    EXPECT_DOUBLE_EQ(dare::measure_health("", "a b a b").distinct_2, 2.0 / 3);
    EXPECT_DOUBLE_EQ(dare::measure_health("", "word").distinct_2, 0.0);
}

TEST(Health, TitlesAndGenresAreMatchedAsTheyAreWritten) {
    EXPECT_EQ(dare::title_words("Matrix, The (1999)"), (dare::word_seq{"the", "matrix"}));
    EXPECT_EQ(dare::title_words("Seven (a.k.a. Se7en) (1995)"), (dare::word_seq{"seven"}));
    EXPECT_EQ(dare::title_words("Shawshank Redemption, The (1994)"),
              (dare::word_seq{"the", "shawshank", "redemption"}));
    EXPECT_EQ(dare::title_words("Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000)"),
              (dare::word_seq{"crouching", "tiger", "hidden", "dragon"}));  // "Hidden Dragon" is not an article
    EXPECT_EQ(dare::title_forms("Jungle Book, The (1994)"),
              (std::vector<dare::word_seq>{{"the", "jungle", "book"}, {"jungle", "book", "the"}, {"jungle", "book"}}));
    EXPECT_EQ(dare::title_forms("Heat (1995)"), (std::vector<dare::word_seq>{{"heat"}}));
    EXPECT_TRUE(dare::contains_words(dare::words_of("a science-fiction epic"), dare::words_of("science fiction")));
    const auto scifi = dare::genre_forms("Sci-Fi");
    EXPECT_TRUE(std::any_of(scifi.begin(), scifi.end(),
                            [](const auto & f) { return f == dare::words_of("sci-fi"); }));
    EXPECT_TRUE(dare::genre_forms("(no genres listed)").empty());
    EXPECT_EQ(dare::genre_forms("Space Opera"), (std::vector<dare::word_seq>{{"space", "opera"}}));
}

TEST(Health, ItemGroundingCountsGenresYearAndTags) {
    dare::item it{"6", "Heat (1995)", {"Action", "Crime", "Thriller"}, {"Al Pacino", "heist"}};
    const auto ref = dare::item_grounding(it);
    const auto h = dare::measure_health(
        "Introduce movie Heat (1995).", "Heat is a 1995 crime film, a thrilling heist story with Al Pacino.", ref);
    EXPECT_EQ(h.genres, 3);
    EXPECT_DOUBLE_EQ(h.genres_named, 2.0 / 3);  // crime, thrilling (not action)
    EXPECT_TRUE(h.year_named);
    EXPECT_DOUBLE_EQ(h.tags_named, 1.0);
    EXPECT_DOUBLE_EQ(h.grounding(), 2.0 / 3);
    const auto j = dare::health_json(h);
    EXPECT_DOUBLE_EQ(j["genres_named"].get<double>(), 2.0 / 3);
    EXPECT_TRUE(j["year_named"].get<bool>());
    // A title without a year has no year to name.
    dare::item untitled{"7", "Heat", {"Crime"}};
    EXPECT_FALSE(dare::measure_health("", "Heat, 1995.", dare::item_grounding(untitled)).has_year);
}

TEST(Health, UserGroundingNamesHistoryTitlesOrGenres) {
    dare::dataset d;
    d.items = {{"1", "Matrix, The (1999)", {"Action", "Sci-Fi"}}, {"2", "Amelie (2001)", {"Comedy", "Romance"}}};
    dare::user u;
    u.id = "u";
    d.users = {u};
    d.interactions = {{0, 0, 5.0f, 1}, {0, 1, 4.0f, 2}};
    const std::vector<int32_t> hist = {0, 1};
    const auto ref = dare::user_grounding(d, hist);
    EXPECT_EQ(ref.titles.size(), 2u);
    EXPECT_EQ(ref.genres.size(), 4u);
    const auto titled = dare::measure_health("", "They loved The Matrix.", ref);
    EXPECT_EQ(titled.titles_named, 1);
    EXPECT_EQ(dare::measure_health("", "1. Matrix, The (1999): 5 stars; 2. Amelie.", ref).titles_named, 2);
    EXPECT_DOUBLE_EQ(titled.grounding(), 1.0);
    const auto genre = dare::measure_health("", "A fan of romantic films.", ref);
    EXPECT_EQ(genre.titles_named, 0);
    EXPECT_EQ(genre.history_genres_named, 1);
    EXPECT_TRUE(dare::health_json(genre)["grounded"].get<bool>());
    const auto neither = dare::measure_health("", "The user watches movies.", ref);
    EXPECT_DOUBLE_EQ(neither.grounding(), 0.0);
    EXPECT_FALSE(dare::health_json(neither)["grounded"].get<bool>());
}

TEST(Health, TotalsAverageRecords) {
    dare::health_totals t;
    EXPECT_TRUE(t.to_json().empty());
    t.add(dare::health_json(dare::measure_health(kPrompt, "")));  // echo-only, 0 words
    dare::item it{"6", "Heat (1995)", {"Crime"}};
    t.add(dare::health_json(dare::measure_health(kPrompt, "a crime story a crime story a crime story a crime story",
                                                 dare::item_grounding(it))));  // looped, grounded
    t.add(dare::json::object());  // a record without health is not counted
    const auto j = t.to_json();
    EXPECT_EQ(j["records"].get<int64_t>(), 2);
    EXPECT_DOUBLE_EQ(j["echo_only"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(j["looped"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(j["words"].get<double>(), 6.0);
    EXPECT_DOUBLE_EQ(j["grounding"].get<double>(), 1.0);  // only the item with genres has a grounding figure
}
