// generation_session on the real model: the health guard regenerates a
// relaxed record whose text is degenerate with strict verification (so what
// ships is what plain decoding would have written), leaves healthy ones
// alone, and puts only the kept text into the pool.
#include <gtest/gtest.h>

#include <sstream>

#include "dare/health.h"
#include "dare/session.h"
#include "test_util.h"

using namespace dare_test;

namespace {

dare::generate_job_options session_options(const std::string & verify, bool guard) {
    dare::generate_job_options o;
    o.model = dare::default_model_path();
    o.mode = "pld";
    o.verify = verify;
    o.spec.limits = {16, 8};
    o.auto_budget = false;
    o.health_guard = guard;
    o.gen.max_tokens = 48;
    o.gen.repetition = dare::default_repetition();  // as dare generate and dare run apply them
    o.n_ctx = 1024;
    o.n_threads = 2;
    return o;
}

}  // namespace

TEST(Session, HealthGuardRegeneratesDegenerateRelaxedTextsStrictly) {
    // An echo: the model repeats the sentence it is asked to repeat, so
    // nearly every word of the text is a prompt word.
    const std::string echo = "Repeat exactly, word for word: the quick brown fox jumps over the lazy dog.";
    // A healthy text: new words, no loop.
    const std::string healthy = "Introduce movie Heat (1995) and describe its attributes.";
    dare::generation_session relaxed(session_options("relaxed", true));
    dare::generation_session unguarded(session_options("relaxed", false));
    dare::generation_session strict(session_options("strict", false));
    // More prompts that invite echoes and loops, so that several records
    // are regenerated: each regeneration continues strict decoding from the
    // relaxed text's strict prefix on the same KV cache, and must still
    // write exactly what strict decoding from scratch writes.
    const std::vector<std::string> more = {
        "Repeat exactly, word for word: Heat (1995), Casino (1995), Jumanji (1995), Balto (1995), Nixon (1995).",
        "Write the words 'four and a half stars' again and again.",
        "Repeat this sentence three times: the film is a comedy about a family."};
    int regenerated = 0, bad_total = 0;
    std::vector<std::string> prompts = {echo, healthy};
    prompts.insert(prompts.end(), more.begin(), more.end());
    for (const std::string & p : prompts) {
        const auto toks = relaxed.prompt_tokens(p);
        const auto r = relaxed.generate(toks, p, "x", nullptr);
        const auto u = unguarded.generate(toks, p, "x", nullptr);
        const auto s = strict.generate(toks, p, "x", nullptr);
        const bool bad = !dare::measure_health(p, u.text).healthy();
        // A relaxed text that never left the argmax is strict's own (which
        // the guard keeps as it is).
        if (u.stats.off_argmax == 0) {
            EXPECT_EQ(u.text, s.text) << p;
        }
        EXPECT_EQ(r.regenerated, bad && u.stats.off_argmax > 0) << p << "\n" << u.text;
        if (bad) {
            ++bad_total;
            regenerated += (p == echo || p == healthy);
            // The shipped text is the strict one; a regeneration's time counts both attempts.
            EXPECT_EQ(r.text, s.text) << p;
            if (r.regenerated) {
                // Both attempts' passes, but not the strict prefix's again.
                EXPECT_GT(u.strict_prefix, 0);
                EXPECT_LT(r.stats.forward_passes, u.stats.forward_passes + s.stats.forward_passes) << p;
                EXPECT_GT(r.stats.forward_passes, u.stats.forward_passes) << p;
                EXPECT_EQ(relaxed.record_fields(r)["guard"], "regenerated");
            } else {
                EXPECT_EQ(relaxed.record_fields(r)["guard"], "strict_text");
            }
        } else {
            EXPECT_EQ(r.text, u.text);  // a healthy text is left as relaxed wrote it
            EXPECT_EQ(relaxed.record_fields(r)["guard"], "passed");
        }
        EXPECT_FALSE(unguarded.record_fields(u).contains("guard"));
        EXPECT_FALSE(strict.record_fields(s).contains("guard"));
    }
    EXPECT_EQ(regenerated, 1) << "the echo prompt must trip the guard and the movie prompt must not";
    std::printf("%d of %zu prompts gave a degenerate relaxed text\n", bad_total, prompts.size());
    EXPECT_GE(bad_total, 2);
}

TEST(Session, GuardedPoolGetsOnlyTheKeptText) {
    auto o = session_options("relaxed", true);
    o.mode = "dare";
    dare::generation_session s(o);
    const std::string p = "Repeat exactly, word for word: the quick brown fox jumps over the lazy dog.";
    const auto toks = s.prompt_tokens(p);
    auto pool = dare::make_index(dare::index_kind::suffix);
    const auto r = s.generate(toks, p, "x", pool.get());
    // The pool holds the prompt once and the kept text once: byte for byte
    // the pool a resumed run rebuilds from the record's prompt and text
    // (reinsert).
    auto want = dare::make_index(dare::index_kind::suffix);
    s.reinsert(*want, p, r.text);
    std::ostringstream got_body, want_body;
    pool->save_body(got_body);
    want->save_body(want_body);
    EXPECT_EQ(got_body.str(), want_body.str());
}

// Batched records of different groups in one batch: each drafts from, and
// puts its prompt and kept text into, its own group's pool only (what dare
// run --parallel does across groups).
TEST(Session, BatchedRecordsUseTheirOwnGroupsPools) {
    auto o = session_options("strict", true);
    o.mode = "dare";
    o.parallel = 2;
    dare::generation_session s(o);
    const std::vector<std::string> prompts = {
        "Introduce movie Toy Story (1995) and describe its attributes.",
        "Introduce movie Heat (1995) and describe its attributes.",
        "Introduce movie Jumanji (1995) and describe its attributes.",
        "Introduce movie Casino (1995) and describe its attributes."};
    std::vector<std::vector<dare::token>> toks;
    for (const auto & p : prompts) {
        toks.push_back(s.prompt_tokens(p));
    }
    auto a = dare::make_index(dare::index_kind::ngram_trie), b = dare::make_index(dare::index_kind::ngram_trie);
    std::vector<std::string> texts(prompts.size());
    // Records 0 and 2 belong to group a, 1 and 3 to group b: records 0 and 1
    // start together.
    s.generate_many(
        prompts.size(),
        [&](size_t i) {
            return dare::generation_session::record_ref{toks[i], prompts[i], std::to_string(i), i % 2 ? b.get() : a.get()};
        },
        [&](size_t i, dare::generation_result && r) { texts[i] = r.text; });
    for (size_t g = 0; g < 2; ++g) {
        uint64_t want = 0;
        for (size_t i = g; i < prompts.size(); i += 2) {
            ASSERT_FALSE(texts[i].empty()) << i;
            want += toks[i].size() + s.text_tokens(texts[i]).size();
        }
        EXPECT_EQ((g ? b : a)->stored_tokens(), want) << "group " << g;
    }
}

// The guard on batched relaxed records (dare run's default, --parallel
// auto): batches keep the batch-invariant layout with a KV stream per
// record, so a batched relaxed text that never left the argmax is strict
// decoding's text exactly and is kept ("strict_text" when degenerate); a
// degenerate text that left it is regenerated into strict's text.
TEST(Session, BatchedGuardKeepsStrictTextsAndRegeneratesTheRest) {
    auto bo = session_options("relaxed", true);
    bo.parallel = 4;
    dare::generation_session batched(bo);
    dare::generation_session strict(session_options("strict", false));
    const std::vector<std::string> prompts = {
        "Repeat exactly, word for word: the quick brown fox jumps over the lazy dog.",
        "Introduce movie Heat (1995) and describe its attributes.",
        "Repeat exactly, word for word: Heat (1995), Casino (1995), Jumanji (1995), Balto (1995), Nixon (1995).",
        "Write the words 'four and a half stars' again and again.",
        "Repeat this sentence three times: the film is a comedy about a family.",
        "Introduce movie Toy Story (1995) and describe its attributes."};
    std::vector<std::vector<dare::token>> toks;
    for (const auto & p : prompts) {
        toks.push_back(batched.prompt_tokens(p));
    }
    std::vector<dare::generation_result> got(prompts.size());
    batched.generate_many(
        prompts.size(),
        [&](size_t i) { return dare::generation_session::record_ref{toks[i], prompts[i], std::to_string(i), nullptr}; },
        [&](size_t i, dare::generation_result && r) { got[i] = std::move(r); });
    int strict_texts = 0, departed = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        const auto & r = got[i];
        const auto s = strict.generate(toks[i], prompts[i], std::to_string(i), nullptr);
        const std::string guard = batched.record_fields(r)["guard"];
        const bool healthy = dare::measure_health(prompts[i], r.text).healthy();
        if (r.stats.off_argmax == 0) {
            ++strict_texts;
            EXPECT_EQ(r.text, s.text) << prompts[i];
            EXPECT_EQ(guard, healthy ? "passed" : "strict_text") << prompts[i];
        } else {
            ++departed;
            if (guard == "regenerated") {
                EXPECT_TRUE(r.regenerated);
                EXPECT_EQ(r.text, s.text) << prompts[i];
            } else {
                EXPECT_EQ(guard, "passed");
                EXPECT_TRUE(healthy) << r.text;
            }
        }
    }
    std::printf("%d batched relaxed texts never left the argmax, %d did\n", strict_texts, departed);
    EXPECT_GT(strict_texts, 0);
}
