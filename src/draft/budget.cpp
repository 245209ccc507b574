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
        std::nth_element(runs.begin(), runs.begin() + static_cast<long>(runs.size() / 2), runs.end());
        // A bigger batch never costs less; a lower reading is noise from a
        // shared machine, so keep the curve non-decreasing.
        ms.push_back(std::max(runs[runs.size() / 2], ms.empty() ? 0.0 : ms.back()));
    }
    ctx.seq_rm(0, 0, -1);
    return cost_model(sizes, ms);
}

std::string calibration_path(const model_info & m, int32_t n_threads, bool batch_invariant) {
    char name[128];
    // "kv3": measured with the batch-invariant KV layout (Q8_0 keys, F16
    // values), "llamakv": with llama.cpp's default one; bump when the
    // context setup changes what a batch costs.
    std::snprintf(name, sizeof name, "cost-%s-%016llx-%llu-t%d.json", batch_invariant ? "kv3" : "llamakv",
                  static_cast<unsigned long long>(m.vocab_fingerprint),
                  static_cast<unsigned long long>(m.size_bytes), n_threads);
    return cache_dir() + "/calibration/" + name;
}

cost_model load_or_measure_cost_curve(const model & m, int32_t n_threads, bool verbose, bool batch_invariant) {
    const int32_t threads = n_threads > 0 ? n_threads : static_cast<int32_t>(std::thread::hardware_concurrency());
    const std::string path = calibration_path(m.info(), threads, batch_invariant);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        return cost_model::load(path);
    }
    if (verbose) {
        std::fprintf(stderr, "measuring this machine's verification cost curve (once; cached in %s)\n", path.c_str());
    }
    context_options co;
    co.n_ctx = 1024;
    co.n_threads = threads;
    co.batch_invariant = batch_invariant;
    context ctx(m, co);
    const auto c = measure_cost_curve(ctx, {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64}, 256, 5);
    c.save(path, m.info().path + ", " + std::to_string(threads) + " threads, context depth 256, " +
                     (batch_invariant ? "batch-invariant KV layout" : "llama.cpp's default KV layout"));
    return c;
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
