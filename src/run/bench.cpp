// The method-comparison benchmark.
#include "dare/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "dare/batched.h"
#include "dare/error.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"
#include "dare/peers.h"
#include "dare/progress.h"

namespace dare {

namespace {

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown CPU";
}

json machine_json(int32_t threads) {
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
    return {{"cpu", cpu_name()}, {"threads", threads}, {"date", date}};
}

void write_json_file(const std::string & path, const json & j) {
    std::error_code ec;
    if (std::filesystem::path(path).has_parent_path()) {
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    }
    write_file_atomically(path, j.dump(2) + "\n");
}

// Chat-templated prompt tokens of a prompts file.
std::vector<std::vector<token>> prompt_tokens(const model & m, const std::vector<prompt_record> & prompts) {
    std::vector<std::vector<token>> toks;
    for (const auto & p : prompts) {
        toks.push_back(m.prompt_tokens(p.prompt));
    }
    return toks;
}

struct method {
    std::string name;
    std::unique_ptr<token_index> pool;  // null for vanilla and pld
    std::unique_ptr<speculative_decoder> spec;
    std::unique_ptr<llama_peer> peer;  // llama.cpp's own loops
    bool strict = false;               // must reproduce vanilla: divergences get their top-2 gap measured
    bench_method_result res;

    generation_result generate(std::span<const token> prompt, const generation_options & g) {
        return peer ? peer->generate(prompt, g) : spec->generate(prompt, g, pool.get());
    }
};

}  // namespace

std::vector<bench_method_result> run_bench(const bench_options & o) {
    const auto prompts = read_prompts_jsonl(o.prompts);
    if (static_cast<int32_t>(prompts.size()) <= o.warmup) {
        throw error(o.prompts + ": needs more prompts than --warmup (" + std::to_string(o.warmup) + ")");
    }
    const model m(o.model, model_options{.chat_template = o.chat_template});
    const int32_t threads = o.threads > 0 ? o.threads : static_cast<int32_t>(std::thread::hardware_concurrency());
    speculative_options base;
    base.limits = o.limits;
    // Every method decodes in one context on the batch-invariant layout (verify.h).
    cost_model cost;
    if (o.auto_budget) {
        cost = load_or_measure_cost_curve(m, threads, true, kv_layout::batch_invariant);
    }
    context_options co;
    co.n_ctx = o.n_ctx;
    co.n_threads = threads;
    co.n_seq_max = speculative_seq_max(o.limits);
    context ctx(m, co);
    vanilla_decoder vanilla(ctx);

    std::vector<method> methods;
    bool has_vanilla = false;
    std::vector<std::vector<token>> peer_corpus;
    if (!o.peer_corpus.empty()) {
        for (auto & r : read_corpus(m, o.peer_corpus)) {
            peer_corpus.push_back(std::move(r.text));
        }
    }
    for (const auto & name : o.methods) {
        method mt;
        mt.name = name;
        speculative_options so = base;
        if (is_llama_peer(name)) {
            mt.peer = std::make_unique<llama_peer>(m, name, threads, o.n_ctx, peer_corpus);
            mt.res.verify = "greedy";
            mt.res.method = name;
            methods.push_back(std::move(mt));
            continue;
        }
        if (name == "vanilla") {
            has_vanilla = true;
            mt.res.verify = "none";
        } else if (name == "pld" || name == "resd" || name == "dare-strict" || name == "hybrid-strict") {
            so.verify.mode = verify_mode::strict;
        } else if (name == "dare" || name == "hybrid") {
            so.verify = o.relaxed;
            so.verify.mode = verify_mode::relaxed;
        } else {
            throw error("unknown bench method '" + name +
                        "' (vanilla, pld, resd, dare, dare-strict, hybrid, hybrid-strict, llama-plain, "
                        "llama-<llama.cpp speculation type>[:KEY=VALUE...])");
        }
        so.self_draft = name == "hybrid" || name == "hybrid-strict";
        if (name != "vanilla" && name != "pld") {
            if (o.pool.empty()) {
                throw error("method " + name + " needs --pool");
            }
            mt.pool = load_pool(o.pool, m.info().vocab_fingerprint);
        }
        if (name != "vanilla") {
            mt.strict = so.verify.mode == verify_mode::strict;
            mt.res.verify = verify_mode_name(so.verify.mode);
            so.cost = cost;
            mt.spec = std::make_unique<speculative_decoder>(ctx, so);
        }
        mt.res.method = name;
        methods.push_back(std::move(mt));
    }
    if (!has_vanilla) {
        throw error("--methods must include vanilla (the baseline)");
    }

    const auto toks = prompt_tokens(m, prompts);
    for (const auto & t : toks) {
        check_fits_context(ctx, t.size() + static_cast<size_t>(o.limits.max_nodes), o.max_tokens);
    }
    generation_options g;
    g.max_tokens = o.max_tokens;
    g.record_gaps = true;
    progress prog("bench", static_cast<int64_t>(prompts.size()), 0, 30.0);
    auto & van = *std::find_if(methods.begin(), methods.end(), [](const method & mt) { return mt.name == "vanilla"; });
    std::vector<method *> others;
    for (auto & mt : methods) {
        if (mt.name != "vanilla") {
            others.push_back(&mt);
        }
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
        const bool counted = static_cast<int32_t>(i) >= o.warmup;
        // Vanilla first (the reference text), then the others in an order
        // that rotates with the prompt, so none always runs in the same slot.
        const generation_result ref = vanilla.generate(toks[i], g);
        int64_t step_tokens = ref.stats.tokens, step_passes = ref.stats.forward_passes;
        if (counted) {
            van.res.tokens += ref.stats.tokens;
            van.res.forward_passes += ref.stats.forward_passes;
            van.res.seconds += ref.stats.seconds;
            van.res.decode_seconds += ref.stats.decode_seconds;
            van.res.prefill_seconds += ref.stats.prefill_seconds;
            ++van.res.prompts;
            ++van.res.identical;
        }
        for (size_t k = 0; k < others.size(); ++k) {
            method & mt = *others[(k + i) % others.size()];
            const auto r = mt.generate(toks[i], g);
            step_tokens += r.stats.tokens;
            step_passes += r.stats.forward_passes;
            if (!counted) {
                continue;
            }
            auto & s = mt.res;
            s.tokens += r.stats.tokens;
            s.forward_passes += r.stats.forward_passes;
            s.draft_tokens += r.stats.draft_tokens;
            s.accepted_tokens += r.stats.accepted_tokens;
            s.seconds += r.stats.seconds;
            s.retrieval_seconds += r.stats.retrieval_seconds;
            s.decode_seconds += r.stats.decode_seconds;
            s.prefill_seconds += r.stats.prefill_seconds;
            ++s.prompts;
            if (r.tokens == ref.tokens) {
                ++s.identical;
            } else if (mt.strict) {
                size_t j = 0;
                while (j < r.tokens.size() && j < ref.tokens.size() && r.tokens[j] == ref.tokens[j]) {
                    ++j;
                }
                if (j < ref.gaps.size()) {
                    const float gap = std::min(ref.gaps[j], j < r.gaps.size() ? r.gaps[j] : ref.gaps[j]);
                    s.worst_divergence_gap = std::max(s.worst_divergence_gap, gap);
                }
            }
        }
        prog.record_done(step_tokens, step_passes);
    }
    prog.finish();

    std::vector<bench_method_result> out;
    for (auto & mt : methods) {
        out.push_back(mt.res);
    }
    if (!o.json_out.empty()) {
        const double van_tps = van.res.seconds > 0 ? van.res.tokens / van.res.seconds : 0;
        json j;
        j["machine"] = machine_json(threads);
        j["model"] = {{"path", m.info().path}, {"description", m.info().description}};
        j["settings"] = {{"prompts", o.prompts},       {"pool", o.pool}, {"peer_corpus", o.peer_corpus},
                         {"max_tokens", o.max_tokens}, {"warmup", o.warmup},
                         {"draft_nodes", o.limits.max_nodes}, {"draft_depth", o.limits.max_depth},
                         {"budget", o.auto_budget ? "auto" : "fixed"}, {"top_k", o.relaxed.top_k},
                         {"min_prob", o.relaxed.min_prob}};
        j["methods"] = json::array();
        for (const auto & r : out) {
            const double tps = r.seconds > 0 ? r.tokens / r.seconds : 0;
            j["methods"].push_back({{"method", r.method},
                                    {"verify", r.verify},
                                    {"tokens", r.tokens},
                                    {"forward_passes", r.forward_passes},
                                    {"tau", r.forward_passes ? static_cast<double>(r.tokens) / r.forward_passes : 0},
                                    {"tokens_per_second", tps},
                                    {"speedup_vs_vanilla", van_tps > 0 ? tps / van_tps : 0},
                                    {"retrieval_share", r.seconds > 0 ? r.retrieval_seconds / r.seconds : 0},
                                    {"decode_share", r.seconds > 0 ? r.decode_seconds / r.seconds : 0},
                                    {"prefill_share", r.seconds > 0 ? r.prefill_seconds / r.seconds : 0},
                                    {"identical_to_vanilla", r.prompts ? static_cast<double>(r.identical) / r.prompts : 0},
                                    {"draft_tokens", r.draft_tokens},
                                    {"accepted_tokens", r.accepted_tokens},
                                    {"worst_divergence_gap", r.worst_divergence_gap},
                                    {"prompts", r.prompts}});
        }
        write_json_file(o.json_out, j);
    }
    return out;
}

std::string bench_table(const std::vector<bench_method_result> & rs) {
    double van_tps = 0;
    for (const auto & r : rs) {
        if (r.method == "vanilla" && r.seconds > 0) {
            van_tps = r.tokens / r.seconds;
        }
    }
    std::string out =
        "| method | verify | tokens/s | speedup | tau | retrieval share | decode share | identical to vanilla | drafted | "
        "accepted |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
    char buf[256];
    for (const auto & r : rs) {
        const double tps = r.seconds > 0 ? r.tokens / r.seconds : 0;
        std::snprintf(buf, sizeof buf, "| %s | %s | %.1f | %.2fx | %.2f | %.3f | %.3f | %.2f | %lld | %lld |\n",
                      r.method.c_str(), r.verify.c_str(), tps, van_tps > 0 ? tps / van_tps : 0.0,
                      r.forward_passes ? static_cast<double>(r.tokens) / r.forward_passes : 0.0,
                      r.seconds > 0 ? r.retrieval_seconds / r.seconds : 0.0,
                      r.seconds > 0 ? r.decode_seconds / r.seconds : 0.0,
                      r.prompts ? static_cast<double>(r.identical) / r.prompts : 0.0,
                      static_cast<long long>(r.draft_tokens), static_cast<long long>(r.accepted_tokens));
        out += buf;
    }
    return out;
}

std::vector<batch_bench_row> run_batch_bench(const batch_bench_options & o) {
    const auto prompts = read_prompts_jsonl(o.prompts);
    const model m(o.model, model_options{.chat_template = o.chat_template});
    const int32_t threads = o.threads > 0 ? o.threads : static_cast<int32_t>(std::thread::hardware_concurrency());
    o.verify.validate();
    const auto toks = prompt_tokens(m, prompts);
    size_t longest = 0;
    for (const auto & t : toks) {
        longest = std::max(longest, t.size());
    }
    batched_options bo;
    bo.spec.limits = o.limits;
    bo.spec.verify = o.verify;
    bo.spec.self_draft = o.self_draft;
    generation_options g;
    g.max_tokens = o.max_tokens;

    std::vector<batch_bench_row> rows;
    std::vector<std::vector<token>> reference;  // plain decoding at the first B
    std::ofstream step_log;  // batched runs only: B = 1 with speculation is the tree engine
    int64_t step_no = 0;
    if (!o.step_log.empty()) {
        step_log.open(o.step_log);
        if (!step_log) {
            throw error("cannot write " + o.step_log);
        }
        step_log << "parallel\tspeculate\trepeat\tstep\t" << batched_step_header << '\n';
    }
    for (const int32_t B : o.parallel) {
        if (B < 1) {
            throw error("--parallel values must be at least 1");
        }
        // B = 1 with speculation is one record at a time with draft trees,
        // the engine `dare run --parallel 1` uses; it needs the tree's sequences.
        const bool tree_engine = B == 1;
        context_options co;
        co.n_threads = threads;
        co.layout = kv_layout::batch_invariant;  // every engine and mode (verify.h)
        bo.spec.cost = load_or_measure_cost_curve(m, threads, true, co.layout);
        const auto per_record = static_cast<uint32_t>(  // prompt, output and the largest draft (a tree's nodes at B = 1)
            longest + static_cast<size_t>(o.max_tokens + std::max(o.limits.max_depth, o.limits.max_nodes)) + 1);
        set_batched_context(co, B, per_record);
        if (tree_engine) {
            co.n_seq_max = std::max(co.n_seq_max, speculative_seq_max(o.limits));
            co.kv_unified = true;  // a tree's branches share cells
        } else if (o.shared_kv) {
            co.kv_unified = true;
        }
        co.n_batch = std::max<uint32_t>(512, co.n_ctx);
        context ctx(m, co);
        for (int32_t k = 0; k < 2 * std::max(1, o.repeat); ++k) {  // plain, speculative, plain, ...
            const int32_t rep = k / 2;
            const bool spec = k % 2 == 1;
            std::unique_ptr<token_index> pool;
            if (spec && !o.pool.empty()) {
                pool = load_pool(o.pool, m.info().vocab_fingerprint);
            }
            bo.parallel = B;
            bo.speculate = spec;
            step_no = 0;
            if (step_log.is_open()) {
                bo.on_step = [&, B, spec, rep](const batched_step & st) {
                    step_log << B << '\t' << spec << '\t' << rep << '\t' << step_no++ << '\t';
                    write_batched_step(step_log, st);
                    step_log << '\n';
                };
            }
            batched_decoder dec(ctx, bo);
            batch_bench_row row;
            row.parallel = B;
            row.speculate = spec;
            row.repeat = rep;
            std::vector<std::vector<token>> outs(toks.size());
            progress prog(std::string("bench-batch B=") + std::to_string(B) + (spec ? " spec" : " plain"),
                          static_cast<int64_t>(toks.size()), 0, 30.0);
            auto done = [&](size_t i, generation_result && r) {
                row.record_steps += r.stats.forward_passes;
                prog.record_done(r.stats.tokens, r.stats.forward_passes);
                outs[i] = std::move(r.tokens);
            };
            batched_totals tot;
            if (spec && tree_engine) {
                speculative_decoder tree(ctx, bo.spec);
                const auto t0 = std::chrono::steady_clock::now();
                for (size_t i = 0; i < toks.size(); ++i) {
                    auto r = tree.generate(toks[i], g, pool.get());
                    tot.tokens += r.stats.tokens;
                    tot.steps += r.stats.forward_passes;
                    tot.rows += static_cast<int64_t>(toks[i].size()) + r.stats.forward_passes - 1 + r.stats.draft_tokens;
                    tot.draft_tokens += r.stats.draft_tokens;
                    tot.accepted_tokens += r.stats.accepted_tokens;
                    tot.retrieval_seconds += r.stats.retrieval_seconds;
                    tot.decode_seconds += r.stats.prefill_seconds + r.stats.verify_seconds;  // verification included
                    done(i, std::move(r));
                }
                tot.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            } else {
                tot = dec.run(
                    toks.size(), [&](size_t i) { return batched_record{toks[i], pool.get()}; }, g, done);
            }
            prog.finish();
            if (reference.empty()) {
                reference = outs;
            }
            row.tokens = tot.tokens;
            row.steps = tot.steps;
            row.rows = tot.rows;
            row.draft_tokens = tot.draft_tokens;
            row.accepted_tokens = tot.accepted_tokens;
            row.seconds = tot.seconds;
            row.decode_seconds = tot.decode_seconds;
            row.retrieval_seconds = tot.retrieval_seconds;
            row.records = static_cast<int32_t>(toks.size());
            for (size_t i = 0; i < outs.size(); ++i) {
                row.identical += outs[i] == reference[i];
            }
            rows.push_back(row);
        }
    }
    if (!o.json_out.empty()) {
        json j;
        j["machine"] = machine_json(threads);
        j["model"] = {{"path", m.info().path}, {"description", m.info().description}};
        j["settings"] = {{"prompts", o.prompts},          {"pool", o.pool},
                         {"max_tokens", o.max_tokens},    {"draft_nodes", o.limits.max_nodes},
                         {"draft_depth", o.limits.max_depth}, {"verify", verify_mode_name(o.verify.mode)},
                         {"top_k", o.verify.top_k},       {"min_prob", o.verify.min_prob},
                         {"self_draft", o.self_draft}, {"repeat", o.repeat}, {"shared_kv", o.shared_kv},
                         {"chat_template", o.chat_template}};
        j["runs"] = json::array();
        for (const auto & r : rows) {
            j["runs"].push_back({{"parallel", r.parallel},
                                 {"speculate", r.speculate},
                                 {"repeat", r.repeat},
                                 {"tokens", r.tokens},
                                 {"seconds", r.seconds},
                                 {"tokens_per_second", r.seconds > 0 ? r.tokens / r.seconds : 0},
                                 {"decode_seconds", r.decode_seconds},
                                 {"retrieval_seconds", r.retrieval_seconds},
                                 {"steps", r.steps},
                                 {"rows", r.rows},
                                 {"record_steps", r.record_steps},
                                 {"draft_tokens", r.draft_tokens},
                                 {"accepted_tokens", r.accepted_tokens},
                                 {"records", r.records},
                                 {"identical_to_plain", r.records ? static_cast<double>(r.identical) / r.records : 0}});
        }
        write_json_file(o.json_out, j);
    }
    return rows;
}

std::string batch_bench_table(const std::vector<batch_bench_row> & rs) {
    // One line per B and mode. With repeats (plain and speculative runs
    // alternate), tokens/s is the median run and the ratio is the median of
    // each repeat's speculative/plain pair, which cancels the machine's drift
    // between repeats; the counts are those of all repeats together.
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    auto rate = [](const batch_bench_row & r) { return r.seconds > 0 ? r.tokens / r.seconds : 0.0; };
    std::string out =
        "| parallel | speculation | runs | tokens/s (median) | vs plain at same B (median of pairs) | tokens per "
        "record-step | rows per step | drafted | accepted | decode share | retrieval share | identical to plain "
        "(first B) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    char buf[360];
    std::vector<std::pair<int32_t, bool>> seen;
    for (const auto & r : rs) {
        const std::pair<int32_t, bool> key{r.parallel, r.speculate};
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            continue;
        }
        seen.push_back(key);
        batch_bench_row sum;
        std::vector<double> rates, ratios;
        int32_t runs = 0;
        for (const auto & x : rs) {
            if (x.parallel != r.parallel || x.speculate != r.speculate) {
                continue;
            }
            ++runs;
            rates.push_back(rate(x));
            for (const auto & p : rs) {
                if (p.parallel == x.parallel && p.repeat == x.repeat && !p.speculate && rate(p) > 0) {
                    ratios.push_back(rate(x) / rate(p));
                }
            }
            sum.tokens += x.tokens;
            sum.record_steps += x.record_steps;
            sum.steps += x.steps;
            sum.rows += x.rows;
            sum.draft_tokens += x.draft_tokens;
            sum.accepted_tokens += x.accepted_tokens;
            sum.seconds += x.seconds;
            sum.decode_seconds += x.decode_seconds;
            sum.retrieval_seconds += x.retrieval_seconds;
            sum.records += x.records;
            sum.identical += x.identical;
        }
        std::snprintf(buf, sizeof buf, "| %d | %s | %d | %.1f | %.2fx | %.2f | %.1f | %lld | %lld | %.2f | %.3f | %.2f |\n",
                      r.parallel, r.speculate ? "yes" : "no", runs, median(rates), median(ratios),
                      sum.record_steps ? static_cast<double>(sum.tokens) / sum.record_steps : 0.0,
                      sum.steps ? static_cast<double>(sum.rows) / sum.steps : 0.0,
                      static_cast<long long>(sum.draft_tokens), static_cast<long long>(sum.accepted_tokens),
                      sum.seconds > 0 ? sum.decode_seconds / sum.seconds : 0.0,
                      sum.seconds > 0 ? sum.retrieval_seconds / sum.seconds : 0.0,
                      sum.records ? static_cast<double>(sum.identical) / sum.records : 0.0);
        out += buf;
    }
    return out;
}

}  // namespace dare
