// Word splitting, ROUGE-L and distinct-2 against hand-checked examples, and
// the run comparison on two small knowledge files.
#include <gtest/gtest.h>

#include "dare/error.h"
#include "dare/text_metrics.h"
#include "test_util.h"

using namespace dare_test;

TEST(TextMetrics, WordsAreLowercasedAlphanumericRuns) {
    EXPECT_EQ(dare::words_of("The Matrix (1999), sci-fi! It's"),
              (std::vector<std::string>{"the", "matrix", "1999", "sci", "fi", "it's"}));
    EXPECT_EQ(dare::words_of("Amélie"), (std::vector<std::string>{"amélie"}));
    EXPECT_TRUE(dare::words_of(" ,.; ").empty());
}

TEST(TextMetrics, RougeLMatchesHandComputedValues) {
    const auto w = dare::words_of;
    // LCS("the cat sat on the mat", "the cat lay on the mat") = 5 of 6 and 6: F = 5/6.
    EXPECT_NEAR(dare::rouge_l_f1(w("the cat lay on the mat"), w("the cat sat on the mat")), 5.0 / 6.0, 1e-12);
    // cand "a b c d" (4), ref "a c e" (3): LCS "a c" = 2, P = 1/2, R = 2/3, F = 4/7.
    EXPECT_NEAR(dare::rouge_l_f1(w("a b c d"), w("a c e")), 4.0 / 7.0, 1e-12);
    // Order matters: "b a" against "a b" has LCS 1: P = R = 1/2.
    EXPECT_NEAR(dare::rouge_l_f1(w("b a"), w("a b")), 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(dare::rouge_l_f1(w("same words"), w("Same, words.")), 1.0);
    EXPECT_DOUBLE_EQ(dare::rouge_l_f1(w("x"), w("y")), 0.0);
    EXPECT_DOUBLE_EQ(dare::rouge_l_f1({}, w("y")), 0.0);
    EXPECT_DOUBLE_EQ(dare::rouge_l_f1({}, {}), 1.0);
}

TEST(TextMetrics, DistinctTwoCountsBigramsWithinTexts) {
    const auto w = dare::words_of;
    // "a b a b" has bigrams ab, ba, ab (2 distinct of 3); "a b" adds ab: 2 of 4.
    EXPECT_DOUBLE_EQ(dare::distinct_2({w("a b a b"), w("a b")}), 0.5);
    // No bigram spans two texts: "a" + "b" has none.
    EXPECT_DOUBLE_EQ(dare::distinct_2({w("a"), w("b")}), 0.0);
    EXPECT_DOUBLE_EQ(dare::distinct_2({w("one two three")}), 1.0);
}

TEST(TextMetrics, ComparesRunsRecordByRecord) {
    temp_dir t;
    write_file(t / "a.jsonl",
               R"({"kind": "item", "id": 1, "text": "a good film"})" "\n"
               R"({"kind": "item", "id": 2, "text": "a long film"})" "\n"
               R"({"kind": "user", "id": 1, "text": "likes drama"})" "\n");
    write_file(t / "b.jsonl",
               R"({"kind": "user", "id": 1, "text": "likes drama"})" "\n"
               R"({"kind": "item", "id": 1, "text": "a great film"})" "\n"
               R"({"kind": "item", "id": 3, "text": "other"})" "\n");
    const auto c = dare::compare_runs_text(t / "a.jsonl", t / "b.jsonl");
    EXPECT_EQ(c.records, 2);
    EXPECT_EQ(c.only_a, 1);
    EXPECT_EQ(c.only_b, 1);
    // item:1: LCS "a film" = 2 of 3 and 3: F = 2/3; user:1 identical: F = 1.
    EXPECT_NEAR(c.rouge_l_mean, (2.0 / 3.0 + 1.0) / 2, 1e-12);
    EXPECT_DOUBLE_EQ(c.exact_match_rate, 0.5);
    // Health totals per kind over the matched records; records without a
    // prompt or health object are not counted.
    EXPECT_TRUE(c.health_a.at("all").empty());
    write_file(t / "c.jsonl",
               R"({"kind": "item", "id": 1, "prompt": "Introduce movie Heat.", "text": "Introduce movie Heat."})" "\n"
               R"({"kind": "user", "id": 1, "text": "x", "health": {"echo_only": false, "looped": true, "new_words": 1.0, "words": 1, "longest_repeat": 0, "distinct_2": 0}})" "\n");
    const auto h = dare::compare_runs_text(t / "c.jsonl", t / "b.jsonl");
    EXPECT_EQ(h.health_a.at("item")["records"], 1);
    EXPECT_DOUBLE_EQ(h.health_a.at("item")["echo_only"].get<double>(), 1.0);  // measured from its prompt
    EXPECT_DOUBLE_EQ(h.health_a.at("user")["looped"].get<double>(), 1.0);     // the record's own object
    EXPECT_EQ(h.health_a.at("all")["records"], 2);
    write_file(t / "bad.jsonl", "{\"id\": 1}\n");
    EXPECT_THROW(dare::compare_runs_text(t / "a.jsonl", t / "bad.jsonl"), dare::error);
    EXPECT_THROW(dare::compare_runs_text(t / "a.jsonl", t / "missing"), dare::error);
}
