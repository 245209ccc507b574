// Draft-then-verify decoding with one-pass tree verification.
#include "dare/speculative.h"

#include <algorithm>
#include <chrono>

#include "dare/error.h"
#include "dare/signals.h"

namespace dare {

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}
}  // namespace

uint32_t speculative_seq_max(const draft_limits & lim) { return 1 + static_cast<uint32_t>(std::max(lim.max_nodes, 0)); }

speculative_decoder::speculative_decoder(context & ctx, const speculative_options & o)
    : ctx_(ctx), opts_(o), verifier_(o.verify) {
    if (o.limits.max_nodes < 0 || o.limits.max_depth < 0) {
        throw error("--draft-nodes and --draft-depth must not be negative");
    }
    if (ctx.n_seq_max() < speculative_seq_max(o.limits)) {
        throw error("internal: context has " + std::to_string(ctx.n_seq_max()) + " sequences, drafts of " +
                    std::to_string(o.limits.max_nodes) + " nodes need " +
                    std::to_string(speculative_seq_max(o.limits)));
    }
}

generation_result speculative_decoder::generate(std::span<const token> prompt, const generation_options & g,
                                                token_index * pool, bool insert_output) {
    return run(prompt, {}, g, pool, insert_output);
}

generation_result speculative_decoder::resume_strict(std::span<const token> prompt, std::span<const token> prefix,
                                                     const generation_options & g) {
    if (prefix.empty() || opts_.verify.mode != verify_mode::strict) {
        throw error("internal: resume_strict needs a prefix and strict verification");
    }
    return run(prompt, prefix, g, nullptr, false);
}

generation_result speculative_decoder::run(std::span<const token> prompt, std::span<const token> prefix,
                                           const generation_options & g, token_index * pool, bool insert_output) {
    check_fits_context(ctx_, prompt.size() + static_cast<size_t>(opts_.limits.max_nodes), g.max_tokens);
    const model & m = ctx_.get_model();
    generation_result r;
    r.stats.prompt_tokens = static_cast<int32_t>(prompt.size());
    r.tokens.reserve(g.max_tokens + opts_.limits.max_depth + 1);
    verifier_.reseed(g.seed);
    if (opts_.verify.mode == verify_mode::sample) {
        // How many draws a step takes depends on the draft's size, which the
        // acceptance estimate sets: starting it afresh makes a record's
        // samples depend only on its prompt, seed and pool (a resumed run
        // writes what an uninterrupted one writes). Relaxed records carry
        // it from record to record (it sizes drafts better than a fresh
        // prior: fewer off-argmax acceptances); a run stores it with each
        // record and a resumed run restores it (restore_estimate).
        tracker_ = acceptance_tracker{};
    }
    token_picker first_picker(opts_.verify.mode == verify_mode::sample ? opts_.verify.temperature : 0.0f, g.seed ^ 0x5bd1e995u);

    // Prompt lookup drafts from this record alone; with a pool, the record's
    // own index is merged in when self_draft is set.
    std::unique_ptr<token_index> own;
    token_index * idx = pool;
    if (!idx || opts_.self_draft) {
        own = make_index(index_kind::suffix);
    }
    if (!idx) {
        idx = own.get();
    }
    token_index * self = own && own.get() != idx ? own.get() : nullptr;
    const auto t0 = clock_type::now();
    const double d0 = ctx_.decode_seconds();
    auto tr = clock_type::now();
    if (pool) {
        pool->insert(prompt, token_source::prompt);
    }
    if (own) {
        own->insert(prompt, token_source::prompt);
        own->begin_sequence(token_source::output);
        for (size_t k = 0; k + 1 < prefix.size(); ++k) {  // the last one is appended by the first step
            own->append(prefix[k]);
        }
    }
    r.stats.retrieval_seconds += seconds_since(tr);
    logit_processor * proc = processor_for(processor_, m, g.repetition);
    if (proc) {
        proc->begin(prompt);
        for (token t : prefix) {
            proc->accept(t);
        }
    }
    const bool relaxed = opts_.verify.mode == verify_mode::relaxed;
    if (relaxed) {
        copies_.build(prompt);
    }
    verify_context vc;
    vc.processor = proc;
    vc.copies = relaxed ? &copies_ : nullptr;
    vc.is_eog = [&m](token t) { return m.is_eog(t); };

    if (!prefix.empty()) {
        // Sequence 0 keeps the prompt and the prefix but its last token,
        // which the first step decodes with the tree.
        ctx_.seq_rm(0, static_cast<pos_t>(prompt.size() + prefix.size() - 1), -1);
        r.tokens.assign(prefix.begin(), prefix.end());
        if (g.record_gaps) {
            r.gaps.assign(prefix.size(), 0.0f);  // not measured here
        }
    } else {
        size_t reused = 0;
        const int32_t row = prefill(ctx_, batch_, prompt, 0, &reused);
        r.stats.prompt_tokens_reused = static_cast<int32_t>(reused);
        r.stats.prefill_seconds = seconds_since(t0);
        r.stats.forward_passes = 1;
        const auto lg = proc ? proc->apply(ctx_.logits(row)) : ctx_.logits(row);
        const token t = first_picker.pick(lg);
        if (g.record_gaps) {
            r.gaps.push_back(top2_gap(lg));
        }
        if (proc) {
            proc->accept(t);
        }
        r.tokens.push_back(t);
    }
    context_.assign(prompt.begin(), prompt.end());
    context_.insert(context_.end(), r.tokens.begin(), r.tokens.end());
    kv_len_ = context_.size() - 1;

    while (!m.is_eog(r.tokens.back()) && static_cast<int32_t>(r.tokens.size()) < g.max_tokens) {
        throw_if_stopped();
        const token last = r.tokens.back();
        const size_t step_start = r.tokens.size();  // tokens emitted before this step
        const pos_t P = static_cast<pos_t>(context_.size() - 1);  // position of `last`, not yet in the KV cache
        const pos_t first_pending = static_cast<pos_t>(kv_len_);  // context_[kv_len_ .. P] are not in the KV cache
        if (own) {  // the record's output streams into its own index; the pool gets it at the end
            own->append(last);
        }

        // Draft, never past max_tokens (the step also yields one target token).
        tr = clock_type::now();
        draft_limits lim = opts_.limits;
        lim.max_depth = std::min(lim.max_depth, g.max_tokens - static_cast<int32_t>(r.tokens.size()) - 1);
        double predicted = 0;
        if (lim.max_depth > 0 && lim.max_nodes > 0) {
            if (self) {
                self->draft(context_, lim, own_tree_);
                idx->draft(context_, lim, pool_tree_);
                merger_.merge(own_tree_, pool_tree_, lim.max_nodes, tree_);
            } else {
                idx->draft(context_, lim, tree_);
            }
            if (proc) {
                // A draft token the repetition rules ban can never be accepted: drop it
                // (and what hangs below it) before the budget spends rows on it.
                tree_.remove_subtrees(
                    [&](int32_t i, std::span<const token> path) { return proc->bans(path, tree_.nodes[i].tok); });
            }
            if (!opts_.cost.empty()) {
                const int32_t rows = static_cast<int32_t>(P - first_pending) + 1;
                const int32_t keep = choose_draft_size(tree_, tree_.root_score, tracker_.alpha(), opts_.cost, rows, &predicted);
                tree_.nodes.resize(static_cast<size_t>(keep));  // best-first order: any prefix is a tree
            }
            tree_.order_depth_first();
        } else {
            tree_.clear();
        }
        r.stats.retrieval_seconds += seconds_since(tr);
        const auto tv = clock_type::now();

        // Leaves get sequence ids 1..L; every node is tagged with the leaves below it.
        const int32_t n = tree_.size();
        if (static_cast<int32_t>(node_seqs_.size()) < n) {
            node_seqs_.resize(n);
        }
        leaf_of_node_.assign(n, 1);  // 1 = is a leaf (until a child says otherwise)
        for (int32_t i = 0; i < n; ++i) {
            node_seqs_[i].clear();
            if (tree_.nodes[i].parent >= 0) {
                leaf_of_node_[tree_.nodes[i].parent] = 0;
            }
        }
        root_seqs_.assign(1, 0);
        seq_id next_seq = 1;
        for (int32_t i = 0; i < n; ++i) {
            if (!leaf_of_node_[i]) {
                continue;
            }
            const seq_id s = next_seq++;
            root_seqs_.push_back(s);
            for (int32_t v = i; v >= 0; v = tree_.nodes[v].parent) {
                node_seqs_[v].push_back(s);
            }
            ctx_.seq_cp(0, s, -1, -1);
        }
        batch_.clear();
        for (pos_t q = first_pending; q < P; ++q) {
            batch_.add(context_[q], q, root_seqs_, false);
        }
        const int32_t root_row = batch_.add(last, P, root_seqs_, true);
        for (int32_t i = 0; i < n; ++i) {
            batch_.add(tree_.nodes[i].tok, P + tree_.nodes[i].depth, node_seqs_[i], true);
        }
        ctx_.decode(batch_);
        ++r.stats.forward_passes;
        r.stats.draft_tokens += n;

        vc.context = context_;
        verifier_.verify(tree_, [this, root_row](int32_t rw) { return ctx_.logits(root_row + rw); }, vr_, vc);
        if (relaxed && vr_.off_argmax > 0 && r.strict_prefix < 0) {
            r.strict_prefix = static_cast<int32_t>(step_start);
        }
        r.stats.off_argmax += vr_.off_argmax;
        r.stats.off_argmax_copies += vr_.off_argmax_copies;
        r.stats.off_argmax_eog += vr_.off_argmax_eog;
        r.stats.refused += vr_.refused;

        // KV: keep the accepted path in sequence 0 when it is the tree's first
        // depth-first path (its cells then follow the context in order, as
        // plain decoding would place them), drop every leaf sequence. Under
        // strict or sampling verification another path is decoded again with
        // the next step's batch instead: scattered cells change the order of
        // the attention sums, and that rounding difference is enough to flip
        // later greedy choices. Relaxed verification does the same until it
        // first accepts a token off the argmax: up to there its text is
        // exactly strict's (same layout, same rules), which lets the health
        // guard keep a record that never left the argmax without generating
        // it again. After that it keeps any accepted path's cells.
        const int32_t n_acc = static_cast<int32_t>(vr_.accepted.size());
        if (n > 0) {
            tracker_.update(predicted, n_acc);
        } else {
            tracker_.idle();
        }
        bool first_path = true;
        for (int32_t k = 0; k < n_acc; ++k) {
            first_path = first_path && vr_.accepted[k] == k;
        }
        kv_len_ = static_cast<size_t>(P) + 1;
        const bool departed = opts_.verify.mode == verify_mode::relaxed && r.stats.off_argmax > 0;
        const bool keep_path = n_acc > 0 && (first_path || departed);
        if (keep_path) {
            const seq_id path_seq = node_seqs_[vr_.accepted.back()].front();
            ctx_.seq_cp(path_seq, 0, P + 1, P + 1 + n_acc);
            kv_len_ += static_cast<size_t>(n_acc);
        } else {
            r.stats.redecoded_tokens += n_acc;
        }
        for (seq_id s = 1; s < next_seq; ++s) {
            ctx_.seq_rm(s, -1, -1);
        }
        r.stats.verify_seconds += seconds_since(tv);

        // Emit the accepted tokens, then the target's own, stopping at EOG.
        bool stop = false;
        auto emit = [&](token t, float gap) {
            if (stop || static_cast<int32_t>(r.tokens.size()) >= g.max_tokens) {
                stop = true;
                return false;
            }
            r.tokens.push_back(t);
            if (g.record_gaps) {
                r.gaps.push_back(gap);
            }
            stop = m.is_eog(t);
            return true;
        };
        int32_t emitted = 0;
        for (int32_t k = 0; k < n_acc; ++k) {
            emitted += emit(tree_.nodes[vr_.accepted[k]].tok, vr_.gaps.empty() ? 0.0f : vr_.gaps[k]);
        }
        r.stats.accepted_tokens += emitted;
        if (keep_path && emitted < n_acc) {
            // The text ended inside the path (EOG or max_tokens): the cache
            // keeps only the cells of what was emitted.
            kv_len_ = static_cast<size_t>(P) + 1 + static_cast<size_t>(emitted);
            ctx_.seq_rm(0, static_cast<pos_t>(kv_len_), -1);
        }
        emit(vr_.next, vr_.gaps.empty() ? 0.0f : vr_.gaps.back());
        tr = clock_type::now();
        for (size_t k = context_.size() - prompt.size(); k < r.tokens.size(); ++k) {
            context_.push_back(r.tokens[k]);
            if (k + 1 < r.tokens.size() && own) {
                own->append(r.tokens[k]);
            }
        }
        r.stats.retrieval_seconds += seconds_since(tr);
        if (stop) {
            break;
        }
    }
    if (relaxed && r.strict_prefix < 0) {
        r.strict_prefix = static_cast<int32_t>(r.tokens.size());
    }
    // The last token is in the pool too, unless it ends the text.
    r.stats.seconds = seconds_since(t0);
    r.stats.decode_seconds = ctx_.decode_seconds() - d0;
    finish_result(m, r);
    if (pool && insert_output) {
        tr = clock_type::now();
        pool->insert(r.output_tokens(), token_source::output);
        r.stats.retrieval_seconds += seconds_since(tr);
    }
    return r;
}

}  // namespace dare
