// KAR prompts: template rendering, history order and cap.
#include <gtest/gtest.h>

#include "dare/error.h"
#include "dare/prompts.h"

TEST(Prompts, RendersNamedPlaceholders) {
    EXPECT_EQ(dare::render_template("a {x} b {y}", {{"x", "1"}, {"y", "2"}}), "a 1 b 2");
    EXPECT_THROW(dare::render_template("a {z}", {{"x", "1"}}), dare::error);
    EXPECT_THROW(dare::render_template("a {x", {{"x", "1"}}), dare::error);
    EXPECT_THROW(dare::render_template("a x}", {{"x", "1"}}), dare::error);
}

TEST(Prompts, ItemPromptIsKar) {
    dare::item it{"1", "Toy Story (1995)", {"Animation"}};
    const auto p = dare::item_prompt(dare::prompt_templates::kar_movies(), it);
    EXPECT_EQ(p.rfind("Introduce movie Toy Story (1995) and describe its attributes", 0), 0u) << p;
    EXPECT_NE(p.find("soundtrack"), std::string::npos);
}

TEST(Prompts, UserHistoryIsTimeOrderedAndCapped) {
    dare::dataset d;
    d.items = {{"1", "A (1990)", {}}, {"2", "B (1991)", {}}, {"3", "C (1992)", {}}};
    d.users = {{"u1", "", "", ""}, {"u2", "female", "25", "a writer"}};
    d.interactions = {{0, 2, 4.0f, 300}, {0, 0, 3.5f, 100}, {0, 1, 5.0f, 200}, {1, 0, 1.0f, 5}};
    const auto t = dare::prompt_templates::kar_movies();
    const auto p = dare::user_prompt(t, d, 0, 2);
    EXPECT_NE(p.find("B (1991), 5 stars; C (1992), 4 stars."), std::string::npos) << p;
    EXPECT_EQ(p.find("A (1990)"), std::string::npos) << p;
    EXPECT_EQ(p.rfind("Given a user's movie viewing history over time:", 0), 0u) << p;
    const auto q = dare::user_prompt(t, d, 1, 30);
    EXPECT_EQ(q.rfind("Given a female user who is aged 25 and a writer, the user's movie viewing history", 0), 0u)
        << q;
}
