// Continuous batching with per-sequence drafts. Up to `parallel` records are
// decoded together: every step puts one llama.cpp batch together from each
// started record's last token plus its draft, decodes it once, and verifies
// each record's part on its own; new records' prompt chunks
// (prompt_chunk_end) are decodes of their own in the same step, on the fast
// prompt kernels (backend.h). A finished record's slot takes the next record
// at the next step, keeping the KV cells of the whole prompt chunks (a
// registered opening, model::add_prompt_head, is one) it shares with the
// slot's last record when the slot has a KV stream of its own
// (context::begin_prompt, prompt_tokens_reused).
//
// Drafts here are single chains in the record's own sequence (the best path
// of the merged pool/own-context tree), so a slot needs one sequence id and
// its KV cells stay in position order. Rows go into the batch slot by slot,
// and once no record is left to admit, the active slots are kept a run of
// consecutive sequence ids (records move down into idle slots), since
// llama.cpp decodes a batch over per-record KV streams in one pass per run
// of consecutive sequence ids. How many draft tokens each record gets
// is decided for the whole batch at once: candidates from every record are
// ranked by their acceptance probability (the node's pool estimate,
// score / root score, calibrated online by how often nodes with such an
// estimate were accepted in this run) and the batch keeps the prefix with the
// largest expected saving (drafts_worth_keeping, below). The step cost is a
// line fitted online to this run's decode-only step times (a row in a batch
// also attends over the other records' KV cells, which the one-sequence
// calibration curve does not see, so nothing is drafted until the fit is
// ready, nor past the rows it was fitted on by more than a quarter; one
// record alone uses the curve), so where a batch is already
// compute-bound the drafts shrink to none and the step is plain batched
// decoding. Those are models and can be wrong, so a draft_gate (below) also
// compares the throughput actually reached with and without drafts, and
// while drafting is the slower side no step drafts.
//
// Pools: a record's prompt goes into its pool when it starts, its output when
// it finishes (records decoded side by side cannot stream into one pool).
// Strict verification keeps every record's output greedy; with the
// batch-invariant context (backend.h) a token's logits do not depend on what
// else is in the batch, so outputs match one-at-a-time decoding except where
// KV cells of a record end up out of position order (measured in
// tests/test_batched.cpp).
#pragma once

#include <functional>
#include <ostream>
#include <span>
#include <vector>

#include "dare/speculative.h"

namespace dare {

// One decode step, as reported to batched_options::on_step (diagnostics).
struct batched_step {
    int32_t prefill_rows = 0;  // prompt rows of records not yet started
    int32_t decode_rows = 0;   // one per started record (its last token)
    int32_t draft_rows = 0;    // draft chain rows kept for this step
    int32_t tokens = 0;        // tokens emitted by the step
    double seconds = 0;        // inside llama.cpp's decode
    bool gate_drafting = true; // the gate's side for decode-only steps
};

// The step log's columns (`dare bench-batch --step-log`, `dare run
// --step-log`): a header naming them and one line per step, tab-separated,
// without a line end.
inline constexpr const char * batched_step_header = "prefill_rows\tdecode_rows\tdraft_rows\ttokens\tms\tgate_drafting";
void write_batched_step(std::ostream & out, const batched_step & st);

struct batched_options {
    int32_t parallel = 4;              // records decoded together (slots)
    speculative_options spec;          // limits, verification, cost curve, self_draft
    bool speculate = true;             // false: plain continuous batching
    bool insert_output = true;         // a finished record's output goes into its pool (else the caller inserts it)
    std::function<void(const batched_step &)> on_step;  // optional, called after every step
};

struct batched_totals {
    int64_t tokens = 0;
    int64_t steps = 0;       // decode calls
    int64_t rows = 0;        // batch rows decoded
    int64_t draft_tokens = 0;
    int64_t accepted_tokens = 0;
    double seconds = 0;      // wall time of the whole run
    double decode_seconds = 0;     // inside llama.cpp's decode
    double retrieval_seconds = 0;  // drafting and pool/own-index updates
    int64_t slot_moves = 0;  // records moved into a lower idle slot once no record was left to admit
};

// Record i's prompt and pool (may be null: drafts from its own context only).
struct batched_record {
    std::span<const token> prompt;
    token_index * pool = nullptr;
};

class batched_decoder {
  public:
    // The context needs n_seq_max >= parallel and room for `parallel` records
    // (prompt + max_tokens + draft each).
    batched_decoder(context & ctx, const batched_options & o);

    // Generates every record, calling on_done(i, result) as record i finishes
    // (in completion order). Per-record stats: forward_passes = steps the
    // record took part in, seconds = from its first step to its last.
    batched_totals run(size_t n_records, const std::function<batched_record(size_t)> & record,
                       const generation_options & g,
                       const std::function<void(size_t, generation_result &&)> & on_done);

  private:
    struct slot;
    context & ctx_;
    batched_options opts_;
};

// Measured throughput, drafting against not drafting. Decode-only steps run
// in blocks of `block` steps, alternately with the budget's drafts and with
// none, until each side has had two blocks; then the side with more tokens
// per second (exponentially forgotten per step) runs, and the other gets one
// block in every `explore_every` to follow drift. Steps with prefill rows are
// not measured (their time is mostly the prompt rows'); they draft only while
// the gate is on the drafting side.
class draft_gate {
  public:
    explicit draft_gate(int32_t block = 8, int32_t explore_every = 8) : block_(block), explore_every_(explore_every) {}
    bool drafting() const { return mode_ == 1; }  // the side the next decode-only step runs
    void record_step(double tokens, double seconds);
    double rate(bool with_drafts) const;          // tokens per second seen so far (0 = none)

  private:
    int32_t block_, explore_every_;
    int mode_ = 1;
    int32_t in_block_ = 0, since_explore_ = 0;
    double tokens_[2] = {0, 0}, seconds_[2] = {0, 0};
    int32_t blocks_[2] = {0, 0};
};

// How many draft rows a step keeps: the prefix of the candidates' acceptance
// probabilities `p` (best first) with the largest expected saving,
//     sum(p[0..k)) * cost(decode_rows) / decode_rows - (cost(base_rows + k) - cost(base_rows)),
// 0 when no prefix saves anything, and never more than max_rows - base_rows
// (the rows over which `cost` is trusted). An accepted token saves its record a
// later step, worth what a plain step of the decode_rows started records
// pays per token; a draft row costs what it adds to this step's base rows
// (decode rows plus any prompt rows). A step-rate rule, (tokens + sum p) /
// cost(rows), lets hundreds of prompt rows make any draft look cheap:
// measured at B = 16 on users, 2516 draft rows rode in prompt steps and cost
// more than the tokens they won were worth (docs/benchmarks.md).
size_t drafts_worth_keeping(std::span<const double> p, int32_t decode_rows, int32_t base_rows, int32_t max_rows,
                            const std::function<double(int32_t)> & cost);

// Sets up `co` (its layout chosen) for `parallel` slots of up to
// `cells_per_record` KV cells each (prompt, output and draft): one sequence
// per slot, and on the batch-invariant layout one KV stream per sequence.
// In a shared cache a record's new cells fill the holes finished records
// left, out of position order, and the flash-attention row kernel sums the
// values in cell order, so a record's logits would depend on its neighbours
// (by up to 0.3 at B = 4 on the bundled model); in a stream of its own its
// cells stay in position order, as in one-record decoding, and batching is
// exact. llama.cpp then runs a step as one pass per run of consecutive
// sequences with equal row counts.
void set_batched_context(context_options & co, int32_t parallel, uint32_t cells_per_record);

}  // namespace dare
