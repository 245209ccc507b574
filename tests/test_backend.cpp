// Backend: tokenizer round trip, chat template, errors for bad model files,
// KV bookkeeping per sequence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "dare/backend.h"
#include "dare/error.h"
#include "dare/generate.h"
#include "dare/paths.h"
#include "test_util.h"

using namespace dare_test;

TEST(Backend, TokenizerRoundTripOnRealModel) {
    const auto & m = default_model();
    const std::vector<std::string> texts = {
        "Introduce movie Toy Story (1995) and describe its attributes.",
        "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001), 4.5 stars; Léon: The Professional (1994)",
        "numbers 12345 and punctuation!? -- \"quotes\" (parens) [brackets]",
        "  leading spaces, tabs\tand\nnewlines\n",
        "日本語のテキスト and emoji 🎬",
    };
    for (const auto & t : texts) {
        const auto toks = m.tokenize(t, false, false);
        ASSERT_FALSE(toks.empty()) << t;
        for (auto tok : toks) {
            ASSERT_GE(tok, 0);
            ASSERT_LT(tok, m.n_vocab());
        }
        EXPECT_EQ(m.detokenize(toks), t);
        std::string pieces;
        for (auto tok : toks) {
            pieces += m.token_piece(tok);
        }
        EXPECT_EQ(pieces, t);
    }
}

TEST(Backend, ModelFactsAreTheBundledWeights) {
    const auto & i = default_model().info();
    EXPECT_EQ(i.architecture, "llama");
    EXPECT_EQ(i.n_layer, 30);
    EXPECT_EQ(i.n_embd, 576);
    EXPECT_EQ(i.n_vocab, 49152);
    EXPECT_GT(i.n_params, 130'000'000u);
    EXPECT_LT(i.n_params, 140'000'000u);
    EXPECT_NE(i.vocab_fingerprint, 0u);
}

TEST(Backend, ChatTemplateWrapsTheUserTurn) {
    const auto & m = default_model();
    const std::string s = m.apply_chat_template({{"user", "Hello there"}}, true);
    EXPECT_NE(s.find("Hello there"), std::string::npos);
    EXPECT_NE(s.find("<|im_start|>user"), std::string::npos) << s;
    EXPECT_NE(s.rfind("<|im_start|>assistant"), std::string::npos) << s;
    // The control markers must become single special tokens, not text.
    const auto toks = m.tokenize(s, true, true);
    const auto plain = m.tokenize(s, true, false);
    EXPECT_LT(toks.size(), plain.size());
}

// A template's text before its first placeholder, within the chat framing,
// is an opening every prompt of it shares, and engines decode it as a chunk
// of its own; the bundled model's own chat opening is too short for one.
TEST(Backend, PromptOpeningsAreRegisteredAndFound) {
    dare::model m(dare::default_model_path());
    const std::string start = "Describe the attributes of the movie below (genre, director, cast, mood): ";
    const auto plain = m.prompt_tokens(start + "Heat (1995)");
    EXPECT_EQ(m.prompt_head_in(plain), 0u);  // "<|im_start|>user\n" alone is not registered
    EXPECT_EQ(m.add_prompt_head(""), 0u);
    const size_t h = m.add_prompt_head(start);
    ASSERT_GE(h, dare::model::kMinPromptHead);
    std::printf("template opening: %zu tokens\n", h);
    EXPECT_EQ(m.add_prompt_head(start), h);  // registered once
    for (const char * title : {"Heat (1995)", "Toy Story (1995)", " 2001: A Space Odyssey", "\n(untitled)"}) {
        const auto p = m.prompt_tokens(start + title);
        EXPECT_EQ(m.prompt_head_in(p), h) << title;
        EXPECT_TRUE(std::equal(p.begin(), p.begin() + static_cast<long>(h), plain.begin())) << title;
    }
    // Not a prompt that is only the opening, nor one that starts otherwise.
    EXPECT_EQ(m.prompt_head_in(std::span<const dare::token>(plain).first(h)), 0u);
    EXPECT_EQ(m.prompt_head_in(m.prompt_tokens("Introduce movie Heat (1995).")), 0u);
    // The longest registered opening a prompt starts with is its own.
    const size_t longer = m.add_prompt_head(start + "Heat (1995). Also its soundtrack and awards: ");
    EXPECT_GT(longer, h);
    EXPECT_EQ(m.prompt_head_in(m.prompt_tokens(start + "Heat (1995). Also its soundtrack and awards: fine")), longer);
    EXPECT_EQ(m.prompt_head_in(plain), h);
    // Chunks: the opening, then 512 tokens at a time from its end.
    EXPECT_EQ(dare::prompt_chunk_end(h, 0, 1000), h);
    EXPECT_EQ(dare::prompt_chunk_end(h, h, 1000), h + 512);
    EXPECT_EQ(dare::prompt_chunk_end(h, h + 512, 1000), 1000u);
    EXPECT_EQ(dare::prompt_chunk_end(h, 0, h - 1), h - 1);
    EXPECT_EQ(dare::prompt_chunk_end(0, 0, 1000), 512u);
    EXPECT_EQ(dare::prompt_chunk_end(0, 512, 1000), 1000u);
    // Raw prompts (--chat-template none) have openings too.
    dare::model_options raw;
    raw.chat_template = "none";
    dare::model r(dare::default_model_path(), raw);
    EXPECT_EQ(r.prompt_head_in(r.prompt_tokens(start + "Heat (1995)")), 0u);
    const size_t hr = r.add_prompt_head(start);
    EXPECT_GE(hr, dare::model::kMinPromptHead);
    EXPECT_EQ(r.prompt_head_in(r.prompt_tokens(start + "Heat (1995)")), hr);
}

TEST(Backend, EndOfGenerationToken) {
    const auto & m = default_model();
    const auto im_end = m.tokenize("<|im_end|>", false, true);
    ASSERT_EQ(im_end.size(), 1u);
    EXPECT_TRUE(m.is_eog(im_end[0]));
    EXPECT_FALSE(m.is_eog(m.tokenize("movie", false, false)[0]));
}

TEST(Backend, MissingModelFileIsAClearError) {
    try {
        dare::model m("/nonexistent/dir/model.gguf");
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("model file not found: /nonexistent/dir/model.gguf"), std::string::npos)
            << e.what();
    }
}

// The default model build is made from the bundled file on first use: the
// same bytes as `dare quantize --type q8_0`; without the bundled file the
// error says what to run.
TEST(Backend, DefaultModelIsMadeFromTheBundledOneWhenMissing) {
    temp_dir cache;
    std::filesystem::create_directories(cache / "models");
    std::filesystem::create_symlink(dare::bundled_model_path(), cache / "models/SmolLM2-135M-Instruct.Q4_1.gguf");
    const char * old = std::getenv("DARE_CACHE");
    const std::string saved = old ? old : "";
    setenv("DARE_CACHE", cache.str().c_str(), 1);
    const std::string made = dare::default_model_build_path();
    EXPECT_EQ(made, cache / "models/SmolLM2-135M-Instruct.Q8_0.gguf");
    {
        dare::model m(made);
        EXPECT_NE(m.info().description.find("Q8_0"), std::string::npos) << m.info().description;
    }
    dare::quantize_model(dare::bundled_model_path(), cache / "direct.gguf", "q8_0", 2);
    EXPECT_EQ(read_file(made), read_file(cache / "direct.gguf"));
    std::filesystem::remove(made);
    std::filesystem::remove(cache / "models/SmolLM2-135M-Instruct.Q4_1.gguf");
    try {
        dare::model m(made);
        ADD_FAILURE() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("run scripts/setup.sh"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(made));
    if (old) {
        setenv("DARE_CACHE", saved.c_str(), 1);
    } else {
        unsetenv("DARE_CACHE");
    }
}

TEST(Backend, NonGgufFileIsAClearError) {
    temp_dir dir;
    write_file(dir / "fake.gguf", "this is plain text, not a model\n");
    try {
        dare::model m(dir / "fake.gguf");
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("not a GGUF model file"), std::string::npos) << e.what();
    }
}

TEST(Backend, TruncatedGgufIsAClearError) {
    temp_dir dir;
    write_file(dir / "trunc.gguf", std::string("GGUF") + std::string(60, '\0'));
    try {
        dare::model m(dir / "trunc.gguf");
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("trunc.gguf"), std::string::npos) << e.what();
    }
}

// A well-formed GGUF file whose architecture llama.cpp does not know.
TEST(Backend, UnsupportedArchitectureIsAClearError) {
    temp_dir dir;
    std::string f = "GGUF";
    auto u32 = [&f](uint32_t v) { f.append(reinterpret_cast<const char *>(&v), 4); };
    auto u64 = [&f](uint64_t v) { f.append(reinterpret_cast<const char *>(&v), 8); };
    auto str = [&](const std::string & s) {
        u64(s.size());
        f += s;
    };
    u32(3);  // GGUF version
    u64(0);  // tensors
    u64(1);  // key-value pairs
    str("general.architecture");
    u32(8);  // GGUF string type
    str("dare-no-such-arch");
    write_file(dir / "arch.gguf", f);
    try {
        dare::model m(dir / "arch.gguf");
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("unsupported model architecture"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("dare-no-such-arch"), std::string::npos) << e.what();
    }
}

TEST(Backend, TooSmallContextIsAClearError) {
    const auto & m = default_model();
    dare::context_options co;
    co.n_ctx = 32;
    co.n_batch = 32;
    dare::context ctx(m, co);
    dare::batch b;
    const int n = static_cast<int>(ctx.n_ctx()) + 8;  // llama.cpp may round n_ctx up
    for (int i = 0; i < n; ++i) {
        b.add(m.tokenize(" movie", false, false)[0], i, 0, i == n - 1);
    }
    try {
        ctx.decode(b);
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("context too small"), std::string::npos) << e.what();
    }
}

TEST(Backend, BatchRowsCarrySequenceSets) {
    dare::batch b;
    const dare::seq_id two[] = {3, 5};
    EXPECT_EQ(b.add(7, 0, 0, false), 0);
    EXPECT_EQ(b.add(8, 1, std::span<const dare::seq_id>(two), true), 1);
    ASSERT_EQ(b.size(), 2);
    EXPECT_EQ(b.seq_offsets, (std::vector<int32_t>{0, 1, 3}));
    EXPECT_EQ(b.seq_ids, (std::vector<int32_t>{0, 3, 5}));
    EXPECT_EQ(b.logits, (std::vector<int8_t>{0, 1}));
    b.clear();
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.seq_offsets.size(), 1u);
}

// Removing a sequence's tail and decoding again must give the same logits as
// decoding the same tokens into a fresh context.
TEST(Backend, KvRemovalMatchesRecomputation) {
    const auto & m = default_model();
    dare::context_options co;
    co.n_ctx = 256;
    co.n_seq_max = 2;
    const auto toks = m.tokenize("The film is a drama directed by a famous director and it", false, false);
    ASSERT_GT(toks.size(), 8u);

    dare::context a(m, co);
    dare::batch b;
    for (size_t i = 0; i < toks.size(); ++i) {
        b.add(toks[i], static_cast<dare::pos_t>(i), 0, false);
    }
    a.decode(b);
    EXPECT_EQ(a.seq_pos_max(0), static_cast<dare::pos_t>(toks.size() - 1));
    // Drop the last 4 tokens, then feed a different continuation.
    const size_t keep = toks.size() - 4;
    a.seq_rm(0, static_cast<dare::pos_t>(keep), -1);
    EXPECT_EQ(a.seq_pos_max(0), static_cast<dare::pos_t>(keep - 1));
    const auto tail = m.tokenize(" a comedy", false, false);
    b.clear();
    for (size_t i = 0; i < tail.size(); ++i) {
        b.add(tail[i], static_cast<dare::pos_t>(keep + i), 0, i + 1 == tail.size());
    }
    a.decode(b);
    const auto la = a.logits(b.size() - 1);
    const std::vector<float> got(la.begin(), la.end());

    dare::context fresh(m, co);
    b.clear();
    std::vector<dare::token> all(toks.begin(), toks.begin() + static_cast<long>(keep));
    all.insert(all.end(), tail.begin(), tail.end());
    for (size_t i = 0; i < all.size(); ++i) {
        b.add(all[i], static_cast<dare::pos_t>(i), 0, i + 1 == all.size());
    }
    fresh.decode(b);
    const auto lf = fresh.logits(b.size() - 1);
    EXPECT_EQ(dare::argmax(la), dare::argmax(lf));
    float max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(got[i] - lf[i]));
    }
    // The batch-invariant layout: a row's logits do not depend on what else
    // was in its batch, so bit for bit.
    EXPECT_EQ(max_diff, 0.0f);
}

TEST(Backend, ArgmaxTakesFirstOnTies) {
    const std::vector<float> v = {0.5f, 2.0f, -1.0f, 2.0f};
    EXPECT_EQ(dare::argmax(v), 1);
}

namespace {
// Rows of logits that differ between decoding `toks` (after a prefill of
// `prefill` tokens) one token at a time and eight at a time.
int rows_differing(const std::vector<dare::token> & toks, size_t prefill, dare::kv_layout layout,
                   const dare::model & m = default_model()) {
    auto co = test_context(1024);
    co.layout = layout;
    dare::context one(m, co), eight(m, co);
    dare::batch b;
    for (dare::context * c : {&one, &eight}) {
        b.clear();
        for (size_t i = 0; i < prefill; ++i) {
            b.add(toks[i], static_cast<dare::pos_t>(i), 0, false);
        }
        c->decode(b);
    }
    std::vector<std::vector<float>> single;
    for (size_t i = prefill; i < toks.size(); ++i) {
        b.clear();
        b.add(toks[i], static_cast<dare::pos_t>(i), 0, true);
        one.decode(b);
        const auto l = one.logits(0);
        single.emplace_back(l.begin(), l.end());
    }
    int differ = 0;
    for (size_t i = prefill; i < toks.size(); i += 8) {
        b.clear();
        const size_t end = std::min(toks.size(), i + 8);
        for (size_t j = i; j < end; ++j) {
            b.add(toks[j], static_cast<dare::pos_t>(j), 0, true);
        }
        eight.decode(b);
        for (size_t j = i; j < end; ++j) {
            const auto l = eight.logits(static_cast<int32_t>(j - i));
            differ += !std::equal(l.begin(), l.end(), single[j - prefill].begin());
        }
    }
    return differ;
}
}  // namespace

// The KV layout docs/engine.md describes: a token's logits do not depend on
// the batch it is decoded in (strict verification relies on it). The count
// for llama.cpp's default layout is printed for the docs, not asserted.
TEST(Backend, BatchInvariantLayoutGivesTheSameLogitsInAnyBatch) {
    std::string text;
    for (int i = 0; i < 32; ++i) {
        text += "Introduce the movie Forrest Gump (1994), whose genres are Comedy, Drama, Romance, War. ";
    }
    auto toks = default_model().tokenize(text, true, false);
    ASSERT_GT(toks.size(), 600u);
    toks.resize(600);  // past 512 cells, where the single-query kernel splits across threads
    const int inv = rows_differing(toks, 100, dare::kv_layout::batch_invariant);
    const int dflt = rows_differing(toks, 100, dare::kv_layout::llama_default);
    const int plain = rows_differing(toks, 100, dare::kv_layout::plain_attention);
    std::printf("rows of 500 differing, one-at-a-time vs eight-at-a-time: batch-invariant layout %d, llama.cpp default %d, "
                "llama.cpp default without flash attention %d\n",
                inv, dflt, plain);
    EXPECT_EQ(inv, 0);
}

// Weights stored as floats take another matrix kernel for one row than for
// several (model_info::float_weights): the batch-invariant layout decodes a
// batch with one row of logits beside a copy of that row at the next
// position, which it removes again, so the row's logits are those it gets
// beside other rows and the sequence holds only its own cells.
TEST(Backend, FloatWeightsGiveTheSameLogitsOneRowAtATime) {
    temp_dir d;
    dare::quantize_model(dare::bundled_model_path(), d / "bf16.gguf", "bf16", 2);
    const dare::model m(d / "bf16.gguf");
    ASSERT_TRUE(m.info().float_weights);
    auto toks = m.tokenize("Introduce the movie Forrest Gump (1994), whose genres are Comedy, Drama, Romance, War. "
                           "It follows a man through three decades of American history.",
                           true, false);
    ASSERT_GT(toks.size(), 24u);
    const int inv = rows_differing(toks, 8, dare::kv_layout::batch_invariant, m);
    const int dflt = rows_differing(toks, 8, dare::kv_layout::llama_default, m);
    std::printf("BF16 weights, rows of %zu differing, one-at-a-time vs eight-at-a-time: batch-invariant layout %d, "
                "llama.cpp default %d\n",
                toks.size() - 8, inv, dflt);
    EXPECT_EQ(inv, 0);
    EXPECT_GT(dflt, 0) << "one row and eight rows no longer take different kernels: the padding may be unneeded";
    // Per-record KV streams: llama.cpp splits a batch into runs of
    // consecutive sequences with equal rows each, so sequence 3 beside 0 and
    // 1, or the second row of sequence 0 beside one row of sequence 1, is a
    // micro-batch of one row; each gets the logits it gets in a full run.
    auto streams = test_context(1024);
    streams.n_seq_max = 4;
    streams.kv_unified = false;
    dare::context gap(m, streams), full(m, streams);
    dare::batch b;
    for (dare::context * c : {&gap, &full}) {
        for (dare::seq_id q = 0; q < 4; ++q) {
            b.clear();
            for (size_t i = 0; i < 8; ++i) {
                b.add(toks[i], static_cast<dare::pos_t>(i), q, i == 7);
            }
            c->decode_prompt(b);
        }
    }
    const auto same = [](std::span<const float> x, std::span<const float> y) {
        return std::equal(x.begin(), x.end(), y.begin(), y.end());
    };
    b.clear();
    for (const dare::seq_id q : {0, 1, 3}) {
        b.add(toks[8], 8, q, true);
    }
    gap.decode(b);
    const std::vector<float> lone3(gap.logits(2).begin(), gap.logits(2).end());
    b.clear();
    for (dare::seq_id q = 0; q < 4; ++q) {
        b.add(toks[8], 8, q, true);
    }
    full.decode(b);
    EXPECT_TRUE(same(lone3, full.logits(3)));
    b.clear();
    b.add(toks[9], 9, 0, true);
    b.add(toks[10], 10, 0, true);
    b.add(toks[9], 9, 1, true);
    gap.decode(b);
    const std::vector<float> second0(gap.logits(1).begin(), gap.logits(1).end());
    b.clear();
    for (dare::seq_id q = 0; q < 2; ++q) {
        b.add(toks[9], 9, q, true);
        b.add(toks[10], 10, q, true);
    }
    full.decode(b);
    EXPECT_TRUE(same(second0, full.logits(1)));
    EXPECT_EQ(gap.seq_pos_max(0), 10);
    EXPECT_EQ(gap.seq_pos_max(1), 9);
    EXPECT_EQ(gap.seq_pos_max(3), 8);
    // The copy leaves no cell behind, and the next token takes its place.
    dare::context c(m, test_context(256));
    for (size_t i = 0; i < 6; ++i) {
        b.clear();
        b.add(toks[i], static_cast<dare::pos_t>(i), 0, true);
        c.decode(b);
        EXPECT_EQ(c.seq_pos_max(0), static_cast<dare::pos_t>(i));
        EXPECT_EQ(c.logits(0).size(), static_cast<size_t>(m.n_vocab()));
    }
}

namespace {
// Last-row logits of `p` decoded from position `begin` on (the cells before
// it already in sequence 0), chunk by chunk as every engine cuts a prompt:
// as prompt rows (decode_prompt) or as generated rows (decode).
std::vector<float> decode_from(dare::context & c, const std::vector<dare::token> & p, size_t begin, bool as_prompt) {
    dare::batch b;
    while (begin < p.size()) {
        const size_t end = dare::prompt_chunk_end(0, begin, p.size());
        b.clear();
        for (size_t i = begin; i < end; ++i) {
            b.add(p[i], static_cast<dare::pos_t>(i), 0, i + 1 == p.size());
        }
        as_prompt ? c.decode_prompt(b) : c.decode(b);
        begin = end;
    }
    const auto l = c.logits(b.size() - 1);
    return {l.begin(), l.end()};
}
}  // namespace

// Prompt rows run on llama.cpp's fast kernels (the tiled flash attention for
// 64+ rows of a sequence), which round otherwise than the row kernel
// generated rows take in the batch-invariant layout; every engine cuts a
// prompt into the same chunks, so a prompt's cells and last logits are the
// same whether its first chunk was decoded for it or kept from an earlier
// prompt that shares it (a batch slot's reuse).
TEST(Backend, PromptChunksGiveTheSameCellsWhereverThePromptStarted) {
    std::string text;
    for (int i = 0; i < 40; ++i) {
        text += "The user rated Heat (1995), Crime|Action|Thriller, 4 out of 5 and Casino (1995) 5 out of 5. ";
    }
    auto toks = default_model().tokenize(text, true, false);
    ASSERT_GT(toks.size(), 700u);
    const std::vector<dare::token> prompt(toks.begin(), toks.begin() + 600);
    // Another prompt with the same first chunk and a different rest.
    std::vector<dare::token> other(toks.begin(), toks.begin() + 540);
    for (size_t i = 515; i < other.size(); ++i) {
        other[i] = toks[i - 400];
    }
    ASSERT_EQ(dare::prompt_chunk_end(0, 0, prompt.size()), static_cast<size_t>(dare::context::prompt_chunk));
    auto co = test_context(1024);
    co.layout = dare::kv_layout::batch_invariant;
    dare::context fresh(default_model(), co), kept(default_model(), co), slow(default_model(), co);
    const auto whole = decode_from(fresh, prompt, 0, true);
    decode_from(kept, other, 0, true);
    kept.seq_rm(0, dare::context::prompt_chunk, -1);
    const auto resumed = decode_from(kept, prompt, static_cast<size_t>(dare::context::prompt_chunk), true);
    EXPECT_TRUE(whole == resumed) << "the kept first chunk gave other logits than a fresh prefill";
    // The same chunks as generated rows (the row kernel): other roundings,
    // so the prompt rows did take the fast kernels.
    const auto reference = decode_from(slow, prompt, 0, false);
    float most = 0;
    for (size_t i = 0; i < whole.size(); ++i) {
        most = std::max(most, std::abs(whole[i] - reference[i]));
    }
    std::printf("largest logit difference, prompt rows on the fast kernels vs the row kernel: %g\n", most);
    EXPECT_GT(most, 0.0f);
}

// A sequence keeps the cells of a registered opening (and of any whole
// chunk) its next prompt shares with its last one (context::begin_prompt),
// and they are the cells a fresh prefill writes: a prompt's last logits
// are bit-identical whether its context was fresh or had decoded another
// record, generated rows included. Anything that touches those cells
// makes the sequence start over.
TEST(Backend, AKeptPromptOpeningGivesTheLogitsOfAFreshPrefill) {
    dare::model m(dare::default_model_path());
    const std::string start = "Answer in two sentences, naming facts only, for the request that follows. ";
    const size_t h = m.add_prompt_head(start);
    ASSERT_GE(h, dare::model::kMinPromptHead);
    const auto all = varied_prompts();
    auto co = test_context(2048);
    co.layout = dare::kv_layout::batch_invariant;
    dare::context ctx(m, co);
    dare::vanilla_decoder van(ctx);
    dare::batch b;
    dare::generation_options g;
    g.max_tokens = 16;
    int32_t compared = 0;
    for (size_t i = 0; i < all.size(); i += 7) {
        const auto p = m.prompt_tokens(start + all[i]);
        dare::context fresh(m, co);
        const auto row_f = dare::prefill(fresh, b, p);
        const auto want = fresh.logits(row_f);
        const std::vector<float> expected(want.begin(), want.end());
        size_t reused = 99;
        const auto row = dare::prefill(ctx, b, p, 0, &reused);
        EXPECT_EQ(reused, i == 0 ? 0 : h) << "prompt " << i;
        const auto got = ctx.logits(row);
        EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin())) << "prompt " << i;
        ++compared;
        // The same prompt again keeps all its whole chunks; then generated
        // rows after it, before the next prompt.
        const auto r = van.generate(p, g);
        ASSERT_LT(p.size(), h + 1024);
        EXPECT_EQ(r.stats.prompt_tokens_reused, static_cast<int32_t>(p.size() > h + 512 ? h + 512 : h));
    }
    EXPECT_GE(compared, 7);
    const auto p = m.prompt_tokens(start + all[1]), q = m.prompt_tokens(start + all[2]);
    auto reuse_after = [&](const std::function<void()> & touch) {
        dare::prefill(ctx, b, p);
        touch();
        return ctx.begin_prompt(0, q, m.prompt_head_in(q));
    };
    EXPECT_EQ(reuse_after([] {}), h);
    EXPECT_EQ(reuse_after([&] { ctx.seq_rm(0, static_cast<dare::pos_t>(h - 1), -1); }), 0u);
    EXPECT_EQ(reuse_after([&] { ctx.clear(); }), 0u);
    EXPECT_EQ(reuse_after([&] { ctx.seq_rm(0, static_cast<dare::pos_t>(p.size()), -1); }), h);
    // A generated row inside the opening's cells (positions reused).
    EXPECT_EQ(reuse_after([&] {
                  ctx.seq_rm(0, 3, -1);
                  b.clear();
                  b.add(p[3], 3, 0, true);
                  ctx.decode(b);
              }),
              0u);
    // The same tokens cut another way (no opening: one 512-token chunk).
    dare::prefill(ctx, b, p);
    EXPECT_EQ(ctx.begin_prompt(0, q, 0), 0u);
}
