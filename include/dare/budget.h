// Cost-aware draft budgets. A verification pass over n tokens costs more than
// one token on a CPU (and nearly the same on a GPU), so the tree size that
// maximises tokens per second depends on the machine and model. The cost
// curve is measured once (`dare calibrate`, cached per model, thread count
// and machine) and each step keeps the prefix of the best-first tree that
// maximises expected tokens per unit of cost:
//     (1 + alpha * sum of the kept nodes' acceptance estimates) / cost(rows)
// where a node's estimate is its pool count over the root's, and alpha is
// learned online (accepted / predicted), so no drafting happens where it
// does not pay.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "dare/backend.h"
#include "dare/draft.h"

namespace dare {

class cost_model {
  public:
    cost_model() = default;
    // ms[i] = milliseconds of one decode of sizes[i] tokens (sizes ascending, starting at 1).
    cost_model(std::vector<int32_t> sizes, std::vector<double> ms);
    // Cost of a batch of n tokens relative to one token (linear between
    // measured sizes, extrapolated from the last two beyond them).
    double relative(int32_t n) const;
    bool empty() const { return sizes_.empty(); }
    const std::vector<int32_t> & sizes() const { return sizes_; }
    const std::vector<double> & ms() const { return ms_; }

    void save(const std::string & path, const std::string & description) const;
    static cost_model load(const std::string & path);  // throws dare::error

  private:
    std::vector<int32_t> sizes_;
    std::vector<double> ms_;
};

// `dare run --parallel auto`: how many records to decode together, from
// the cost curve. Per generated token a batch of B one-token rows costs
// cost(B) / B; the choice is the smallest power of two up to `max_parallel`
// whose cost per token is within `tolerance` (3%, about the curve's
// measurement noise) of the cheapest one. The curve is one sequence's rows
// at a fixed depth; a whole job's batches of records at their own depths
// keep getting cheaper per token up to 64 on the 2-vCPU CPUs measured
// (docs/benchmarks.md), so the default reaches 64. 1 without a curve.
int32_t choose_parallel(const cost_model & c, int32_t max_parallel = 64, double tolerance = 0.03);

// The most records whose KV cells (`cells_per_record` each, F16 keys and
// values of every layer) fit in a quarter of `memory_bytes`: the cap
// `--parallel auto` puts on its choice (at least 1).
int32_t parallel_fitting_memory(const model_info & m, uint32_t cells_per_record, uint64_t memory_bytes);

// Measures decode time for batches of each size at context depth `depth`
// (median of `reps` runs after one warm-up). Uses sequence 0 and restores it.
cost_model measure_cost_curve(context & ctx, const std::vector<int32_t> & sizes, int32_t depth, int32_t reps);

// What the cost curve leaves out, measured: decode time of batches of the
// same row count shaped three ways, at several context depths (sequence 0
// holds `depth` tokens first), in each of several contexts (KV layouts),
// which take turns at every repetition. A tree of n rows has ceil((n - 1) / 3)
// branches (at least 1); each context needs n_seq_max above that.
struct batch_shape_timing {
    int32_t depth = 0;
    int32_t rows = 0;
    int32_t branches = 0;  // leaf sequences of the tree shape
    // Median milliseconds per decode, one entry per context:
    std::vector<double> chain_ms;          // rows appended to sequence 0, the same batch every run (as the curve)
    std::vector<double> chain_rebuilt_ms;  // the same, after a batch of another size (llama.cpp rebuilds its graph)
    std::vector<double> tree_ms;           // a root plus branches of about 3 tokens, each branch its own sequence
                                           // (copied from sequence 0), as the tree engine lays out a draft tree
};
std::vector<batch_shape_timing> measure_batch_shapes(std::span<context * const> ctxs, const std::vector<int32_t> & depths,
                                                     const std::vector<int32_t> & rows, int32_t reps);

// Cache file for a model/thread count on this machine.
// `layout`: the KV layout the curve is for.
std::string calibration_path(const model_info & m, int32_t n_threads, kv_layout layout = kv_layout::batch_invariant);

// Measures the curve for a KV layout (batches of 1 to 64 tokens at depth
// 256, median of `reps`) and caches it; `n_threads` > 0.
cost_model calibrate_cost_curve(const model & m, int32_t n_threads, kv_layout layout, int32_t reps);

// Loads the cached curve or measures and caches it.
cost_model load_or_measure_cost_curve(const model & m, int32_t n_threads, bool verbose,
                                      kv_layout layout = kv_layout::batch_invariant);

// Online estimate of how pool statistics compare with real acceptance (a
// 2-token trie key underestimates deep nodes: once a draft has matched a few
// tokens its continuation is far likelier than the key's counts say). Starts
// optimistic (2) so drafting is tried, then follows accepted / predicted.
struct acceptance_tracker {
    double predicted = 1.0;
    double accepted = 2.0;
    double alpha() const;
    void update(double pred, double acc);
    // A step that drafted nothing: drift back toward the optimistic prior, so a
    // pessimistic spell cannot switch drafting off for good.
    void idle();
};

// Number of best-first nodes to keep (0..tree size). `extra_rows` are batch
// rows that come anyway (the root and re-decoded tokens). The tree must be in
// the builder's best-first order.
int32_t choose_draft_size(const draft_tree & tree, float root_score, double alpha, const cost_model & cost,
                          int32_t extra_rows, double * predicted = nullptr);

}  // namespace dare
