// Cost curve measurement and cost-aware draft sizing.
#include "dare/budget.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dare/error.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "util/mix.h"

namespace dare {

cost_model::cost_model(std::vector<int32_t> sizes, std::vector<double> ms) : sizes_(std::move(sizes)), ms_(std::move(ms)) {
    if (sizes_.empty() || sizes_.size() != ms_.size() || sizes_[0] != 1 ||
        !std::is_sorted(sizes_.begin(), sizes_.end()) || ms_[0] <= 0) {
        throw error("cost curve: sizes must start at 1, ascend, and match the timings");
    }
}

double cost_model::relative(int32_t n) const {
    if (sizes_.empty() || n <= 1) {
        return std::max(n, 0);
    }
    const double base = ms_[0];
    for (size_t i = 1; i < sizes_.size(); ++i) {
        if (n <= sizes_[i]) {
            const double f = static_cast<double>(n - sizes_[i - 1]) / (sizes_[i] - sizes_[i - 1]);
            return (ms_[i - 1] + f * (ms_[i] - ms_[i - 1])) / base;
        }
    }
    if (sizes_.size() == 1) {
        return n;
    }
    const size_t k = sizes_.size() - 1;
    const double slope = (ms_[k] - ms_[k - 1]) / (sizes_[k] - sizes_[k - 1]);
    return (ms_[k] + slope * (n - sizes_[k])) / base;
}

int32_t choose_parallel(const cost_model & c, int32_t max_parallel, double tolerance) {
    if (c.empty() || max_parallel <= 1) {
        return 1;
    }
    std::vector<std::pair<int32_t, double>> per_token;  // (B, cost per token relative to B = 1)
    for (int32_t b = 1; b <= max_parallel; b *= 2) {
        per_token.emplace_back(b, c.relative(b) / b);
    }
    double best = per_token.front().second;
    for (const auto & [b, cost] : per_token) {
        best = std::min(best, cost);
    }
    for (const auto & [b, cost] : per_token) {
        if (cost <= best * (1 + tolerance)) {
            return b;
        }
    }
    return 1;
}

int32_t parallel_fitting_memory(const model_info & m, uint32_t cells_per_record, uint64_t memory_bytes) {
    const uint64_t head_dim = m.n_head > 0 ? static_cast<uint64_t>(m.n_embd / m.n_head) : 0;
    const uint64_t per_cell = static_cast<uint64_t>(std::max(m.n_layer, 0)) * 2 *
                              static_cast<uint64_t>(std::max(m.n_head_kv, 0)) * head_dim * 2;  // K and V, F16
    const uint64_t per_record = per_cell * cells_per_record;
    if (per_record == 0) {
        return 1;
    }
    const uint64_t fit = memory_bytes / 4 / per_record;
    return static_cast<int32_t>(std::clamp<uint64_t>(fit, 1, 1 << 20));
}

void cost_model::save(const std::string & path, const std::string & description) const {
    nlohmann::json j = {{"description", description}, {"sizes", sizes_}, {"ms", ms_}};
    write_file_atomically(path, j.dump(2) + "\n");
}

cost_model cost_model::load(const std::string & path) {
    std::ifstream in(path);
    if (!in) {
        throw error(path + ": cannot open calibration file");
    }
    try {
        const auto j = nlohmann::json::parse(in);
        return cost_model(j.at("sizes").get<std::vector<int32_t>>(), j.at("ms").get<std::vector<double>>());
    } catch (const nlohmann::json::exception & e) {
        throw error(path + ": malformed calibration file: " + e.what());
    } catch (const error & e) {
        throw error(path + ": " + e.what());
    }
}

namespace {
double median(std::vector<double> & v) {
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    return v[v.size() / 2];
}
}  // namespace

cost_model measure_cost_curve(context & ctx, const std::vector<int32_t> & sizes, int32_t depth, int32_t reps) {
    const model & m = ctx.get_model();
    const token t = m.tokenize(" the", false, false).at(0);
    batch b;
    ctx.seq_rm(0, 0, -1);
    for (int32_t i = 0; i < depth; ++i) {
        b.add(t, i, 0, false);
    }
    ctx.decode(b);
    std::vector<double> ms;
    std::vector<double> runs;
    for (int32_t n : sizes) {
        runs.clear();
        for (int32_t r = 0; r <= reps; ++r) {
            b.clear();
            for (int32_t k = 0; k < n; ++k) {
                b.add(t, depth + k, 0, true);
            }
            const auto t0 = std::chrono::steady_clock::now();
            ctx.decode(b);
            (void)ctx.logits(b.size() - 1);
            const double el = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            ctx.seq_rm(0, depth, -1);
            if (r > 0) {  // the first run warms caches
                runs.push_back(el);
            }
        }
        // A bigger batch never costs less; a lower reading is noise from a
        // shared machine, so keep the curve non-decreasing.
        ms.push_back(std::max(median(runs), ms.empty() ? 0.0 : ms.back()));
    }
    ctx.seq_rm(0, 0, -1);
    return cost_model(sizes, ms);
}

std::vector<batch_shape_timing> measure_batch_shapes(std::span<context * const> ctxs, const std::vector<int32_t> & depths,
                                                     const std::vector<int32_t> & rows, int32_t reps) {
    if (ctxs.empty()) {
        return {};
    }
    const token t = ctxs[0]->get_model().tokenize(" the", false, false).at(0);
    const size_t nc = ctxs.size();
    batch b;
    std::vector<seq_id> root_seqs;
    std::vector<std::vector<double>> chain(nc), rebuilt(nc), tree(nc);
    std::vector<batch_shape_timing> out;
    auto timed = [&](context & ctx, int32_t clear_to) {
        const double d0 = ctx.decode_seconds();
        ctx.decode(b);
        const double ms = 1000.0 * (ctx.decode_seconds() - d0);
        ctx.seq_rm(0, clear_to, -1);
        return ms;
    };
    auto add_chain = [&](int32_t depth, int32_t n) {
        b.clear();
        for (int32_t k = 0; k < n; ++k) {
            b.add(t, depth + k, 0, true);
        }
    };
    for (const int32_t depth : depths) {
        for (context * ctx : ctxs) {
            ctx->seq_rm(0, 0, -1);
            b.clear();
            for (int32_t i = 0; i < depth; ++i) {
                b.add(t, i, 0, false);
            }
            ctx->decode(b);
        }
        for (const int32_t n : rows) {
            const int32_t branches = std::max(1, (n - 1 + 2) / 3);
            for (context * ctx : ctxs) {
                if (static_cast<uint32_t>(branches) + 1 > ctx->n_seq_max()) {
                    throw error("measure_batch_shapes: " + std::to_string(n) + " rows need " +
                                std::to_string(branches + 1) + " sequences, a context has " +
                                std::to_string(ctx->n_seq_max()));
                }
            }
            for (size_t c = 0; c < nc; ++c) {
                chain[c].clear();
                rebuilt[c].clear();
                tree[c].clear();
            }
            // Contexts take turns at every repetition, so a machine's drift
            // reaches all of them alike.
            for (int32_t r = 0; r <= reps; ++r) {
                for (size_t c = 0; c < nc; ++c) {
                    context & ctx = *ctxs[c];
                    // chain, the same shape twice in a row: the second run reuses the graph
                    add_chain(depth, n);
                    timed(ctx, depth);
                    add_chain(depth, n);
                    const double ch = timed(ctx, depth);
                    // chain after another shape
                    add_chain(depth, n + 1);
                    timed(ctx, depth);
                    add_chain(depth, n);
                    const double cr = timed(ctx, depth);
                    // tree: the root in every sequence, node j of the other n - 1 in branch j % branches
                    root_seqs.assign(1, 0);
                    for (seq_id s = 1; s <= branches; ++s) {
                        root_seqs.push_back(s);
                        ctx.seq_cp(0, s, -1, -1);
                    }
                    b.clear();
                    b.add(t, depth, root_seqs, true);
                    for (int32_t j = 0; j < n - 1; ++j) {
                        b.add(t, depth + 1 + j / branches, 1 + j % branches, true);
                    }
                    const double tr = timed(ctx, depth);
                    for (seq_id s = 1; s <= branches; ++s) {
                        ctx.seq_rm(s, -1, -1);
                    }
                    if (r > 0) {  // the first round warms caches
                        chain[c].push_back(ch);
                        rebuilt[c].push_back(cr);
                        tree[c].push_back(tr);
                    }
                }
            }
            batch_shape_timing st{depth, n, branches, {}, {}, {}};
            for (size_t c = 0; c < nc; ++c) {
                st.chain_ms.push_back(median(chain[c]));
                st.chain_rebuilt_ms.push_back(median(rebuilt[c]));
                st.tree_ms.push_back(median(tree[c]));
            }
            out.push_back(std::move(st));
        }
    }
    for (context * ctx : ctxs) {
        ctx->seq_rm(0, 0, -1);
    }
    return out;
}

std::string calibration_path(const model_info & m, int32_t n_threads, kv_layout layout) {
    char name[160];
    // One name per KV layout; bump a name when the context setup changes
    // what a batch costs. The build's CPU features are part of the name: a
    // build for other instruction sets (cmake/llama.cmake) measures anew.
    const char * tag = "plainattn";
    switch (layout) {  // no default: a new layout must get a name of its own
        case kv_layout::batch_invariant: tag = "kv4"; break;
        case kv_layout::llama_default: tag = "llamakv"; break;
        case kv_layout::plain_attention: tag = "plainattn"; break;
    }
    const std::string cpu = system_info();
    const uint64_t cpu_hash = mix::fnv1a(mix::fnv_offset, cpu.data(), cpu.size());
    std::snprintf(name, sizeof name, "cost-%s-%016llx-%llu-%08llx-t%d.json", tag,
                  static_cast<unsigned long long>(m.vocab_fingerprint),
                  static_cast<unsigned long long>(m.size_bytes),
                  static_cast<unsigned long long>(cpu_hash & 0xffffffffULL), n_threads);
    return cache_dir() + "/calibration/" + name;
}

cost_model calibrate_cost_curve(const model & m, int32_t n_threads, kv_layout layout, int32_t reps) {
    context_options co;
    co.n_ctx = 1024;
    co.n_threads = n_threads;
    co.layout = layout;
    context ctx(m, co);
    const auto c = measure_cost_curve(ctx, {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64}, 256, reps);
    c.save(calibration_path(m.info(), n_threads, layout),
           m.info().path + ", " + std::to_string(n_threads) + " threads, context depth 256, " + to_string(layout) +
               ", " + system_info());
    return c;
}

cost_model load_or_measure_cost_curve(const model & m, int32_t n_threads, bool verbose, kv_layout layout) {
    const int32_t threads = n_threads > 0 ? n_threads : static_cast<int32_t>(std::thread::hardware_concurrency());
    const std::string path = calibration_path(m.info(), threads, layout);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        return cost_model::load(path);
    }
    if (verbose) {
        std::fprintf(stderr, "measuring this machine's verification cost curve (once; cached in %s)\n", path.c_str());
    }
    return calibrate_cost_curve(m, threads, layout, 5);
}

double acceptance_tracker::alpha() const { return std::clamp(accepted / predicted, 0.05, 8.0); }

void acceptance_tracker::update(double pred, double acc) {
    // Exponential forgetting keeps the estimate current as pools grow.
    predicted = 0.98 * predicted + pred;
    accepted = 0.98 * accepted + acc;
}

void acceptance_tracker::idle() {
    predicted = 0.98 * predicted + 0.02;
    accepted = 0.98 * accepted + 0.04;
}

int32_t choose_draft_size(const draft_tree & tree, float root_score, double alpha, const cost_model & cost,
                          int32_t extra_rows, double * predicted) {
    if (tree.empty() || root_score <= 0 || cost.empty()) {
        if (predicted) {
            *predicted = 0;
        }
        return cost.empty() ? tree.size() : 0;
    }
    double best_rate = 1.0 / cost.relative(extra_rows);
    int32_t best_n = 0;
    double sum = 0, best_sum = 0;
    for (int32_t n = 1; n <= tree.size(); ++n) {
        sum += std::min(1.0, static_cast<double>(tree.nodes[n - 1].score) / root_score);
        const double rate = (1.0 + alpha * sum) / cost.relative(extra_rows + n);
        if (rate > best_rate) {
            best_rate = rate;
            best_n = n;
            best_sum = sum;
        }
    }
    if (predicted) {
        *predicted = best_sum;
    }
    return best_n;
}

}  // namespace dare
