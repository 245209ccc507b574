// Retrieval pools: both index kinds against a brute-force reference on random
// and real token streams; streaming growth; memory bounds; pool files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <random>

#include "../src/pool/ngram_trie.h"
#include "../src/pool/suffix_automaton.h"
#include "../src/util/mix.h"
#include "dare/error.h"
#include "dare/pool.h"
#include "test_util.h"

using namespace dare_test;
using dare::token;

namespace {

struct sequence {
    std::vector<token> toks;
    dare::token_source src;
};

// Brute force: the weighted count of every continuation prefix after each
// occurrence of the key. The tree an index drafts is then checked against
// these counts without the production builder (expect_best_tree).
using prefix_scores = std::map<std::vector<token>, float>;

class reference {
  public:
    reference(const dare::index_options & o) : o_(o) {}
    void add(const sequence & s) { seqs_.push_back(s); }

    // DARE trie semantics: key = last 2 tokens if some occurrence of them is
    // followed by a token, else the last token.
    prefix_scores draft_trie(const std::vector<token> & ctx) {
        if (ctx.size() >= 2) {
            auto c = collect(std::vector<token>(ctx.end() - 2, ctx.end()), o_.branch_len);
            if (!c.empty()) {
                return c;
            }
        }
        return collect(std::vector<token>(ctx.end() - 1, ctx.end()), o_.branch_len);
    }

    // Longest suffix (<= max_suffix) with an occurrence followed by a token;
    // `len` gets its length (0 when none).
    prefix_scores draft_suffix(const std::vector<token> & ctx, int & len) {
        const int maxl = std::min<int>(o_.max_suffix, static_cast<int>(ctx.size()));
        for (len = maxl; len >= 1; --len) {
            auto c = collect(std::vector<token>(ctx.end() - len, ctx.end()), 1 << 20);
            if (!c.empty()) {
                return c;
            }
        }
        len = 0;
        return {};
    }

  private:
    // Weighted counts of continuation prefixes (up to max_len tokens) after
    // each occurrence of `key`.
    prefix_scores collect(const std::vector<token> & key, int max_len) const {
        prefix_scores out;
        for (const auto & s : seqs_) {
            const auto & t = s.toks;
            const float w = s.src == dare::token_source::prompt ? o_.prompt_weight : o_.output_weight;
            for (size_t end = key.size(); end <= t.size(); ++end) {
                if (!std::equal(key.begin(), key.end(), t.begin() + static_cast<long>(end - key.size()))) {
                    continue;
                }
                std::vector<token> prefix;
                for (size_t j = end; j < t.size() && static_cast<int>(prefix.size()) < max_len; ++j) {
                    prefix.push_back(t[j]);
                    out[prefix] += w;
                }
            }
        }
        return out;
    }

    dare::index_options o_;
    std::vector<sequence> seqs_;
};

// A best-first draft from `want`'s prefixes: every node is a distinct
// prefix within the depth limit carrying its brute-force score, parents come
// before children, scores never rise along the node order, and the tree
// holds the min(max_nodes, candidates) highest scores there are (a prefix's
// score never exceeds its parent's, so the best prefix-closed tree of n
// nodes is n highest-scored prefixes).
void expect_best_tree(const dare::draft_tree & got, const prefix_scores & want, const dare::draft_limits & lim,
                      const std::string & what) {
    std::vector<float> best;
    for (const auto & [p, sc] : want) {
        if (static_cast<int>(p.size()) <= lim.max_depth && sc > 0) {
            best.push_back(sc);
        }
    }
    std::sort(best.rbegin(), best.rend());
    best.resize(std::min<size_t>(best.size(), static_cast<size_t>(std::max(lim.max_nodes, 0))));
    ASSERT_EQ(got.size(), static_cast<int>(best.size())) << what;
    std::vector<std::vector<token>> paths;
    std::set<std::vector<token>> seen;
    std::vector<float> scores;
    for (int i = 0; i < got.size(); ++i) {
        const auto & n = got.nodes[i];
        ASSERT_LT(n.parent, i) << what << " node " << i << ": parent after child";
        std::vector<token> path = n.parent < 0 ? std::vector<token>{} : paths[static_cast<size_t>(n.parent)];
        path.push_back(n.tok);
        EXPECT_EQ(n.depth, static_cast<int>(path.size())) << what << " node " << i;
        EXPECT_TRUE(seen.insert(path).second) << what << " node " << i << ": a prefix twice";
        const auto it = want.find(path);
        ASSERT_NE(it, want.end()) << what << " node " << i << ": a continuation the pool does not hold";
        EXPECT_FLOAT_EQ(n.score, it->second) << what << " node " << i;
        if (i > 0) {
            EXPECT_LE(n.score, got.nodes[i - 1].score) << what << " node " << i << ": not best-first";
        }
        scores.push_back(n.score);
        paths.push_back(std::move(path));
    }
    std::sort(scores.rbegin(), scores.rend());
    for (size_t i = 0; i < scores.size(); ++i) {
        EXPECT_FLOAT_EQ(scores[i], best[i]) << what << ": not the highest-scored prefixes";
    }
}

void expect_same_tree(const dare::draft_tree & a, const dare::draft_tree & b, const std::string & what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (int i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a.nodes[i].tok, b.nodes[i].tok) << what << " node " << i;
        EXPECT_EQ(a.nodes[i].parent, b.nodes[i].parent) << what << " node " << i;
        EXPECT_EQ(a.nodes[i].depth, b.nodes[i].depth) << what << " node " << i;
        EXPECT_FLOAT_EQ(a.nodes[i].score, b.nodes[i].score) << what << " node " << i;
    }
}

std::vector<sequence> random_sequences(std::mt19937 & rng, int n, int vocab, int max_len) {
    std::vector<sequence> out;
    std::uniform_int_distribution<int> len(1, max_len), tok(0, vocab - 1), src(0, 1);
    for (int i = 0; i < n; ++i) {
        sequence s;
        s.src = static_cast<dare::token_source>(src(rng));
        const int l = len(rng);
        for (int j = 0; j < l; ++j) {
            s.toks.push_back(tok(rng));
        }
        out.push_back(std::move(s));
    }
    return out;
}

// Contexts: random ones, and ones ending in a stretch copied from the pool.
std::vector<std::vector<token>> contexts_for(std::mt19937 & rng, const std::vector<sequence> & seqs, int vocab,
                                             int n) {
    std::vector<std::vector<token>> out;
    std::uniform_int_distribution<int> tok(0, vocab - 1), len(1, 24);
    for (int i = 0; i < n; ++i) {
        std::vector<token> c;
        const int l = len(rng);
        for (int j = 0; j < l; ++j) {
            c.push_back(tok(rng));
        }
        if (i % 2 == 0) {
            const auto & s = seqs[rng() % seqs.size()].toks;
            const size_t a = rng() % s.size();
            const size_t b = a + 1 + rng() % (s.size() - a);
            c.insert(c.end(), s.begin() + static_cast<long>(a), s.begin() + static_cast<long>(b));
        }
        out.push_back(std::move(c));
    }
    return out;
}

void check_against_reference(const std::vector<sequence> & seqs, const std::vector<std::vector<token>> & ctxs,
                             const dare::index_options & o, const dare::draft_limits & lim) {
    dare::ngram_trie trie(o);
    dare::suffix_automaton sam(o);
    reference ref(o);
    for (const auto & s : seqs) {
        trie.insert(s.toks, s.src);
        sam.insert(s.toks, s.src);
        ref.add(s);
    }
    dare::draft_tree got;
    size_t nonempty = 0;
    for (size_t i = 0; i < ctxs.size(); ++i) {
        trie.draft(ctxs[i], lim, got);
        nonempty += got.empty() ? 0 : 1;
        expect_best_tree(got, ref.draft_trie(ctxs[i]), lim, "trie ctx " + std::to_string(i));
        sam.draft(ctxs[i], lim, got);
        int l = 0;
        const auto want = ref.draft_suffix(ctxs[i], l);
        EXPECT_EQ(sam.match_length(ctxs[i]), l) << "ctx " << i;
        expect_best_tree(got, want, lim, "suffix ctx " + std::to_string(i));
        nonempty += got.empty() ? 0 : 1;
    }
    EXPECT_GT(nonempty, ctxs.size());  // most drafts are real trees, not empty ones
}

}  // namespace

TEST(Pool, BothKindsMatchBruteForceOnRandomStreams) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 12; ++round) {
        const int vocab = 3 + round % 5;
        const auto seqs = random_sequences(rng, 6 + round, vocab, 30);
        const auto ctxs = contexts_for(rng, seqs, vocab, 25);
        dare::index_options o;
        o.branch_len = 1 + round % 6;
        o.max_suffix = 1 + round % 9;
        o.output_weight = 1.0f + static_cast<float>(round % 3);
        dare::draft_limits lim;
        lim.max_nodes = 1 + (round * 7) % 20;
        lim.max_depth = 1 + round % 8;
        check_against_reference(seqs, ctxs, o, lim);
    }
}

#ifndef DARE_MODEL_FREE  // needs the bundled model's tokenizer
TEST(Pool, BothKindsMatchBruteForceOnRealTokenStreams) {
    const auto & m = default_model();
    const std::vector<std::string> texts = {
        "The film is a drama directed by Robert Zemeckis. The film stars Tom Hanks as Forrest Gump.",
        "The film is a crime drama directed by Quentin Tarantino. The film stars John Travolta and Samuel L. Jackson.",
        "This user enjoys action movies with strong characters, and the user prefers movies from the 1990s.",
        "This user enjoys drama movies with complex characters, and the user prefers movies with a dark tone.",
        "The movie's soundtrack is memorable and its production quality is high. The film is a drama.",
    };
    std::vector<sequence> seqs;
    for (size_t i = 0; i < texts.size(); ++i) {
        seqs.push_back({m.tokenize(texts[i], false, false),
                        i % 2 ? dare::token_source::prompt : dare::token_source::output});
    }
    std::vector<std::vector<token>> ctxs;
    for (const char * c : {"The film is a", "This user enjoys", "The film stars", "and the user prefers movies",
                           "drama directed by", "its production quality", "completely unrelated words"}) {
        ctxs.push_back(m.tokenize(c, false, false));
    }
    dare::index_options o;
    dare::draft_limits lim;
    lim.max_nodes = 24;
    lim.max_depth = 10;
    check_against_reference(seqs, ctxs, o, lim);
}
#endif

TEST(Pool, StreamingAppendEqualsWholeInsert) {
    std::mt19937 rng(7);
    const auto seqs = random_sequences(rng, 10, 4, 40);
    for (auto kind : {dare::index_kind::ngram_trie, dare::index_kind::suffix}) {
        auto a = dare::make_index(kind);
        auto b = dare::make_index(kind);
        for (const auto & s : seqs) {
            a->insert(s.toks, s.src);
            b->begin_sequence(s.src);
            for (token t : s.toks) {
                b->append(t);
            }
        }
        dare::draft_tree ta, tb;
        for (const auto & c : contexts_for(rng, seqs, 4, 20)) {
            a->draft(c, {}, ta);
            b->draft(c, {}, tb);
            expect_same_tree(ta, tb, dare::index_kind_name(kind));
        }
        EXPECT_EQ(a->stored_tokens(), b->stored_tokens());
    }
}

TEST(Pool, DraftTreeIsPrefixClosedAndWithinLimits) {
    std::mt19937 rng(99);
    const auto seqs = random_sequences(rng, 20, 5, 50);
    auto idx = dare::make_index(dare::index_kind::suffix);
    for (const auto & s : seqs) {
        idx->insert(s.toks, s.src);
    }
    dare::draft_tree t;
    for (const auto & c : contexts_for(rng, seqs, 5, 30)) {
        idx->draft(c, {12, 5}, t);
        EXPECT_LE(t.size(), 12);
        EXPECT_LE(t.depth(), 5);
        for (int i = 0; i < t.size(); ++i) {
            const auto & n = t.nodes[i];
            ASSERT_LT(n.parent, i);  // parents first
            EXPECT_EQ(n.depth, n.parent < 0 ? 1 : t.nodes[n.parent].depth + 1);
            if (n.parent >= 0) {
                EXPECT_LE(n.score, t.nodes[n.parent].score);
            }
            for (int j = 0; j < i; ++j) {  // siblings carry distinct tokens
                if (t.nodes[j].parent == n.parent) {
                    EXPECT_NE(t.nodes[j].tok, n.tok);
                }
            }
        }
    }
}

TEST(Pool, TrieNodeBudgetHalvesAndPrunes) {
    dare::index_options o;
    o.max_nodes = 2000;
    dare::ngram_trie trie(o);
    std::mt19937 rng(5);
    const std::vector<token> common = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 400; ++i) {
        trie.insert(common, dare::token_source::output);
        std::vector<token> noise;
        for (int j = 0; j < 20; ++j) {
            noise.push_back(100 + static_cast<token>(rng() % 5000));
        }
        trie.insert(noise, dare::token_source::prompt);
        EXPECT_LE(trie.node_count(), o.max_nodes + 2ull * 21 * o.branch_len);
    }
    // The frequent continuation survives pruning.
    dare::draft_tree t;
    trie.draft(std::vector<token>{1, 2}, {4, 4}, t);
    ASSERT_GE(t.size(), 1);
    EXPECT_EQ(t.path(t.size() - 1), (std::vector<token>{3, 4, 5, 6}));
    EXPECT_GT(trie.memory_bytes(), 0u);
}

TEST(Pool, SuffixTokenBudgetKeepsRecentSequences) {
    dare::index_options o;
    o.max_tokens = 1000;
    auto idx = dare::make_index(dare::index_kind::suffix, o);
    for (int i = 0; i < 300; ++i) {
        std::vector<token> s;
        for (int j = 0; j < 10; ++j) {
            s.push_back(i * 10 + j);
        }
        idx->insert(s, dare::token_source::output);
        EXPECT_LE(idx->stored_tokens(), o.max_tokens + 10);
    }
    dare::draft_tree t;
    idx->draft(std::vector<token>{2990, 2991}, {4, 4}, t);  // the most recent sequence
    ASSERT_EQ(t.size(), 4);
    EXPECT_EQ(t.path(3), (std::vector<token>{2992, 2993, 2994, 2995}));
    idx->draft(std::vector<token>{0, 1}, {4, 4}, t);  // aged out
    EXPECT_TRUE(t.empty());
    EXPECT_GT(idx->bytes_per_token(), 0.0);
}

TEST(Pool, FilesRoundTripAndRejectBadInput) {
    std::mt19937 rng(11);
    const auto seqs = random_sequences(rng, 15, 6, 40);
    temp_dir d;
    for (auto kind : {dare::index_kind::ngram_trie, dare::index_kind::suffix}) {
        auto idx = dare::make_index(kind);
        for (const auto & s : seqs) {
            idx->insert(s.toks, s.src);
        }
        const std::string path = d / (std::string(dare::index_kind_name(kind)) + ".pool");
        dare::save_pool(path, *idx, 42);
        auto back = dare::load_pool(path, 42);
        EXPECT_EQ(back->kind(), kind);
        EXPECT_EQ(back->stored_tokens(), idx->stored_tokens());
        dare::draft_tree a, b;
        for (const auto & c : contexts_for(rng, seqs, 6, 20)) {
            idx->draft(c, {}, a);
            back->draft(c, {}, b);
            expect_same_tree(a, b, "reloaded");
        }
        auto error_of = [&](const std::string & p, uint64_t fp) {
            try {
                dare::load_pool(p, fp);
            } catch (const dare::error & e) {
                return std::string(e.what());
            }
            return std::string();
        };
        EXPECT_NE(error_of(path, 43).find("different tokenizer vocabulary"), std::string::npos);
        std::string bytes = read_file(path);
        std::string corrupt = bytes;
        corrupt[corrupt.size() - 20] ^= 0x5a;
        write_file(d / "corrupt.pool", corrupt);
        EXPECT_NE(error_of(d / "corrupt.pool", 42).find("checksum mismatch"), std::string::npos);
        std::string version = bytes;
        version[8] = 9;
        write_file(d / "version.pool", version);
        EXPECT_NE(error_of(d / "version.pool", 42).find("format version 9"), std::string::npos);
        write_file(d / "trunc.pool", bytes.substr(0, bytes.size() / 2));
        EXPECT_NE(error_of(d / "trunc.pool", 42).find("truncated"), std::string::npos);
        // A body length far beyond the file is refused before any allocation
        // (an array length inside the body likewise: the fuzz_pool corpus).
        std::string huge = bytes;
        const uint64_t promised = 1ull << 39;
        huge.replace(8 + 4 + 1 + sizeof(dare::index_options) + 8, 8, reinterpret_cast<const char *>(&promised), 8);
        write_file(d / "huge.pool", huge);
        EXPECT_NE(error_of(d / "huge.pool", 42).find("truncated"), std::string::npos);
        write_file(d / "text.pool", "hello world, not a pool");
        EXPECT_NE(error_of(d / "text.pool", 42).find("not a dare pool file"), std::string::npos);
        EXPECT_NE(error_of(d / "missing.pool", 42).find("cannot open"), std::string::npos);
    }
}

// A trie read from a file must be a forest: a node linked twice (here a node
// made its own next sibling, a loop in its parent's child list) would make
// drafting from it loop forever. Found by fuzz_pool; the file is refused.
TEST(Pool, TrieFileWithALoopIsRefused) {
    auto idx = dare::make_index(dare::index_kind::ngram_trie);
    idx->insert(std::vector<token>{5, 6, 7, 8}, dare::token_source::output);
    temp_dir d;
    const std::string path = d / "trie.pool";
    dare::save_pool(path, *idx, 42);
    std::string bytes = read_file(path);
    // Header: magic, version, kind, options, vocabulary fingerprint, body length.
    const size_t body_at = 8 + 4 + 1 + sizeof(dare::index_options) + 8 + 8;
    const size_t body_len = bytes.size() - body_at - 8;  // checksum last
    // Body: tokens stored, node count, nodes {tok, first_child, next_sibling, count[2]}.
    const size_t nodes_at = body_at + 8 + 8;
    const size_t node_size = 5 * sizeof(int32_t);
    int32_t root_child = -1;
    std::memcpy(&root_child, bytes.data() + nodes_at + 4, 4);  // node 0's first child
    ASSERT_GT(root_child, 0);
    std::memcpy(bytes.data() + nodes_at + root_child * node_size + 8, &root_child, 4);
    const uint64_t sum = dare::mix::fnv1a(dare::mix::fnv_offset, bytes.data() + body_at, body_len);
    std::memcpy(bytes.data() + body_at + body_len, &sum, 8);
    write_file(d / "loop.pool", bytes);
    try {
        dare::load_pool(d / "loop.pool", 42);
        FAIL() << "a trie with a loop was loaded";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("linked twice"), std::string::npos) << e.what();
    }
}
