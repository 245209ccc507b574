// `dare bench-pool`: how a pool's size changes retrieval time and draft
// quality, for each index kind, without running the model. A knowledge
// corpus (a run's greedy outputs) is split: the last `heldout` records are
// the texts to predict, the rest fill the pool first; beyond the real
// corpus, the pool is topped up with filler sampled from the corpus's own
// bigram statistics (same vocabulary and local phrasing, no real content:
// what other groups' knowledge looks like to one group), up to each size.
// For each held-out text the draft is replayed as strict verification would
// see it: draft from the pool for the context, accept the longest tree path
// that matches the true continuation, step past it plus one token, so
//     tau = tokens / steps
// is what strict decoding of that (greedy) text would reach with this pool,
// and retrieval time is measured per draft call.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dare/draft.h"
#include "dare/pool.h"

namespace dare {

struct pool_bench_options {
    std::string model;   // for tokenization and the chat template only
    std::string corpus;  // knowledge JSONL ({"text", "prompt"?} per line)
    std::vector<uint64_t> sizes = {1000, 10000, 100000, 1000000, 10000000};
    std::vector<std::string> kinds = {"trie", "suffix"};
    int32_t heldout = 20;
    draft_limits limits{32, 12};
    uint64_t seed = 7;
    std::string chat_template = "auto";  // model_options::chat_template
    std::string json_out;
};

struct pool_bench_row {
    std::string kind;
    uint64_t target_tokens = 0;
    uint64_t real_tokens = 0;    // tokens from the corpus
    uint64_t stored_tokens = 0;  // what the index reports holding
    uint64_t memory_bytes = 0;
    double build_seconds = 0;
    int64_t drafts = 0;
    double retrieval_us_per_draft = 0;
    double tau = 0;
};

std::vector<pool_bench_row> run_pool_bench(const pool_bench_options & o);
std::string pool_bench_table(const std::vector<pool_bench_row> & r);

// Length of the longest root path of `tree` that spells a prefix of `truth`.
int32_t longest_matching_path(const draft_tree & tree, std::span<const token> truth);

}  // namespace dare
