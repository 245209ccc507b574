// dare command-line front end: parses flags and hands each subcommand to the
// library. Exit codes: 0 ok, 1 runtime error (bad file, bad model...), 2 usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include <sstream>
#include <thread>

#include "dare/backend.h"
#include "dare/bench.h"
#include "dare/ctr.h"
#include "dare/encode.h"
#include "dare/pool_bench.h"
#include "dare/text_metrics.h"
#include "dare/budget.h"
#include "dare/cli_options.h"
#include "dare/error.h"
#include "dare/eval.h"
#include "dare/jobs.h"
#include "dare/paths.h"
#include "dare/pipeline.h"
#include "dare/report.h"
#include "dare/signals.h"
#include "dare/verify.h"

namespace {

void add_prompts_command(CLI::App & app, dare::prompts_job_options & o) {
    auto * c = app.add_subcommand("prompts", "Write KAR knowledge prompts for a dataset's items or users as JSONL");
    o.dataset = dare::default_dataset_path();
    c->add_option("--dataset", o.dataset, "Dataset folder (MovieLens ml-latest-small shape)")->capture_default_str();
    c->add_option("--target", o.target, "items (most-rated first) or users")
        ->check(CLI::IsMember({"items", "users"}))
        ->capture_default_str();
    c->add_option("--limit", o.limit, "Write at most N prompts (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--history-max", o.history_max, "Most recent ratings kept in a user prompt")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->add_flag("--strict-input", o.strict_input, "Fail on the first malformed dataset row instead of skipping it");
    c->add_option("--out", o.out, "Output JSONL file ({\"id\",\"prompt\"} per line)")->required();
    c->callback([&o] {
        const int64_t n = dare::run_prompts_job(o);
        std::fprintf(stderr, "wrote %lld prompts to %s\n", static_cast<long long>(n), o.out.c_str());
    });
}

// --chat-template, on every command that prompts a model.
void add_generate_command(CLI::App & app, dare::generate_job_options & o) {
    auto * c = app.add_subcommand("generate", "Generate knowledge text for every prompt of a JSONL file");
    o = dare::default_generate_options();
    c->add_option("--prompts", o.prompts, "Input JSONL: one {\"id\": ..., \"prompt\": \"...\"} per line")->required();
    c->add_option("--out", o.out,
                  "Output JSONL, one record per prompt (id, text, tokens, forward_passes, tau, seconds, ...); "
                  "an existing file is resumed: prompts already in it are skipped")
        ->required();
    c->add_option("--pool", o.pool, "Pool file for --mode dare (from: dare pool build)");
    c->add_option("--save-pool", o.save_pool, "Write the grown pool here when the run ends (--mode dare)");
    dare::add_decoding_options(c, o);
    c->add_flag("--fresh", o.fresh, "Discard an existing --out file instead of resuming it");
    c->add_option("--log-interval", o.log_interval_s, "Seconds between progress lines when stderr is not a terminal")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->callback([&o] {
        dare::install_stop_handlers();
        const auto s = dare::run_generate_job(o);
        std::fprintf(stderr, "%lld records in %s (%lld generated now, %lld already there)",
                     static_cast<long long>(s.records), o.out.c_str(), static_cast<long long>(s.generated),
                     static_cast<long long>(s.skipped));
        if (s.generated > 0 && s.decode_seconds > 0) {
            std::fprintf(stderr, "; %.1f tokens/s, tau %.2f", static_cast<double>(s.tokens) / s.decode_seconds,
                         static_cast<double>(s.tokens) / static_cast<double>(s.forward_passes));
        }
        std::fprintf(stderr, "\n");
    });
}

void add_run_command(CLI::App & app, dare::run_options & o) {
    auto * c = app.add_subcommand(
        "run", "Knowledge for a whole dataset's items and/or users, with one retrieval pool per group of similar "
               "records (resumable: rerun with the same --out to continue)");
    o = dare::default_run_options();
    dare::add_run_options(c, o);
    c->get_option("--out")->required();
    static bool dry_run = false;
    c->add_flag("--dry-run", dry_run,
                "Plan only: check the options, load the dataset, print the groups and record counts, load no model "
                "and write nothing");
    c->callback([&o] {
        if (dry_run) {
            const auto plan = dare::plan_run(o);  // logs the dataset and every group
            size_t records = 0, warmup = 0;
            for (const auto & g : plan.groups) {
                records += g.records.size();
                warmup += static_cast<size_t>(g.warmup);
            }
            std::fprintf(stderr, "dry run: %zu records in %zu groups (%zu warm-up); nothing written\n", records,
                         plan.groups.size(), warmup);
            return;
        }
        dare::install_stop_handlers();
        const auto s = dare::run_pipeline(o);
        std::fprintf(stderr, "%s", dare::report_table(s).c_str());
        std::fprintf(stderr, "knowledge in %s/knowledge.jsonl; summary in %s/summary.json (dare report %s)\n",
                     o.out.c_str(), o.out.c_str(), o.out.c_str());
    });
}

void add_report_command(CLI::App & app, std::string & rundir) {
    auto * c = app.add_subcommand("report", "Print a run's per-group table and write RUNDIR/report.html");
    c->add_option("rundir", rundir, "Run folder (from dare run)")->required();
    c->callback([&rundir] {
        std::printf("%s", dare::report_run(rundir).c_str());
        std::printf("wrote %s/report.html\n", rundir.c_str());
    });
}

void add_pool_command(CLI::App & app, dare::pool_build_options & o) {
    auto * pool = app.add_subcommand("pool", "Retrieval pools");
    pool->require_subcommand(1);
    auto * c = pool->add_subcommand("build", "Build a pool file from a corpus JSONL ({\"text\", \"prompt\"?} per line)");
    o.model = dare::default_model_path();
    c->add_option("--corpus", o.corpus, "Corpus JSONL; a knowledge output of dare generate is one")->required();
    c->add_option("--out", o.out, "Pool file to write")->required();
    c->add_option("--model", o.model, "GGUF model whose tokenizer the pool uses")->capture_default_str();
    dare::add_chat_template_option(c, o.chat_template);
    c->add_option("--index", o.index, "Index kind: trie (DARE n-gram trie) or suffix (longest suffix match)")
        ->check(CLI::IsMember({"trie", "suffix"}))
        ->capture_default_str();
    c->add_option("--branch-len", o.index_opts.branch_len, "Trie: tokens counted after each position")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    c->add_option("--output-weight", o.index_opts.output_weight, "Ranking weight of output-side counts")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c->add_option("--prompt-weight", o.index_opts.prompt_weight, "Ranking weight of prompt-side counts")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c->callback([&o] {
        const auto s = dare::run_pool_build(o);
        std::fprintf(stderr, "pool %s: %lld records, %llu tokens, %.1f MiB in memory (%.1f bytes/token)\n",
                     o.out.c_str(), static_cast<long long>(s.records), static_cast<unsigned long long>(s.tokens),
                     static_cast<double>(s.bytes) / (1 << 20), s.bytes_per_token);
    });
}

struct quantize_options {
    std::string model, out, type = "q4_0";
    int32_t threads = 0;
};

void add_quantize_command(CLI::App & app, quantize_options & o) {
    auto * c = app.add_subcommand("quantize", "Re-quantize a GGUF model (e.g. the bundled Q4_1 to BF16, Q8_0 or Q4_0)");
    o.model = dare::bundled_model_path();
    c->add_option("--model", o.model, "Input GGUF model (default: the bundled Q4_1)")->capture_default_str();
    c->add_option("--out", o.out, "Output GGUF file")->required();
    c->add_option("--type", o.type, "Target type")
        ->check(CLI::IsMember({"q4_0", "q4_1", "q8_0", "q4_k_m", "iq4_nl", "bf16"}))
        ->capture_default_str();
    c->add_option("--threads", o.threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
    c->callback([&o] { dare::quantize_model(o.model, o.out, o.type, o.threads); });
}

void add_bench_command(CLI::App & app, dare::bench_options & o) {
    auto * c = app.add_subcommand("bench",
                                  "Compare decoding methods on the same prompts in one process, alternated prompt by prompt");
    o.model = dare::default_model_path();
    static std::string methods = "vanilla,pld,resd,dare";
    c->add_option("--prompts", o.prompts, "Prompts JSONL")->required();
    c->add_option("--pool", o.pool, "Pool file for resd (strict) and dare (relaxed)");
    c->add_option("--methods", methods, "Comma-separated: vanilla, pld, resd (pool, strict), dare (pool, relaxed), dare-strict, hybrid (pool + the record's own context, relaxed), hybrid-strict; llama.cpp's own: llama-plain, llama-ngram-simple, llama-ngram-map-k, llama-ngram-map-k4v, llama-ngram-mod, llama-ngram-cache, each with optional :KEY=VALUE settings (see docs/benchmarks.md)")->capture_default_str();
    c->add_option("--peer-corpus", o.peer_corpus, "Knowledge JSONL for llama.cpp's static n-gram cache (llama-ngram-cache:static=1)");
    c->add_option("--model", o.model, "GGUF model")->capture_default_str();
    dare::add_chat_template_option(c, o.chat_template);
    c->add_option("--max-tokens", o.max_tokens, "Tokens per prompt")->check(CLI::PositiveNumber)->capture_default_str();
    c->add_option("--threads", o.threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--warmup", o.warmup, "Prompts run first and not counted")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--ctx", o.n_ctx, "Context size")->check(CLI::Range(16u, 1u << 20))->capture_default_str();
    c->add_option("--draft-nodes", o.limits.max_nodes, "Largest draft tree")->check(CLI::Range(0, 255))->capture_default_str();
    c->add_option("--draft-depth", o.limits.max_depth, "Deepest draft level")->check(CLI::Range(0, 64))->capture_default_str();
    c->add_option_function<std::string>(
         "--budget", [&o](const std::string & v) { o.auto_budget = v == "auto"; },
         "auto (cost-aware) or fixed (whole tree) [default: auto]")
        ->check(CLI::IsMember({"auto", "fixed"}));
    c->add_option("--top-k", o.relaxed.top_k, "dare: relaxed top-k")->check(CLI::Range(1, 1000))->capture_default_str();
    c->add_option("--min-prob", o.relaxed.min_prob, "dare: relaxed threshold")
        ->check(CLI::Range(0.0f, 0.999999f))
        ->capture_default_str();
    c->add_option("--json", o.json_out, "Write results as JSON here");
    c->callback([&o] {
        o.methods.clear();
        std::stringstream ss(methods);
        for (std::string m; std::getline(ss, m, ',');) {
            o.methods.push_back(m);
        }
        const auto r = dare::run_bench(o);
        std::printf("%s", dare::bench_table(r).c_str());
    });
}

void add_bench_batch_command(CLI::App & app, dare::batch_bench_options & o) {
    auto * c = app.add_subcommand(
        "bench-batch",
        "Continuous batching of the same prompts at each --parallel B, without and with speculation (drafts sized "
        "for the whole batch from the measured cost curve)");
    o.model = dare::default_model_path();
    o.verify.mode = dare::verify_mode::relaxed;
    static std::string verify = "relaxed";
    c->add_option("--prompts", o.prompts, "Prompts JSONL")->required();
    c->add_option("--pool", o.pool, "Pool file (each run starts from it); without one, drafts come from each "
                                    "record's own prompt and output");
    c->add_option("--model", o.model, "GGUF model")->capture_default_str();
    dare::add_chat_template_option(c, o.chat_template);
    c->add_option("--parallel", o.parallel, "Batch sizes to measure")->delimiter(',')->check(CLI::PositiveNumber);
    c->add_option("--repeat", o.repeat,
                  "Plain and speculative runs alternate this many times per B; the table shows medians")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    c->add_option("--max-tokens", o.max_tokens, "Tokens per prompt")->check(CLI::PositiveNumber)->capture_default_str();
    c->add_option("--threads", o.threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--verify", verify, "strict or relaxed")->check(CLI::IsMember({"strict", "relaxed"}))->capture_default_str();
    c->add_option("--top-k", o.verify.top_k, "Relaxed top-k")->check(CLI::Range(1, 1000))->capture_default_str();
    c->add_option("--min-prob", o.verify.min_prob, "Relaxed threshold")->check(CLI::Range(0.0f, 0.999999f))->capture_default_str();
    c->add_option("--draft-nodes", o.limits.max_nodes, "Largest draft tree searched for each record's chain")
        ->check(CLI::Range(0, 255))
        ->capture_default_str();
    c->add_option("--draft-depth", o.limits.max_depth, "Longest draft chain")->check(CLI::Range(0, 64))->capture_default_str();
    c->add_option("--self-draft", o.self_draft, "Also draft from each record's own context")->capture_default_str();
    c->add_flag("--shared-kv", o.shared_kv,
                "B > 1: all records in one shared KV cache instead of a stream each (measures what the streams "
                "change; batched text is then not exactly one-at-a-time text)");
    c->add_option("--json", o.json_out, "Write results as JSON here");
    c->add_option("--step-log", o.step_log,
                  "Write one TSV line per decode step of the batched runs (B, speculation, repeat, prompt/decode/draft "
                  "rows, tokens, ms, gate side) here; B = 1 with speculation runs the tree engine and logs none");
    c->callback([&o] {
        o.verify.mode = dare::parse_verify_mode(verify);
        const auto r = dare::run_batch_bench(o);
        std::printf("%s", dare::batch_bench_table(r).c_str());
    });
}

void add_bench_pool_command(CLI::App & app, dare::pool_bench_options & o) {
    auto * c = app.add_subcommand(
        "bench-pool",
        "Pool-size sweep without the model: retrieval time per draft and strict-replay tau as a pool grows "
        "(corpus first, then bigram filler), per index kind");
    o.model = dare::default_model_path();
    c->add_option("--corpus", o.corpus, "Knowledge JSONL (greedy outputs); the last --heldout records are predicted")->required();
    c->add_option("--model", o.model, "GGUF model (tokenizer and chat template)")->capture_default_str();
    dare::add_chat_template_option(c, o.chat_template);
    c->add_option("--sizes", o.sizes, "Pool sizes in tokens")->delimiter(',')->check(CLI::PositiveNumber);
    c->add_option("--index", o.kinds, "Index kinds (trie, suffix)")->delimiter(',');
    c->add_option("--heldout", o.heldout, "Records held out as texts to predict")->check(CLI::PositiveNumber)->capture_default_str();
    c->add_option("--draft-nodes", o.limits.max_nodes, "Draft tree size")->check(CLI::Range(1, 255))->capture_default_str();
    c->add_option("--draft-depth", o.limits.max_depth, "Draft tree depth")->check(CLI::Range(1, 64))->capture_default_str();
    c->add_option("--seed", o.seed, "Filler sampling seed")->capture_default_str();
    c->add_option("--json", o.json_out, "Write results as JSON here");
    c->callback([&o] { std::printf("%s", dare::pool_bench_table(dare::run_pool_bench(o)).c_str()); });
}

// `dare calibrate --shapes`: what a tree-shaped verification batch costs
// against the chain the cost curve measures, in each KV layout.
void print_batch_shapes(const dare::model & m, int32_t threads, const std::vector<int32_t> & depths) {
    const std::vector<int32_t> rows = {1, 2, 4, 8, 12, 16, 24};
    std::vector<std::unique_ptr<dare::context>> owned;
    std::vector<dare::context *> ctxs;
    // In the order of the table's columns.
    for (const auto layout : {dare::kv_layout::batch_invariant, dare::kv_layout::llama_default,
                              dare::kv_layout::plain_attention}) {
        dare::context_options co;
        co.n_ctx = static_cast<uint32_t>(*std::max_element(depths.begin(), depths.end())) + 64;
        co.n_threads = threads;
        co.layout = layout;
        co.n_seq_max = 16;
        owned.push_back(std::make_unique<dare::context>(m, co));
        ctxs.push_back(owned.back().get());
    }
    const auto res = dare::measure_batch_shapes(ctxs, depths, rows, 7);
    std::printf("Milliseconds per decode, %d threads, median of 7, layouts taking turns. Layouts: invariant = "
                "batch-invariant (F16 keys and values, flash attention, generated rows on the row kernel), default = "
                "llama.cpp's (F16 keys and values, flash attention), plain = default without flash attention.\n\n"
                "| depth | rows | chain: invariant | default | plain | chain, graph rebuilt: invariant | default | plain "
                "| tree: invariant | default | plain | branches |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
                threads);
    for (const auto & s : res) {
        std::printf("| %d | %d |", s.depth, s.rows);
        for (const auto * v : {&s.chain_ms, &s.chain_rebuilt_ms, &s.tree_ms}) {
            for (const double x : *v) {
                std::printf(" %.2f |", x);
            }
        }
        std::printf(" %d |\n", s.branches);
    }
}

void add_calibrate_command(CLI::App & app, std::string & model_path, int32_t & threads,
                           std::vector<int32_t> & shape_depths) {
    auto * c = app.add_subcommand("calibrate",
                                  "Measure how a verification batch of n tokens costs against one token on this machine "
                                  "(cached; --budget auto uses it)");
    c->add_option("--model", model_path, "GGUF model")->capture_default_str();
    c->add_option("--threads", threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--shapes", shape_depths,
                  "Instead of the curve, compare chain- and tree-shaped batches of 1 to 24 rows at these context "
                  "depths (comma-separated; a diagnostic, nothing is saved)")
        ->delimiter(',')
        ->check(CLI::PositiveNumber);
    static std::string layout_name = "all";
    c->add_option("--kv-layout", layout_name, "The layout to measure (invariant, plain, default), or all")
        ->check(CLI::IsMember({"all", "invariant", "plain", "default"}))
        ->capture_default_str();
    c->callback([&model_path, &threads, &shape_depths] {
        const dare::model m(model_path);
        const int32_t t = threads > 0 ? threads : static_cast<int32_t>(std::thread::hardware_concurrency());
        if (!shape_depths.empty()) {
            print_batch_shapes(m, t, shape_depths);
            return;
        }
        // Every KV layout decoding can run on (--kv-layout; dare/verify.h).
        for (const auto layout : {dare::kv_layout::batch_invariant, dare::kv_layout::plain_attention,
                                  dare::kv_layout::llama_default}) {
            if (layout_name != "all" && dare::parse_kv_layout(layout_name) != layout) {
                continue;
            }
            const auto cm = dare::calibrate_cost_curve(m, t, layout, 7);
            const std::string path = dare::calibration_path(m.info(), t, layout);
            std::printf("%s:\n\n| n tokens | ms per decode | cost vs 1 token | n / cost |\n|---|---|---|---|\n",
                        dare::to_string(layout));
            for (size_t i = 0; i < cm.sizes().size(); ++i) {
                const int32_t n = cm.sizes()[i];
                std::printf("| %d | %.2f | %.2f | %.2f |\n", n, cm.ms()[i], cm.relative(n), n / cm.relative(n));
            }
            std::printf("\nsaved to %s\n\n", path.c_str());
        }
    });
}

struct perplexity_options {
    std::string model, corpus;
    int32_t threads = 0;
    uint32_t n_ctx = 2048;
    std::string kv_layout = "invariant";
    std::string chat_template = "auto";
};

void add_eval_command(CLI::App & app, perplexity_options & o) {
    auto * ev = app.add_subcommand("eval", "Evaluation");
    ev->require_subcommand(1);
    auto * c = ev->add_subcommand("perplexity",
                                  "Perplexity of texts ({\"text\", \"prompt\"?} JSONL, e.g. a knowledge output), each "
                                  "scored as the answer to its prompt");
    o.model = dare::default_model_path();
    c->add_option("--model", o.model, "GGUF model")->capture_default_str();
    c->add_option("--corpus", o.corpus, "JSONL with \"text\" and optional \"prompt\"")->required();
    dare::add_chat_template_option(c, o.chat_template);
    c->add_option("--threads", o.threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
    c->add_option("--ctx", o.n_ctx, "Context size")->check(CLI::Range(16u, 1u << 20))->capture_default_str();
    c->add_option("--kv-layout", o.kv_layout,
                  "KV layout to score with: invariant (F16 keys and values, prompts on the fast kernels and the "
                  "text on the row kernel, as decoding one record at a time and in batches sees them), default (llama.cpp's: F16 keys and "
                  "values, its fastest kernels), plain (F16, no flash attention; --kv-layout plain), to measure "
                  "what a layout costs in accuracy")
        ->check(CLI::IsMember({"invariant", "default", "plain"}))
        ->capture_default_str();
    c->callback([&o] {
        const dare::model m(o.model, dare::model_options{.chat_template = o.chat_template});
        dare::context_options co;
        co.n_ctx = o.n_ctx;
        co.n_threads = o.threads;
        co.layout = dare::parse_kv_layout(o.kv_layout);
        const auto r = dare::corpus_perplexity(m, o.corpus, co);
        std::printf("model %s: %lld records, %lld tokens, mean NLL %.4f nats/token, perplexity %.3f\n",
                    m.info().description.c_str(), static_cast<long long>(r.records), static_cast<long long>(r.tokens),
                    r.tokens ? r.nll / static_cast<double>(r.tokens) : 0.0, r.perplexity());
    });
    static dare::ctr_options ctr;
    auto * cc = ev->add_subcommand("ctr",
                                   "Train a CTR model (XGBoost) on a dataset with and without each run's knowledge "
                                   "vectors (dare encode); AUC and LogLoss with bootstrap intervals");
    cc->add_option("--dataset", ctr.dataset, "Dataset folder")->required();
    cc->add_option("--knowledge", ctr.knowledge, "Run folder with embeddings/ (repeatable)");
    cc->add_option("--top-items", ctr.top_items, "Keep interactions with the N most-rated items (0 = all)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cc->add_option("--positive", ctr.positive, "Ratings at or above this are clicks")->capture_default_str();
    cc->add_option("--test-fraction", ctr.test_fraction, "Each user's latest fraction of interactions for test")
        ->check(CLI::Range(0.01, 0.9))
        ->capture_default_str();
    cc->add_option("--pca-dim", ctr.pca_dim, "Knowledge vector width after PCA (users and items each)")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    cc->add_option("--rounds", ctr.rounds, "Boosting rounds")->check(CLI::Range(1, 100000))->capture_default_str();
    cc->add_option("--max-depth", ctr.max_depth, "Tree depth")->check(CLI::Range(1, 32))->capture_default_str();
    cc->add_option("--eta", ctr.eta, "Learning rate")->check(CLI::Range(0.0001f, 1.0f))->capture_default_str();
    cc->add_option("--bootstrap", ctr.bootstrap, "Bootstrap resamples")->check(CLI::Range(10, 100000))->capture_default_str();
    cc->add_option("--seed", ctr.seed, "Seed (model and bootstrap)")->capture_default_str();
    cc->add_option("--threads", ctr.threads, "Threads (0 = all)")->check(CLI::NonNegativeNumber);
    cc->add_option("--json", ctr.json_out, "Write results as JSON here");
    cc->callback([] { std::printf("%s", dare::ctr_table(dare::run_ctr_eval(ctr)).c_str()); });
    static std::string health_run, health_dataset;
    static bool health_write = false;
    auto * h = ev->add_subcommand("health",
                                  "Measure every record's text health of a dare run again with the current "
                                  "definitions (docs/quality.md) and print the run's table with it");
    h->add_option("RUNDIR", health_run, "Run folder (knowledge.jsonl, run.json)")->required();
    h->add_option("--dataset", health_dataset, "Dataset to ground against [default: the run's, from run.json]");
    h->add_flag("--write", health_write, "Rewrite the records' health objects and summary.json with the new figures");
    h->callback([] {
        std::printf("%s", dare::report_table(dare::reassess_health(health_run, health_dataset, health_write)).c_str());
    });
    static std::string text_a, text_b;
    auto * t = ev->add_subcommand("text",
                                  "Compare two runs of the same records word by word: ROUGE-L F1 (B against A), exact "
                                  "matches, distinct-2 of each");
    t->add_option("RUN_A", text_a, "Reference run folder (or knowledge JSONL)")->required();
    t->add_option("RUN_B", text_b, "Compared run folder (or knowledge JSONL)")->required();
    t->callback([] {
        const auto c = dare::compare_runs_text(text_a, text_b);
        std::printf("| records | ROUGE-L F1 (mean) | exact match | distinct-2 A | distinct-2 B | only in A | only in B |\n"
                    "|---|---|---|---|---|---|---|\n| %lld | %.4f | %.4f | %.4f | %.4f | %lld | %lld |\n",
                    static_cast<long long>(c.records), c.rouge_l_mean, c.exact_match_rate, c.distinct_2_a,
                    c.distinct_2_b, static_cast<long long>(c.only_a), static_cast<long long>(c.only_b));
        std::printf("\nText health (docs/quality.md) of the matched records:\n\n| run | kind | records | echo-only | "
                    "looped | new words | words | longest repeat | distinct-2 | grounding |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n");
        for (const auto & [label, health] : {std::pair{"A", &c.health_a}, std::pair{"B", &c.health_b}}) {
            for (const auto & [kind, h] : *health) {
                if (h.empty()) {
                    continue;
                }
                const std::string ground =
                    h.contains("grounding") ? std::to_string(static_cast<int>(100 * h["grounding"].get<double>() + 0.5)) + "%" : "-";
                std::printf("| %s | %s | %lld | %.0f%% | %.0f%% | %.0f%% | %.1f | %.1f | %.3f | %s |\n", label,
                            kind.c_str(), static_cast<long long>(h["records"].get<int64_t>()),
                            100 * h["echo_only"].get<double>(), 100 * h["looped"].get<double>(),
                            100 * h["new_words"].get<double>(), h["words"].get<double>(),
                            h["longest_repeat"].get<double>(), h["distinct_2"].get<double>(), ground.c_str());
            }
        }
    });
}

void add_encode_command(CLI::App & app, dare::encode_options & o) {
    auto * c = app.add_subcommand("encode",
                                  "Turn every knowledge text of a run into a vector: <out>/<kind>.npy (float32, "
                                  "records x dim) and <kind>_ids.txt (resumable)");
    c->add_option("RUNDIR", o.rundir, "Run folder (knowledge.jsonl)")->required();
    c->add_option("--out", o.out, "Output folder [default: RUNDIR/embeddings]");
    c->add_option("--encoder", o.encoder, "GGUF model run in embedding mode, mean pooling [default: the run's model]");
    c->add_option("--batch", o.batch, "Texts per decode call")->check(CLI::Range(1, 256))->capture_default_str();
    c->add_option("--max-text-tokens", o.max_text_tokens, "Longer texts are cut to their first N tokens")
        ->check(CLI::Range(8, 8192))
        ->capture_default_str();
    c->add_option("--threads", o.threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
    c->callback([&o] {
        dare::install_stop_handlers();
        const auto s = dare::run_encode(o);
        std::printf("encoder %s (dim %d): %lld encoded now, %lld already there; items %lld, users %lld\n",
                    s.encoder.c_str(), s.dim, static_cast<long long>(s.encoded), static_cast<long long>(s.resumed),
                    static_cast<long long>(s.items), static_cast<long long>(s.users));
    });
}

void add_info_command(CLI::App & app, std::string & model_path) {
    auto * c = app.add_subcommand("info", "Print a GGUF model's facts (size, layers, vocabulary, context) as JSON");
    model_path = dare::default_model_path();
    c->add_option("--model", model_path, "GGUF model file")->capture_default_str();
    c->callback([&model_path] {
        const dare::model m(model_path);
        const auto & i = m.info();
        std::error_code ec;
        const auto file_bytes = std::filesystem::file_size(model_path, ec);
        nlohmann::json j = {{"path", i.path},
                            {"file_bytes", ec ? 0 : file_bytes},
                            {"description", i.description},
                            {"architecture", i.architecture},
                            {"name", i.name},
                            {"n_params", i.n_params},
                            {"tensor_bytes", i.size_bytes},
                            {"n_layer", i.n_layer},
                            {"n_embd", i.n_embd},
                            {"n_head", i.n_head},
                            {"n_head_kv", i.n_head_kv},
                            {"n_ctx_train", i.n_ctx_train},
                            {"n_vocab", i.n_vocab}};
        std::printf("%s\n", j.dump(2).c_str());
    });
}

}  // namespace

int main(int argc, char ** argv) {
    CLI::App app{
        "dare: fast LLM knowledge generation for recommender systems (retrieval-based speculative decoding "
        "on llama.cpp)",
        "dare"};
    app.set_version_flag("--version", [] { return dare::version_text(); },
                         "dare's version, the llama.cpp it was built with, backends, CPU features and the default model build");
    app.require_subcommand(1);
    dare::prompts_job_options prompts_opts;
    dare::generate_job_options generate_opts;
    std::string info_model;
    dare::pool_build_options pool_opts;
    add_prompts_command(app, prompts_opts);
    add_generate_command(app, generate_opts);
    dare::run_options run_opts;
    add_run_command(app, run_opts);
    std::string report_dir;
    add_report_command(app, report_dir);
    add_pool_command(app, pool_opts);
    quantize_options quantize_opts;
    add_quantize_command(app, quantize_opts);
    dare::bench_options bench_opts;
    add_bench_command(app, bench_opts);
    dare::batch_bench_options batch_bench_opts;
    add_bench_batch_command(app, batch_bench_opts);
    dare::pool_bench_options pool_bench_opts;
    add_bench_pool_command(app, pool_bench_opts);
    std::string calibrate_model = dare::default_model_path();
    int32_t calibrate_threads = 0;
    std::vector<int32_t> calibrate_shapes;
    add_calibrate_command(app, calibrate_model, calibrate_threads, calibrate_shapes);
    perplexity_options ppl_opts;
    add_eval_command(app, ppl_opts);
    dare::encode_options encode_opts;
    add_encode_command(app, encode_opts);
    add_info_command(app, info_model);
    dare::ignore_file_size_signal();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    } catch (const dare::interrupted & e) {
        // Every finished record is on disk; the records in flight were dropped.
        std::fprintf(stderr, "\ndare: %s: finished records are saved; rerun the same command to resume\n", e.what());
        return 128 + e.signal;
    } catch (const dare::error & e) {
        std::fprintf(stderr, "dare: error: %s\n", e.what());
        return 1;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "dare: internal error: %s\n", e.what());
        return 1;
    }
    return 0;
}
