// Continuous batching with cost-sized per-record draft chains.
#include "dare/batched.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include "dare/error.h"
#include "dare/signals.h"

namespace dare {

namespace {
using clock_type = std::chrono::steady_clock;
double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// The best path of a best-first tree, as a chain (node j's parent is j - 1).
void best_chain(const draft_tree & tree, int32_t max_depth, draft_tree & chain) {
    chain.clear();
    chain.root_score = tree.root_score;
    int32_t cur = -1;
    while (chain.size() < max_depth) {
        int32_t best = -1;
        for (int32_t i = 0; i < tree.size(); ++i) {
            if (tree.nodes[i].parent == cur && (best < 0 || tree.nodes[i].score > tree.nodes[best].score)) {
                best = i;
            }
        }
        if (best < 0) {
            break;
        }
        draft_node n = tree.nodes[best];
        n.parent = chain.size() - 1;
        n.depth = chain.size() + 1;
        chain.nodes.push_back(n);
        cur = best;
    }
}

struct candidate {
    double p;
    int32_t slot;
    int32_t j;
};

// Step time as a line in the batch's rows, fitted online (least squares with
// exponential forgetting) from the decode-only steps of this run. The
// calibrated curve is measured on one sequence; in a batch every row also
// attends over the other records' KV cells, so a row costs more than the
// curve says and the real marginal cost has to come from the batch itself.
// Records starting and finishing (and drafts) spread the rows for a slope;
// once every slot is busy and nothing is drafted, all steps have the same
// rows and the spread is forgotten, so the last line the data supported
// stays in use (without it, B = 32 on users fell back to the curve there
// and drafted again: 31 steps of drafts, 25% accepted).
class step_cost_fit {
  public:
    void add(double rows, double ms) {
        constexpr double f = 0.97;
        w_ = f * w_ + 1;
        r_ = f * r_ + rows;
        t_ = f * t_ + ms;
        rr_ = f * rr_ + rows * rows;
        rt_ = f * rt_ + rows * ms;
        ++n_;
        max_rows_ = std::max(max_rows_, static_cast<int32_t>(rows));
        const double var = rr_ / w_ - (r_ / w_) * (r_ / w_);
        if (n_ >= 8 && var >= 1.0) {
            const double b = (rt_ / w_ - (r_ / w_) * (t_ / w_)) / var;
            const double a = t_ / w_ - b * r_ / w_;
            if (b > 0) {  // a negative intercept: rows cost in proportion, no fixed part
                a_ = std::max(0.0, a);
                b_ = b;
            }
        }
    }
    // Intercept and slope, once the steps have supported a line.
    bool line(double & a, double & b) const {
        a = a_;
        b = b_;
        return b_ > 0;
    }
    // The most rows a step may have for the line to be trusted: a quarter
    // (at least 4) beyond the largest step it was fitted on. Beyond that
    // it is extrapolation: fitted on 13-16 rows at B = 16 on users, it
    // priced a step of 115 rows at a fraction of its 1.9 s.
    int32_t trusted_rows() const { return max_rows_ + std::max<int32_t>(4, max_rows_ / 4); }

  private:
    double w_ = 0, r_ = 0, t_ = 0, rr_ = 0, rt_ = 0;
    double a_ = 0, b_ = 0;
    int32_t max_rows_ = 0;
    int64_t n_ = 0;
};
// How often a draft node with a given estimate (min(1, score / root score))
// is accepted in this run, by tenths of the estimate. A chain node counts as
// accepted when verification kept it. The raw estimate is a pool frequency,
// not a probability the model agrees, so each bucket starts from a prior
// worth a few observations and follows what happens.
class acceptance_calibration {
  public:
    double p(double raw) const {
        const size_t k = bucket(raw);
        return (acc_[k] + kPrior * mid(k)) / (n_[k] + kPrior);
    }
    void observe(double raw, bool accepted) {
        const size_t k = bucket(raw);
        n_[k] += 1;
        acc_[k] += accepted;
    }

  private:
    static constexpr double kPrior = 4.0;
    static size_t bucket(double raw) { return std::min<size_t>(9, static_cast<size_t>(std::max(0.0, raw) * 10)); }
    // A bucket starts at half its midpoint: pool estimates run high, and on a
    // CPU a batch of several records is already compute-bound, so a draft row
    // costs nearly what a record's own row yields. Starting at the midpoint
    // instead (so every bucket gets tried) was measured to lose: at B = 4 the
    // drafts' 55% acceptance bought 1.31 tokens per record-step for 45% more
    // rows, 0.89x of plain batching (docs/benchmarks.md). Drafting thus starts
    // where it is clearly cheap and spreads only as acceptance proves out.
    static double mid(size_t k) { return (static_cast<double>(k) + 0.5) / 20; }
    std::array<double, 10> n_{}, acc_{};
};
}  // namespace

void draft_gate::record_step(double tokens, double seconds) {
    constexpr double f = 0.99;
    tokens_[mode_] = f * tokens_[mode_] + tokens;
    seconds_[mode_] = f * seconds_[mode_] + seconds;
    if (++in_block_ < block_) {
        return;
    }
    in_block_ = 0;
    ++blocks_[mode_];
    if (blocks_[0] < 2 || blocks_[1] < 2) {
        mode_ = 1 - mode_;
        return;
    }
    const int best = rate(true) >= rate(false) ? 1 : 0;
    if (mode_ == best && ++since_explore_ >= explore_every_) {
        since_explore_ = 0;
        mode_ = 1 - best;
    } else {
        mode_ = best;
    }
}

double draft_gate::rate(bool with_drafts) const {
    const int m = with_drafts ? 1 : 0;
    return seconds_[m] > 0 ? tokens_[m] / seconds_[m] : 0.0;
}

size_t drafts_worth_keeping(std::span<const double> p, int32_t decode_rows, int32_t base_rows, int32_t max_rows,
                            const std::function<double(int32_t)> & cost) {
    if (decode_rows < 1 || base_rows >= max_rows) {
        return 0;
    }
    p = p.first(std::min(p.size(), static_cast<size_t>(max_rows - base_rows)));
    const double token_value = cost(decode_rows) / decode_rows;
    const double base_cost = cost(base_rows);
    double sum = 0, best = 0;
    size_t kept = 0;
    for (size_t k = 0; k < p.size(); ++k) {
        sum += p[k];
        const double saving = sum * token_value - (cost(base_rows + static_cast<int32_t>(k) + 1) - base_cost);
        if (saving > best) {
            best = saving;
            kept = k + 1;
        }
    }
    return kept;
}

struct batched_decoder::slot {
    bool active = false;
    size_t record = 0;
    token_index * pool = nullptr;
    std::unique_ptr<token_index> own;  // this record's prompt and output
    std::vector<token> context;        // prompt + emitted tokens
    size_t prompt_len = 0;
    size_t kv_len = 0;                 // tokens of context in the KV cache
    size_t head = 0;                   // the prompt's opening (model::prompt_head_in)
    bool started = false;              // prompt decoded, first token emitted
    generation_result r;
    clock_type::time_point t0;
    draft_tree own_tree, pool_tree, tree, chain;
    std::vector<double> raw;           // per chain node: min(1, score / root_score)
    std::unique_ptr<logit_processor> processor;  // this record's repetition rules (null when none)
    logit_processor * proc = nullptr;
    prompt_copies copies;              // relaxed verification's copy guard
    int32_t keep = 0;
    int32_t chunk = 0;                 // prompt rows in this step (records not yet started): a whole chunk or 0
    int32_t root_row = 0;
};

void write_batched_step(std::ostream & out, const batched_step & st) {
    out << st.prefill_rows << '\t' << st.decode_rows << '\t' << st.draft_rows << '\t' << st.tokens << '\t'
        << 1e3 * st.seconds << '\t' << st.gate_drafting;
}

void set_batched_context(context_options & co, int32_t parallel, uint32_t cells_per_record) {
    if (parallel < 1) {
        throw error("--parallel must be at least 1");
    }
    co.n_seq_max = static_cast<uint32_t>(parallel);
    co.kv_unified = co.layout != kv_layout::batch_invariant;
    co.n_ctx = static_cast<uint32_t>(parallel) * cells_per_record;
}

batched_decoder::batched_decoder(context & ctx, const batched_options & o) : ctx_(ctx), opts_(o) {
    if (o.parallel < 1) {
        throw error("--parallel must be at least 1");
    }
    if (ctx.n_seq_max() < static_cast<uint32_t>(o.parallel)) {
        throw error("internal: context has " + std::to_string(ctx.n_seq_max()) + " sequences, --parallel " +
                    std::to_string(o.parallel) + " needs as many");
    }
    if (o.spec.verify.mode == verify_mode::sample) {
        throw error("--parallel > 1 supports --verify strict and relaxed (greedy), not sample");
    }
}

batched_totals batched_decoder::run(size_t n_records, const std::function<batched_record(size_t)> & record,
                                    const generation_options & g,
                                    const std::function<void(size_t, generation_result &&)> & on_done) {
    const model & m = ctx_.get_model();
    // An empty cache with its search head at cell 0: llama.cpp places new
    // cells from the head on and attends up to the highest used cell, so a
    // context left from an earlier run would make every step of this one
    // attend over its whole length (measured: ~5% of throughput at B = 32).
    ctx_.clear();
    std::vector<slot> slots(static_cast<size_t>(opts_.parallel));
    verifier ver(opts_.spec.verify);
    verify_result vr;
    draft_merger merger;
    batch b, bp;  // the step's decode rows; one prompt chunk
    std::vector<candidate> cands;
    std::vector<double> probs;
    step_cost_fit fit;
    acceptance_calibration calib;
    draft_gate gate;
    batched_totals tot;
    const auto t_run = clock_type::now();
    size_t next = 0;
    const draft_limits lim0 = opts_.spec.limits;
    const bool relaxed = opts_.spec.verify.mode == verify_mode::relaxed;
    const bool shared_cache = ctx_.n_ctx_seq() >= ctx_.n_ctx();
    verify_context vc;
    vc.is_eog = [&m](token t) { return m.is_eog(t); };

    while (true) {
        throw_if_stopped();
        // Admit records into idle slots.
        for (size_t s = 0; s < slots.size(); ++s) {
            slot & sl = slots[s];
            if (sl.active || next >= n_records) {
                continue;
            }
            const batched_record rec = record(next);
            // Room for the record's prompt, output and draft: in its own KV
            // stream, or in the shared cache next to every active record's.
            size_t need = rec.prompt.size() + static_cast<size_t>(g.max_tokens + lim0.max_depth) + 1;
            if (shared_cache) {
                for (const slot & o : slots) {
                    if (o.active) {
                        need += o.prompt_len + static_cast<size_t>(g.max_tokens + lim0.max_depth) + 1;
                    }
                }
            }
            const uint32_t room = shared_cache ? ctx_.n_ctx() : ctx_.n_ctx_seq();
            if (need > room) {
                throw error("context too small for --parallel " + std::to_string(opts_.parallel) + ": " +
                            std::to_string(need) + " KV cells needed, " +
                            (shared_cache ? "the batch context has " : "each slot has ") + std::to_string(room) +
                            " (--ctx per record)");
            }
            // In a KV stream of its own, the slot keeps the cells of the
            // whole prompt chunks (prompt_chunk_end) this prompt shares with
            // the slot's last record (context::begin_prompt; its opening,
            // model::prompt_head_in, is a chunk of its own), and the rest of
            // the prompt is cut as a fresh prefill cuts it.
            const size_t head = m.prompt_head_in(rec.prompt);
            const size_t reuse = shared_cache ? 0 : ctx_.begin_prompt(static_cast<seq_id>(s), rec.prompt, head);
            sl.active = true;
            sl.started = false;
            sl.record = next++;
            sl.pool = rec.pool;
            sl.context.assign(rec.prompt.begin(), rec.prompt.end());
            sl.prompt_len = rec.prompt.size();
            sl.kv_len = reuse;
            sl.r = generation_result{};
            sl.r.stats.prompt_tokens = static_cast<int32_t>(rec.prompt.size());
            sl.t0 = clock_type::now();
            sl.proc = processor_for(sl.processor, m, g.repetition);
            if (sl.proc) {
                sl.proc->begin(rec.prompt);
            }
            if (relaxed) {
                sl.copies.build(rec.prompt);
            }
            if (shared_cache) {
                ctx_.seq_rm(static_cast<seq_id>(s), 0, -1);
            }
            sl.head = head;
            sl.r.stats.prompt_tokens_reused = static_cast<int32_t>(reuse);
            if (opts_.speculate) {
                const auto tr = clock_type::now();
                sl.own = make_index(index_kind::suffix);
                sl.own->insert(rec.prompt, token_source::prompt);
                sl.own->begin_sequence(token_source::output);
                if (sl.pool) {
                    sl.pool->insert(rec.prompt, token_source::prompt);
                }
                sl.r.stats.retrieval_seconds += seconds_between(tr, clock_type::now());
            }
        }

        // No record left to take a finished record's slot: the highest
        // active slot's record moves into the lowest idle slot (its KV stream
        // copied whole, bit for bit), so that the active slots stay a run of
        // consecutive sequence ids and a step stays one pass (below).
        if (!shared_cache && next >= n_records) {
            size_t lo = 0, hi = slots.size();
            while (true) {
                while (lo < slots.size() && slots[lo].active) {
                    ++lo;
                }
                while (hi > 0 && !slots[hi - 1].active) {
                    --hi;
                }
                if (lo >= hi) {
                    break;
                }
                ctx_.seq_cp(static_cast<seq_id>(hi - 1), static_cast<seq_id>(lo));
                ctx_.seq_rm(static_cast<seq_id>(hi - 1), 0, -1);
                std::swap(slots[lo], slots[hi - 1]);
                slots[hi - 1].kv_len = 0;
                ++tot.slot_moves;
            }
        }

        // Draft chains and their estimates. Rows that come anyway: one per
        // started record (its last token), then prompt rows of new records up
        // to the batch's row limit (a long prompt is spread over steps).
        const int32_t row_limit = static_cast<int32_t>(ctx_.n_batch());
        int32_t decode_rows = 0, active = 0;
        cands.clear();
        for (size_t s = 0; s < slots.size(); ++s) {
            slot & sl = slots[s];
            if (!sl.active) {
                continue;
            }
            ++active;
            sl.keep = 0;
            sl.chain.clear();
            if (!sl.started) {
                continue;
            }
            ++decode_rows;
            const int32_t room = g.max_tokens - static_cast<int32_t>(sl.r.tokens.size()) - 1;
            if (!opts_.speculate || room <= 0 || lim0.max_nodes <= 0 || lim0.max_depth <= 0) {
                continue;
            }
            const auto tr = clock_type::now();
            draft_limits lim = lim0;
            lim.max_depth = std::min(lim.max_depth, room);
            if (sl.pool && opts_.spec.self_draft) {
                sl.own->draft(sl.context, lim, sl.own_tree);
                sl.pool->draft(sl.context, lim, sl.pool_tree);
                merger.merge(sl.own_tree, sl.pool_tree, lim.max_nodes, sl.tree);
            } else {
                (sl.pool ? sl.pool : sl.own.get())->draft(sl.context, lim, sl.tree);
            }
            best_chain(sl.tree, lim.max_depth, sl.chain);
            if (sl.proc) {  // banned draft tokens can never be accepted
                sl.chain.remove_subtrees(
                    [&](int32_t j, std::span<const token> path) { return sl.proc->bans(path, sl.chain.nodes[j].tok); });
            }
            sl.raw.clear();
            double prev = 1.0;
            for (int32_t j = 0; j < sl.chain.size(); ++j) {
                const double x = sl.chain.root_score > 0
                                     ? std::min(1.0, static_cast<double>(sl.chain.nodes[j].score) / sl.chain.root_score)
                                     : 0.0;
                sl.raw.push_back(x);
                prev = std::min(prev, calib.p(x));  // a path is never likelier than its prefix
                cands.push_back({prev, static_cast<int32_t>(s), j});
            }
            sl.r.stats.retrieval_seconds += seconds_between(tr, clock_type::now());
        }
        if (active == 0) {
            break;
        }
        // Prompt chunks of records not started, slot by slot, while the
        // step's rows stay within the row limit (at least one chunk a step).
        // A chunk is whole (prompt_chunk_end): every engine cuts a prompt the
        // same way.
        int32_t prefill_rows = 0;
        for (size_t s = 0; s < slots.size(); ++s) {
            slot & sl = slots[s];
            sl.chunk = 0;
            if (!sl.active || sl.started) {
                continue;
            }
            const auto n = static_cast<int32_t>(prompt_chunk_end(sl.head, sl.kv_len, sl.context.size()) - sl.kv_len);
            if (prefill_rows == 0 || decode_rows + prefill_rows + n <= row_limit) {
                sl.chunk = n;
                prefill_rows += n;
            }
        }
        const int32_t base_rows = decode_rows;  // prompt chunks are decodes of their own

        // Keep the prefix of all candidates, best first, with the largest
        // expected saving (drafts_worth_keeping); no cost curve: everything
        // within the row limit. While the gate has measured drafting to be
        // slower, nothing.
        std::sort(cands.begin(), cands.end(), [](const candidate & a, const candidate & c) {
            if (a.p != c.p) return a.p > c.p;
            if (a.slot != c.slot) return a.slot < c.slot;
            return a.j < c.j;
        });
        size_t kept = std::min(cands.size(), static_cast<size_t>(std::max(0, row_limit - base_rows)));
        if (!opts_.spec.cost.empty() && kept > 0) {
            // One record: the calibrated curve is its cost. Several: their
            // own line once the steps support one, nothing drafted before
            // (the one-sequence curve calls a row in a shared cache cheap:
            // at B = 32 on users its first 4 steps drafted 549 tokens, 100
            // accepted, at 28 tokens/s against 58 for plain steps).
            double fa = 0, fb = 0;
            const bool fitted = fit.line(fa, fb);
            probs.clear();
            for (size_t k = 0; k < kept; ++k) {
                probs.push_back(cands[k].p);
            }
            if (slots.size() == 1) {
                kept = drafts_worth_keeping(probs, decode_rows, base_rows, row_limit,
                                            [this](int32_t rows) { return opts_.spec.cost.relative(rows); });
            } else {
                kept = fitted ? drafts_worth_keeping(probs, decode_rows, base_rows, fit.trusted_rows(),
                                                     [fa, fb](int32_t rows) { return fa + fb * rows; })
                              : 0;
            }
        }
        if (!gate.drafting()) {
            kept = 0;
        }
        for (size_t k = 0; k < kept; ++k) {
            slot & sl = slots[static_cast<size_t>(cands[k].slot)];
            sl.keep = std::max(sl.keep, cands[k].j + 1);
        }

        // The decode rows in one batch, slot by slot: a started record's
        // last token and kept chain. Over per-record KV streams llama.cpp
        // splits a batch into passes that each take a run of consecutive
        // sequence ids, in the order they first appear, the same number of
        // rows from each: in slot order (and with the active slots
        // contiguous, above) a step of single rows is one pass.
        b.clear();
        for (size_t s = 0; s < slots.size(); ++s) {
            slot & sl = slots[s];
            if (!sl.active || !sl.started) {
                continue;
            }
            const seq_id sq = static_cast<seq_id>(s);
            const size_t last = sl.context.size() - 1;
            sl.root_row = b.add(sl.context[last], static_cast<pos_t>(last), sq, true);
            sl.chain.nodes.resize(static_cast<size_t>(sl.keep));
            for (int32_t j = 0; j < sl.keep; ++j) {
                b.add(sl.chain.nodes[j].tok, static_cast<pos_t>(last) + 1 + j, sq, true);
            }
            tot.draft_tokens += sl.keep;
        }

        // A record's tokens of this step: the accepted chain nodes, then the
        // next token; its cells past them dropped; the record finished at
        // end of generation or --max-tokens.
        int64_t step_tokens = 0;
        auto advance = [&](size_t s, int32_t n_acc, token next_tok, float next_gap) {
            slot & sl = slots[s];
            const size_t last = sl.context.size() - 1;
            // A chain's accepted prefix sits in order right after `last`.
            sl.kv_len = last + 1 + static_cast<size_t>(n_acc);
            ctx_.seq_rm(static_cast<seq_id>(s), static_cast<pos_t>(sl.kv_len), -1);
            bool stop = false;
            auto emit = [&](token t, float gap) {
                if (stop || static_cast<int32_t>(sl.r.tokens.size()) >= g.max_tokens) {
                    stop = true;
                    return false;
                }
                sl.r.tokens.push_back(t);
                sl.context.push_back(t);
                if (g.record_gaps) {
                    sl.r.gaps.push_back(gap);
                }
                if (sl.own) {
                    sl.own->append(t);
                }
                stop = m.is_eog(t);
                return true;
            };
            for (int32_t k = 0; k < n_acc; ++k) {
                const bool ok = emit(sl.chain.nodes[vr.accepted[k]].tok, vr.gaps.empty() ? 0.0f : vr.gaps[k]);
                sl.r.stats.accepted_tokens += ok;
                tot.accepted_tokens += ok;
                step_tokens += ok;
            }
            step_tokens += emit(next_tok, next_gap);
            if (stop || static_cast<int32_t>(sl.r.tokens.size()) >= g.max_tokens) {
                // KV cells past the emitted tokens are not needed; the slot is reused.
                sl.r.stats.seconds = seconds_between(sl.t0, clock_type::now());
                finish_result(m, sl.r);
                if (sl.pool && opts_.speculate && opts_.insert_output) {
                    const auto tr = clock_type::now();
                    sl.pool->insert(sl.r.output_tokens(), token_source::output);
                    sl.r.stats.retrieval_seconds += seconds_between(tr, clock_type::now());
                }
                tot.tokens += sl.r.stats.tokens;
                tot.retrieval_seconds += sl.r.stats.retrieval_seconds;
                sl.active = false;
                on_done(sl.record, std::move(sl.r));
            }
        };

        // Decode, verify each record's part, emit.
        double step_s = 0;
        if (!b.empty()) {
            const auto t_step = clock_type::now();
            ctx_.decode(b);
            const double decode_s = seconds_between(t_step, clock_type::now());
            step_s += decode_s;
            fit.add(b.size(), 1e3 * decode_s);
            for (size_t s = 0; s < slots.size(); ++s) {
                slot & sl = slots[s];
                if (!sl.active || !sl.started) {
                    continue;
                }
                ++sl.r.stats.forward_passes;
                int32_t n_acc = 0;
                token next_tok;
                float next_gap = 0;
                if (sl.keep == 0) {
                    // Nothing drafted: the plain step (no softmax, no tree walk).
                    const auto lg = sl.proc ? sl.proc->apply(ctx_.logits(sl.root_row)) : ctx_.logits(sl.root_row);
                    next_tok = argmax(lg);
                    next_gap = g.record_gaps ? top2_gap(lg) : 0.0f;
                    if (sl.proc) {
                        sl.proc->accept(next_tok);
                    }
                } else {
                    const int32_t root = sl.root_row;
                    vc.processor = sl.proc;
                    vc.context = sl.context;
                    vc.copies = relaxed ? &sl.copies : nullptr;
                    ver.verify(sl.chain, [this, root](int32_t rw) { return ctx_.logits(root + rw); }, vr, vc);
                    sl.r.stats.off_argmax += vr.off_argmax;
                    sl.r.stats.off_argmax_copies += vr.off_argmax_copies;
                    sl.r.stats.off_argmax_eog += vr.off_argmax_eog;
                    sl.r.stats.refused += vr.refused;
                    n_acc = static_cast<int32_t>(vr.accepted.size());
                    next_tok = vr.next;
                    next_gap = vr.gaps.empty() ? 0.0f : vr.gaps.back();
                    for (int32_t j = 0; j < sl.keep; ++j) {
                        calib.observe(sl.raw[static_cast<size_t>(j)], j < n_acc);
                    }
                    sl.r.stats.draft_tokens += sl.keep;
                }
                advance(s, n_acc, next_tok, next_gap);
            }
        }

        // The planned prompt chunks, each a decode of its own
        // (context::decode_prompt); a prompt's last row gives its first token.
        for (size_t s = 0; s < slots.size(); ++s) {
            slot & sl = slots[s];
            if (!sl.active || sl.started || sl.chunk == 0) {
                continue;
            }
            const seq_id sq = static_cast<seq_id>(s);
            bp.clear();
            for (int32_t k = 0; k < sl.chunk; ++k) {
                const size_t q = sl.kv_len + static_cast<size_t>(k);
                bp.add(sl.context[q], static_cast<pos_t>(q), sq, q + 1 == sl.context.size());
            }
            const auto t_chunk = clock_type::now();
            ctx_.decode_prompt(bp);
            step_s += seconds_between(t_chunk, clock_type::now());
            sl.kv_len += static_cast<size_t>(sl.chunk);
            if (sl.kv_len < sl.context.size()) {
                continue;  // the rest comes in later steps
            }
            ++sl.r.stats.forward_passes;
            const auto lg = sl.proc ? sl.proc->apply(ctx_.logits(bp.size() - 1)) : ctx_.logits(bp.size() - 1);
            const token first = argmax(lg);
            if (sl.proc) {
                sl.proc->accept(first);
            }
            sl.started = true;
            sl.r.stats.prefill_seconds = seconds_between(sl.t0, clock_type::now());
            advance(s, 0, first, g.record_gaps ? top2_gap(lg) : 0.0f);
        }
        tot.decode_seconds += step_s;
        ++tot.steps;
        tot.rows += b.size() + prefill_rows;
        if (opts_.on_step) {
            opts_.on_step({prefill_rows, decode_rows, static_cast<int32_t>(b.size()) - decode_rows,
                           static_cast<int32_t>(step_tokens), step_s, gate.drafting()});
        }
        if (opts_.speculate && prefill_rows == 0) {
            gate.record_step(static_cast<double>(step_tokens), step_s);
        }
    }
    tot.seconds = seconds_between(t_run, clock_type::now());
    return tot;
}

}  // namespace dare
