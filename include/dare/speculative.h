// Draft-then-verify decoding. Each step drafts a tree from a token index
// (a retrieval pool, or this record's own prompt and output for prompt
// lookup), runs the last token plus every draft node through the model in ONE
// batch with tree attention, accepts a path by the verification rule, and
// leaves the KV cache holding exactly the context plus the accepted tokens.
//
// Tree attention on llama.cpp: sequence 0 holds the context; each leaf of the
// tree gets its own sequence id (1..L), to which the context is copied; the
// root row is tagged with every sequence and a node with the leaves below it,
// at position context length + depth. A node therefore sees the context and
// its ancestors only. After the step the accepted path is copied into
// sequence 0 and the leaf sequences are removed.
#pragma once

#include <span>

#include "dare/budget.h"
#include "dare/draft.h"
#include "dare/generate.h"
#include "dare/pool.h"
#include "dare/verify.h"

namespace dare {

struct speculative_options {
    draft_limits limits;       // the largest tree considered
    verify_options verify;
    // With a cost curve, each step keeps the prefix of the tree that
    // maximises expected tokens per unit of verification cost (possibly none);
    // without one, the whole tree is verified.
    cost_model cost;
    // With a pool, also draft from the record's own prompt and output (as
    // prompt lookup does) and merge the two trees (draft_merger): knowledge
    // texts repeat their own names and phrases, which a shared pool ranks
    // below what other records said.
    bool self_draft = false;
};

// Sequences a context needs for trees of `max_nodes` nodes.
uint32_t speculative_seq_max(const draft_limits & lim);

class speculative_decoder {
  public:
    // The context must have n_seq_max >= speculative_seq_max(limits) and a
    // unified KV cache.
    speculative_decoder(context & ctx, const speculative_options & o);

    // Drafts from `pool` when given: the prompt is inserted (prompt side) at
    // the start and the output (output side) when the record is done, so the
    // pool grows with every record; the record's own output is drafted from
    // while it is written only with self_draft (its own index), as in
    // batched decoding. With insert_output false the output is left for the
    // caller to insert once it keeps the text (generation_session's health
    // guard). Without a pool, drafts come from a fresh index over this
    // record's prompt and output only (prompt lookup).
    generation_result generate(std::span<const token> prompt, const generation_options & g, token_index * pool,
                               bool insert_output = true);

    // Strict decoding that continues a text whose first tokens `prefix` are
    // known to be strict's own, on a context whose sequence 0 still holds
    // `prompt` followed by them in strict's KV order (what relaxed decoding on
    // this context leaves until it first takes a token off the argmax):
    // nothing before the prefix's last token is decoded again. Without a
    // pool, like generate(). On the batch-invariant layout the result is
    // token for token what generate() with strict verification writes; its
    // stats cover only the work done here (prefill_seconds 0).
    generation_result resume_strict(std::span<const token> prompt, std::span<const token> prefix,
                                    const generation_options & g);

    const speculative_options & options() const { return opts_; }
    // The acceptance estimate that sizes drafts, carried from record to
    // record (sampled records start afresh). Relaxed text depends on it, so
    // a run writes it with each record and a resumed run restores the last
    // one: the resumed records are decoded as in an uninterrupted run.
    const acceptance_tracker & estimate() const { return tracker_; }
    void restore_estimate(const acceptance_tracker & t) { tracker_ = t; }

  private:
    // generate() and resume_strict(): `prefix` empty starts from the prompt.
    generation_result run(std::span<const token> prompt, std::span<const token> prefix, const generation_options & g,
                          token_index * pool, bool insert_output);

    context & ctx_;
    speculative_options opts_;
    verifier verifier_;
    batch batch_;
    draft_tree tree_;
    draft_tree own_tree_;
    draft_tree pool_tree_;
    draft_merger merger_;
    verify_result vr_;
    std::vector<std::vector<seq_id>> node_seqs_;
    std::vector<seq_id> root_seqs_;
    std::vector<int32_t> leaf_of_node_;
    std::vector<token> context_;
    acceptance_tracker tracker_;
    std::unique_ptr<logit_processor> processor_;
    prompt_copies copies_;
    size_t kv_len_ = 0;  // tokens of context_ held in sequence 0 of the KV cache
};

}  // namespace dare
