// `dare bench`: every decoding method on the same prompts, in one process,
// alternated prompt by prompt after a warm-up, so machine noise hits all
// methods alike. Reports tokens/s, speedup over vanilla, tau, retrieval share
// and the fraction of outputs identical to vanilla greedy decoding. Methods:
// dare's (vanilla, pld, resd, dare, dare-strict, hybrid, hybrid-strict) and
// llama.cpp's own (llama-plain, llama-<speculation type>[:KEY=VALUE...], see
// dare/peers.h).
#pragma once

#include <string>
#include <vector>

#include "dare/speculative.h"
#include "dare/verify.h"

namespace dare {

struct bench_options {
    std::string model;
    std::string prompts;
    std::string pool;  // for resd / dare / dare-strict
    std::string peer_corpus;  // knowledge JSONL for llama.cpp's static n-gram cache (llama-ngram-cache:static=1)
    std::vector<std::string> methods = {"vanilla", "pld", "resd", "dare"};
    int32_t max_tokens = 256;
    int32_t threads = 0;
    int32_t warmup = 1;  // prompts run first and not counted
    uint32_t n_ctx = 2048;
    draft_limits limits{32, 12};
    bool auto_budget = true;
    verify_options relaxed;  // top_k / min_prob for dare
    std::string chat_template = "auto";  // model_options::chat_template
    std::string json_out;
};

struct bench_method_result {
    std::string method;
    std::string verify;
    int64_t tokens = 0;
    int64_t forward_passes = 0;
    int64_t draft_tokens = 0;
    int64_t accepted_tokens = 0;
    double seconds = 0;
    double retrieval_seconds = 0;
    double decode_seconds = 0;  // inside llama.cpp's decode; the rest is verification and bookkeeping
    double prefill_seconds = 0;  // the prompts' prefill (one forward pass per prompt)
    int32_t prompts = 0;
    int32_t identical = 0;
    float worst_divergence_gap = 0;  // strict methods: largest top-2 gap at a divergence from vanilla
};

// Runs the benchmark, writes JSON if asked, and returns the per-method results.
std::vector<bench_method_result> run_bench(const bench_options & o);

// The readable table printed by the CLI.
std::string bench_table(const std::vector<bench_method_result> & r);

// `dare bench-batch`: continuous batching (batched.h) of the same prompts at
// each --parallel B, without and with speculation, one after the other per B.
// With speculation, B = 1 runs the one-record engine with draft trees
// (speculative.h), which is what `dare run --parallel 1` uses; B > 1 runs
// per-record chains sized for the whole batch. Every run starts from the pool
// file as saved (runs grow their own copy).
struct batch_bench_options {
    std::string model;
    std::string prompts;
    std::string pool;  // optional: without one, drafts come from each record's own context
    std::vector<int32_t> parallel = {1, 4, 16, 32};
    int32_t max_tokens = 128;
    int32_t threads = 0;
    draft_limits limits{32, 12};
    verify_options verify;  // strict or relaxed
    bool self_draft = true;
    int32_t repeat = 1;  // plain and speculative runs alternate this many times per B
    bool shared_kv = false;  // B > 1: one KV cache for all records instead of a stream each (set_batched_context)
    std::string chat_template = "auto";  // model_options::chat_template
    std::string json_out;
    std::string step_log;  // optional: one TSV line per decode step of every run
};

struct batch_bench_row {
    int32_t parallel = 1;
    bool speculate = false;
    int32_t repeat = 0;
    int64_t tokens = 0;
    int64_t record_steps = 0;  // sum over records of the steps each took part in
    int64_t steps = 0;
    int64_t rows = 0;
    int64_t draft_tokens = 0;
    int64_t accepted_tokens = 0;
    double seconds = 0;
    double decode_seconds = 0;     // inside llama.cpp's decode
    double retrieval_seconds = 0;  // drafting and index updates
    int32_t records = 0;
    int32_t identical = 0;  // outputs equal to plain decoding at the first B
};

std::vector<batch_bench_row> run_batch_bench(const batch_bench_options & o);
std::string batch_bench_table(const std::vector<batch_bench_row> & r);

}  // namespace dare
