// Continuous batching on the real model: plain batching and strict
// speculation give each record exactly the text one-at-a-time greedy
// decoding gives (each record has its own KV stream on the batch-invariant
// layout: set_batched_context), relaxed batching (on the layout dare run gives it) stays close
// to greedy text and within its rule's accounting, and pools grow with every
// finished record.
#include <gtest/gtest.h>

#include <algorithm>

#include "dare/batched.h"
#include "dare/error.h"
#include "dare/text_metrics.h"
#include "test_util.h"

using namespace dare_test;

namespace {

constexpr int32_t kTokens = 48;
// RelaxedDraftsFromAGrowingPool: the least mean ROUGE-L F1 of relaxed batched
// text against greedy text it accepts as close (measured: 0.749).
constexpr double kRelaxedRouge = 0.6;

// Vanilla outputs and per-token gaps, one record at a time.
struct reference {
    std::vector<std::vector<dare::token>> prompts;
    std::vector<dare::generation_result> out;
};

// The repetition rules of a test: none, or the defaults of dare run.
dare::repetition_options rules(bool with_repetition) {
    return with_repetition ? dare::default_repetition() : dare::repetition_options{};
}

const reference & greedy_reference(bool with_repetition = false) {
    auto make = [](bool rep) {
        reference r;
        const auto & m = default_model();
        dare::context ctx(m, test_context(2048));
        dare::vanilla_decoder van(ctx);
        dare::generation_options g;
        g.max_tokens = kTokens;
        g.record_gaps = true;
        g.repetition = rules(rep);
        const auto all = varied_prompts();
        for (size_t i = 0; i < all.size(); i += 3) {  // 17 prompts, items and users
            r.prompts.push_back(chat(all[i]));
            r.out.push_back(van.generate(r.prompts.back(), g));
        }
        return r;
    };
    static const reference plain = make(false);
    if (!with_repetition) {
        return plain;
    }
    static const reference processed = make(true);
    return processed;
}

struct batched_outputs {
    std::vector<dare::generation_result> out;
    dare::batched_totals totals;
    std::vector<size_t> order;  // completion order
};

batched_outputs run_batched(const dare::batched_options & bo, dare::token_index * pool = nullptr,
                            bool with_repetition = false) {
    const auto & ref = greedy_reference(with_repetition);
    size_t longest = 0;
    for (const auto & p : ref.prompts) {
        longest = std::max(longest, p.size());
    }
    auto co = test_context();
    // The layout dare run gives batches (one KV stream per record).
    co.layout = dare::kv_layout::batch_invariant;
    dare::set_batched_context(co, bo.parallel, static_cast<uint32_t>(longest + kTokens + 16));
    dare::context ctx(default_model(), co);
    dare::batched_decoder dec(ctx, bo);
    dare::generation_options g;
    g.max_tokens = kTokens;
    g.record_gaps = true;
    g.repetition = rules(with_repetition);
    batched_outputs r;
    r.out.resize(ref.prompts.size());
    r.totals = dec.run(
        ref.prompts.size(), [&](size_t i) { return dare::batched_record{ref.prompts[i], pool}; }, g,
        [&](size_t i, dare::generation_result && res) {
            r.order.push_back(i);
            r.out[i] = std::move(res);
        });
    return r;
}

// Records identical to one-at-a-time greedy decoding; every other one must
// part from it at a near-tie of greedy decoding's own top two logits.
int32_t check_against_greedy(const batched_outputs & b, const char * what, bool with_repetition = false) {
    return count_identical_up_to_near_ties(greedy_reference(with_repetition).out, b.out, what);
}

}  // namespace

TEST(Batched, PlainBatchingGivesEachRecordItsGreedyText) {
    dare::batched_options bo;
    bo.parallel = 4;
    bo.speculate = false;
    const auto b = run_batched(bo);
    EXPECT_EQ(check_against_greedy(b, "plain B=4"), static_cast<int32_t>(b.out.size()));
    EXPECT_EQ(b.totals.draft_tokens, 0);
    int64_t tokens = 0;
    for (const auto & r : b.out) {
        EXPECT_LE(r.stats.tokens, kTokens);
        EXPECT_EQ(r.stats.forward_passes, r.stats.tokens);  // one token per step without drafts
        tokens += r.stats.tokens;
    }
    EXPECT_EQ(b.totals.tokens, tokens);
    // Four records were in flight at once: fewer steps than tokens.
    EXPECT_LT(b.totals.steps, tokens / 2);
    // As the last records finished, the others moved down into the freed
    // slots (their KV streams copied), and their texts are still greedy's.
    EXPECT_GT(b.totals.slot_moves, 0);
    // A slot keeps only whole prompt chunks its records share (none of
    // these prompts is a chunk long, and no opening is registered): every
    // record was prefilled in full.
    for (const auto & r : b.out) {
        EXPECT_EQ(r.stats.prompt_tokens_reused, 0);
    }
}

// A slot keeps the cells of the whole prompt chunks (prompt_chunk_end) its
// next record's prompt shares with its last one, a registered opening
// (model::add_prompt_head) at least, and the texts are still one-at-a-time
// greedy's.
TEST(Batched, ASlotKeepsTheWholePromptChunksItsRecordsShare) {
    dare::model m(dare::default_model_path());
    const std::string start = "Given the ratings that follow, describe this user's taste in movies. ";
    const auto h = static_cast<int32_t>(m.add_prompt_head(start));
    ASSERT_GE(h, static_cast<int32_t>(dare::model::kMinPromptHead));
    std::string history = "This user rated ";
    for (int i = 0; m.prompt_tokens(start + history).size() < 600; ++i) {
        history += "Heat (1995) " + std::to_string(1 + i % 5) + " of 5, Casino (1995) " + std::to_string(5 - i % 5) +
                   " of 5, ";
    }
    std::vector<std::vector<dare::token>> prompts;
    for (const char * ask : {"Describe this user's taste.", "Which genres does this user prefer?",
                             "Which decade does this user like best?", "Name three movies for this user."}) {
        prompts.push_back(m.prompt_tokens(start + history + ask));
    }
    // Two more that share only the opening.
    prompts.push_back(m.prompt_tokens(start + "This user rated Toy Story (1995) 5 of 5."));
    prompts.push_back(m.prompt_tokens(start + "This user rated Jumanji (1995) 2 of 5 and Heat (1995) 4 of 5."));
    dare::generation_options g;
    g.max_tokens = 12;
    g.record_gaps = true;
    std::vector<dare::generation_result> ref;
    {
        dare::context ctx(m, test_context(2048));
        dare::vanilla_decoder van(ctx);
        for (const auto & p : prompts) {
            ref.push_back(van.generate(p, g));
        }
    }
    size_t longest = 0;
    for (size_t i = 0; i < 4; ++i) {
        const auto & p = prompts[i];
        longest = std::max(longest, p.size());
        ASSERT_GT(std::mismatch(p.begin(), p.end(), prompts[0].begin(), prompts[0].end()).first - p.begin(),
                  h + dare::context::prompt_chunk);
    }
    auto co = test_context();
    co.layout = dare::kv_layout::batch_invariant;
    dare::set_batched_context(co, 2, static_cast<uint32_t>(longest) + 32);
    dare::context ctx(m, co);
    dare::batched_options bo;
    bo.parallel = 2;
    bo.speculate = false;
    dare::batched_decoder dec(ctx, bo);
    std::vector<dare::generation_result> out(prompts.size());
    dec.run(
        prompts.size(), [&](size_t i) { return dare::batched_record{prompts[i], nullptr}; }, g,
        [&](size_t i, dare::generation_result && r) { out[i] = std::move(r); });
    // The opening and the first 512-token chunk after it; then the opening.
    const std::vector<int32_t> kept = {0, 0, h + dare::context::prompt_chunk, h + dare::context::prompt_chunk, h, h};
    for (size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].stats.prompt_tokens_reused, kept[i]) << "record " << i;
        // One at a time, the second record already follows the first.
        EXPECT_EQ(ref[i].stats.prompt_tokens_reused, i == 1 ? kept[2] : kept[i]) << "one at a time, record " << i;
    }
    EXPECT_EQ(count_identical_up_to_near_ties(ref, out, "kept prompt chunks"), static_cast<int32_t>(out.size()));
}

TEST(Batched, StrictSpeculationIsExactlyGreedy) {
    dare::batched_options bo;
    bo.parallel = 4;
    bo.spec.limits = {16, 8};
    bo.spec.verify.mode = dare::verify_mode::strict;
    // No cost curve: every chain is verified in full, so verification is exercised.
    const auto b = run_batched(bo);
    EXPECT_GT(b.totals.draft_tokens, 0);
    EXPECT_GT(b.totals.accepted_tokens, 0);
    EXPECT_LE(b.totals.accepted_tokens, b.totals.draft_tokens);
    EXPECT_GT(b.totals.slot_moves, 0);
    EXPECT_EQ(check_against_greedy(b, "strict B=4"), static_cast<int32_t>(b.out.size()));
}

// With the default repetition rules each record's rows are processed with
// its own history, so strict batched speculation writes exactly what plain
// decoding with the same rules writes.
TEST(Batched, StrictSpeculationWithRepetitionRulesIsExactlyGreedy) {
    dare::batched_options bo;
    bo.parallel = 4;
    bo.spec.limits = {16, 8};
    bo.spec.verify.mode = dare::verify_mode::strict;
    const auto b = run_batched(bo, nullptr, true);
    EXPECT_GT(b.totals.accepted_tokens, 0);
    EXPECT_EQ(check_against_greedy(b, "strict B=4, repetition rules", true), static_cast<int32_t>(b.out.size()));
    // The rules changed the texts: plain greedy decoding without them differs.
    int32_t differ = 0;
    for (size_t i = 0; i < b.out.size(); ++i) {
        differ += greedy_reference(false).out[i].tokens != greedy_reference(true).out[i].tokens;
    }
    EXPECT_GT(differ, 0);
}

TEST(Batched, OneSlotStrictIsExactlyGreedy) {
    dare::batched_options bo;
    bo.parallel = 1;
    bo.spec.limits = {16, 8};
    const auto b = run_batched(bo);
    EXPECT_EQ(check_against_greedy(b, "strict B=1"), static_cast<int32_t>(b.out.size()));
    // Records finish in order with one slot.
    for (size_t i = 0; i < b.order.size(); ++i) {
        EXPECT_EQ(b.order[i], i);
    }
}

TEST(Batched, RelaxedDraftsFromAGrowingPool) {
    auto pool = dare::make_index(dare::index_kind::ngram_trie);
    dare::batched_options bo;
    bo.parallel = 4;
    bo.spec.limits = {16, 8};
    bo.spec.verify.mode = dare::verify_mode::relaxed;
    bo.spec.verify.rule = dare::relaxed_rule::guarded;  // dare run's default
    bo.spec.verify.min_prob = 0.0f;
    bo.spec.self_draft = true;
    const auto & ref = greedy_reference();
    // The pool starts with each greedy text's runner-up variant, so that
    // drafts off the argmax come for certain (test_util.h).
    uint64_t inserted = 0;
    for (size_t i = 0; i < ref.prompts.size(); ++i) {
        const auto seed = runner_up_text(default_model(), ref.prompts[i], ref.out[i].tokens);
        pool->insert(seed, dare::token_source::output);
        inserted += seed.size();
    }
    const auto b = run_batched(bo, pool.get());
    // Every prompt and every output went into the pool.
    for (size_t i = 0; i < ref.prompts.size(); ++i) {
        inserted += ref.prompts[i].size() + b.out[i].tokens.size() - (b.out[i].stopped_at_eog ? 1 : 0);
    }
    EXPECT_EQ(pool->stored_tokens(), inserted);
    EXPECT_GT(b.totals.accepted_tokens, 0);
    double rouge = 0;
    int32_t off_argmax = 0;
    for (size_t i = 0; i < b.out.size(); ++i) {
        const auto & r = b.out[i];
        EXPECT_GE(r.stats.tokens, 1);
        EXPECT_LE(r.stats.tokens, kTokens);
        EXPECT_LE(r.stats.accepted_tokens, r.stats.draft_tokens);
        EXPECT_LE(r.stats.off_argmax, r.stats.accepted_tokens);
        off_argmax += r.stats.off_argmax;
        rouge += dare::rouge_l_f1(dare::words_of(r.text), dare::words_of(ref.out[i].text));
    }
    rouge /= static_cast<double>(b.out.size());
    std::printf("relaxed B=4 on llama.cpp's default layout: %lld accepted, %d off the argmax, mean ROUGE-L F1 "
                "against greedy %.3f\n",
                static_cast<long long>(b.totals.accepted_tokens), off_argmax, rouge);
    // Relaxation happened, and the texts stay close to greedy decoding's.
    EXPECT_GT(off_argmax, 0);
    EXPECT_GT(rouge, kRelaxedRouge);
}

TEST(Batched, RefusesWhatItCannotDo) {
    dare::context ctx(default_model(), test_context(1024, 2));
    dare::batched_options bo;
    bo.parallel = 4;  // more slots than sequences
    EXPECT_THROW(dare::batched_decoder(ctx, bo), dare::error);
    bo.parallel = 2;
    bo.spec.verify.mode = dare::verify_mode::sample;
    EXPECT_THROW(dare::batched_decoder(ctx, bo), dare::error);
    bo.spec.verify.mode = dare::verify_mode::strict;
    dare::batched_decoder dec(ctx, bo);
    // Two records of 600 prompt tokens cannot share 1024 cells.
    std::vector<dare::token> long_prompt(600, 100);
    dare::generation_options g;
    g.max_tokens = 8;
    EXPECT_THROW(dec.run(
                     2, [&](size_t) { return dare::batched_record{long_prompt, nullptr}; }, g,
                     [](size_t, dare::generation_result &&) {}),
                 dare::error);
}

// The gate between drafting and not drafting follows measured throughput:
// it alternates blocks until both sides are seen, then runs the faster one
// and explores the other one block in every few.
TEST(Batched, DraftGateKeepsTheFasterSide) {
    for (const bool drafts_faster : {false, true}) {
        dare::draft_gate gate(2, 4);
        std::vector<bool> sides;
        for (int i = 0; i < 240; ++i) {
            const bool d = gate.drafting();
            sides.push_back(d);
            // 10 tokens a step; the slower side takes 25% longer.
            gate.record_step(10.0, d == drafts_faster ? 0.8 : 1.0);
        }
        // The start: two blocks of two steps each way.
        EXPECT_EQ(std::vector<bool>(sides.begin(), sides.begin() + 8),
                  (std::vector<bool>{true, true, false, false, true, true, false, false}));
        int faster = 0;
        for (size_t i = 8; i < sides.size(); ++i) {
            faster += sides[i] == drafts_faster;
        }
        const double share = static_cast<double>(faster) / static_cast<double>(sides.size() - 8);
        EXPECT_GT(share, 0.75) << "drafts faster: " << drafts_faster;
        EXPECT_LT(share, 0.95) << "the slower side is still explored";
        EXPECT_GT(gate.rate(drafts_faster), gate.rate(!drafts_faster));
    }
}

// A step keeps the drafts whose expected saving (probability times what a
// plain step pays per token) covers what their rows add, also when the step
// carries hundreds of prompt rows, where any draft would raise the step's
// own tokens per unit of cost.
TEST(Batched, DraftsAreKeptOnlyWhereTheySave) {
    // 10 ms a step plus 5 ms a row: a plain step of 4 records pays 7.5 ms a
    // token, so a draft row (5 ms) saves time only above p = 2/3.
    const auto line = [](int32_t rows) { return 10.0 + 5.0 * rows; };
    const std::vector<double> p = {0.9, 0.8, 0.7, 0.6, 0.3};
    EXPECT_EQ(dare::drafts_worth_keeping(p, 4, 4, 1000, line), 3u);
    // The same records beside 500 prompt rows: the same three, where a
    // step-rate rule would keep all five ((4 + 3.3) / 2555 > 4 / 2530).
    EXPECT_EQ(dare::drafts_worth_keeping(p, 4, 504, 1000, line), 3u);
    // Rows that cost nothing extra (a batch with room left): all of them.
    const auto flat = [](int32_t rows) { return rows <= 16 ? 40.0 : 40.0 + 5.0 * (rows - 16); };
    EXPECT_EQ(dare::drafts_worth_keeping(p, 4, 4, 1000, flat), 5u);
    // ... but not past the rows the cost is trusted for.
    EXPECT_EQ(dare::drafts_worth_keeping(p, 4, 4, 6, flat), 2u);
    EXPECT_EQ(dare::drafts_worth_keeping(p, 4, 504, 100, line), 0u);
    // Compute-bound (no intercept): a row costs what a token is worth, so
    // nothing short of certainty pays.
    const auto proportional = [](int32_t rows) { return 5.0 * rows; };
    EXPECT_EQ(dare::drafts_worth_keeping(p, 8, 8, 1000, proportional), 0u);
    // Nothing to weigh.
    EXPECT_EQ(dare::drafts_worth_keeping({}, 4, 4, 1000, line), 0u);
    EXPECT_EQ(dare::drafts_worth_keeping(p, 0, 500, 1000, line), 0u);
}

