// `dare bench`: every decoding method on the same prompts, in one process,
// alternated prompt by prompt after a warm-up, so machine noise hits all
// methods alike. Reports tokens/s, speedup over vanilla, tau, retrieval share
// and the fraction of outputs identical to vanilla greedy decoding.
#pragma once

#include <string>
#include <vector>

#include "dare/speculative.h"

namespace dare {

struct bench_options {
    std::string model;
    std::string prompts;
    std::string pool;  // for resd / dare / dare-strict
    std::vector<std::string> methods = {"vanilla", "pld", "resd", "dare"};
    int32_t max_tokens = 256;
    int32_t threads = 0;
    int32_t warmup = 1;  // prompts run first and not counted
    uint32_t n_ctx = 2048;
    draft_limits limits{32, 12};
    bool auto_budget = true;
    verify_options relaxed;  // top_k / min_prob for dare
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
    int32_t prompts = 0;
    int32_t identical = 0;
    float worst_divergence_gap = 0;  // strict methods: largest top-2 gap at a divergence from vanilla
};

// Runs the benchmark, writes JSON if asked, and returns the per-method results.
std::vector<bench_method_result> run_bench(const bench_options & o);

// The readable table printed by the CLI.
std::string bench_table(const std::vector<bench_method_result> & r);

}  // namespace dare
