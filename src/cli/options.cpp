// CLI11 declarations of the options of dare generate and dare run (contract
// in include/dare/cli_options.h).
#include "dare/cli_options.h"

#include <algorithm>

#include "dare/error.h"

namespace dare {

void add_chat_template_option(CLI::App * c, std::string & t) {
    c->add_option("--chat-template", t,
                  "How prompts reach the model: auto (the model's own chat template), none (raw text, for base "
                  "models), or a template file or one of llama.cpp's built-in template names (chatml, llama3, ...)")
        ->capture_default_str();
}

void add_decoding_options(CLI::App * c, generate_job_options & o) {
    c->add_option("--model", o.model,
                  "GGUF model file (default: the bundled SmolLM2-135M-Instruct re-quantized to Q8_0, made on "
                  "first use; $DARE_MODEL overrides)")
        ->capture_default_str();
    add_chat_template_option(c, o.chat_template);
    c->add_option("--mode", o.mode,
                  "Decoding mode: vanilla (plain autoregressive decoding), pld (drafts from the prompt and output "
                  "so far), dare (drafts from a retrieval pool that grows with every record)")
        ->check(CLI::IsMember({"vanilla", "pld", "dare"}))
        ->capture_default_str();
    c->add_option("--verify", o.verify,
                  "Acceptance rule for drafts: strict (output identical to greedy decoding), relaxed (DARE: "
                  "accept a draft token in the target's top-k with probability above --min-prob), sample "
                  "(lossless speculative sampling at --temperature)")
        ->check(CLI::IsMember({"strict", "relaxed", "sample"}))
        ->capture_default_str();
    c->add_option("--top-k", o.spec.verify.top_k, "Relaxed verification: the target's top-k tokens are eligible")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    c->add_option("--min-prob", o.spec.verify.min_prob,
                  "Relaxed verification: a draft token needs a target probability above this")
        ->check(CLI::Range(0.0f, 0.999999f))
        ->capture_default_str();
    c->add_option_function<std::string>(
         "--relaxed-rule", [&o](const std::string & v) { o.spec.verify.rule = parse_relaxed_rule(v); },
         std::string("Relaxed verification's variant: dare (the paper's top-k/threshold rule), eog (end of text "
                     "only as the argmax), copy (tokens continuing a copy of the prompt only as the argmax), "
                     "guarded (both), typical (guarded, threshold min(--min-prob, --typical-alpha * "
                     "exp(-entropy))) [default: ") +
             relaxed_rule_name(o.spec.verify.rule) + "]")
        ->check(CLI::IsMember({"dare", "eog", "copy", "guarded", "typical"}));
    c->add_option("--typical-alpha", o.spec.verify.typical_alpha, "--relaxed-rule typical: the entropy factor")
        ->check(CLI::Range(0.000001f, 1.0f))
        ->capture_default_str();
    c->add_option("--kv-layout", o.kv_layout,
                  "KV layout of the decoding context: auto (the batch-invariant one, one record at a time and in "
                  "batches with a KV stream per record, which token-identity needs), invariant, default or plain "
                  "(docs/engine.md)")
        ->check(CLI::IsMember({"auto", "invariant", "default", "plain"}))
        ->capture_default_str();
    c->add_option("--health-guard", o.health_guard,
                  "Relaxed verification: generate a record again with strict verification when its text is "
                  "echo-only or looped (docs/quality.md) (true/false)")
        ->capture_default_str();
    auto & rep = o.gen.repetition;
    c->add_option_function<std::string>(
         "--repetition-control",
         [&rep](const std::string & v) {
             if (v == "off") {
                 rep.no_repeat_ngram = 0;
                 rep.no_copy_ngram = 0;
                 rep.penalties.dry_multiplier = 0;
                 rep.penalties.repeat = 1.0f;
                 rep.penalties.frequency = 0;
                 rep.penalties.presence = 0;
             }
         },
         "off: no repetition rule at all (plain decoding's logits); on: the rules as set by the flags below "
         "[default: on]")
        ->check(CLI::IsMember({"on", "off"}))
        ->trigger_on_parse();
    c->add_option("--no-repeat-ngram", rep.no_repeat_ngram,
                  "Ban a token that would complete a token n-gram the output already holds (0 = off)")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    c->add_option("--dry-multiplier", rep.penalties.dry_multiplier,
                  "DRY penalty (llama.cpp's sampler) on tokens extending a repeated sequence (0 = off)")
        ->check(CLI::Range(0.0f, 100.0f))
        ->capture_default_str();
    c->add_option("--dry-base", rep.penalties.dry_base, "DRY: the penalty grows by this factor per repeated token")
        ->check(CLI::Range(1.0f, 10.0f))
        ->capture_default_str();
    c->add_option("--dry-allowed-length", rep.penalties.dry_allowed_length,
                  "DRY: repeats up to this many tokens are free")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    c->add_option("--dry-last-n", rep.penalties.dry_last_n, "DRY: tokens of history it looks at")
        ->check(CLI::Range(0, 1 << 20))
        ->capture_default_str();
    c->add_option("--repeat-penalty", rep.penalties.repeat, "Repeat penalty (1 = off; llama.cpp's penalties sampler)")
        ->check(CLI::Range(0.01f, 10.0f))
        ->capture_default_str();
    c->add_option("--frequency-penalty", rep.penalties.frequency, "Frequency penalty per occurrence (0 = off)")
        ->check(CLI::Range(-10.0f, 10.0f))
        ->capture_default_str();
    c->add_option("--presence-penalty", rep.penalties.presence, "Presence penalty (0 = off)")
        ->check(CLI::Range(-10.0f, 10.0f))
        ->capture_default_str();
    c->add_option("--penalty-last-n", rep.penalties.penalty_last_n,
                  "Repeat/frequency/presence penalties: tokens of history they look at")
        ->check(CLI::Range(0, 1 << 20))
        ->capture_default_str();
    c->add_option("--no-copy-ngram", rep.no_copy_ngram,
                  "Ban a token that would make the output's last M tokens a copy of M prompt tokens (0 = off)")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    c->add_option_function<std::string>(
         "--penalty-scope", [&rep](const std::string & v) { rep.penalties_see_prompt = v == "all"; },
         std::string("History DRY and the repeat/frequency/presence penalties see: output or all [default: ") +
             (rep.penalties_see_prompt ? "all" : "output") + "]")
        ->check(CLI::IsMember({"output", "all"}));
    c->add_option("--draft-nodes", o.spec.limits.max_nodes,
                  "Largest draft tree per forward pass (equal to --draft-depth: a single branch)")
        ->check(CLI::Range(0, 255))
        ->capture_default_str();
    c->add_option("--draft-depth", o.spec.limits.max_depth, "Deepest draft tree level")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    c->add_option_function<std::string>(
         "--budget", [&o](const std::string & v) { o.auto_budget = v == "auto"; },
         "auto: each step verifies the part of the draft tree that maximises expected tokens per unit of "
         "cost, from this machine's measured cost curve (dare calibrate); fixed: always the whole tree "
         "[default: auto]")
        ->check(CLI::IsMember({"auto", "fixed"}));
    c->add_option("--self-draft", o.spec.self_draft,
                  "--mode dare: also draft from the record's own prompt and output and merge that tree with the "
                  "pool's (true/false)")
        ->capture_default_str();
    c->add_option("--max-tokens", o.gen.max_tokens, "Most tokens generated per prompt")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->add_option("--ctx", o.n_ctx, "Context size in tokens (prompt + generated must fit)")
        ->check(CLI::Range(16u, 1u << 20))
        ->capture_default_str();
    c->add_option("--threads", o.n_threads, "CPU threads (0 = all hardware threads)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c->add_option("--temperature", o.gen.temperature, "0 = greedy decoding; > 0 samples from softmax(logits/T)")
        ->check(CLI::Range(0.0f, 100.0f))
        ->capture_default_str();
    c->add_option("--seed", o.gen.seed,
                  "Seed for sampling (--temperature > 0); each record's seed mixes it with the record id, so "
                  "resumed runs are reproducible. Greedy decoding does not use it")
        ->capture_default_str();
    c->add_flag("--verbose", o.verbose, "Show llama.cpp's own log");
}

void add_run_options(CLI::App * c, run_options & o) {
    c->add_option("--dataset", o.dataset,
                  "Dataset folder: MovieLens (ml-latest-small, ml-25m, ml-1m, ml-10m, ml-100k) or the generic "
                  "shape of docs/datasets.md")
        ->capture_default_str();
    c->add_option("--target", o.target, "items, users or both")
        ->check(CLI::IsMember({"items", "users", "both"}))
        ->capture_default_str();
    c->add_option("--out", o.out, "Run folder (knowledge.jsonl, summary.json, pools/, run.json)");
    c->add_option("--limit", o.limit,
                  "Generate for N records in all, warm-up included (a seeded sample; half items, half users with "
                  "--target both); 0 = every record")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c->add_option("--top-items", o.top_items,
                  "Only the N most-rated items (the --limit sample is drawn among them) and user histories over "
                  "their ratings; 0 = all (for `dare eval ctr --top-items N`)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c->add_option("--test-fraction", o.test_fraction,
                  "Leave each user's last share of ratings (the test part of `dare eval ctr --test-fraction`) out "
                  "of user prompts; 0 = whole history")
        ->check(CLI::Range(0.0, 0.99))
        ->capture_default_str();
    c->add_option_function<std::string>(
         "--parallel",
         [&o](const std::string & v) { o.gen.parallel = v == "auto" ? 0 : std::stoi(v); },
         std::string("Records decoded together, from any groups (continuous batching; each record drafts a chain "
                     "from its own group's pool, sized for the whole batch from the measured step cost): auto picks "
                     "B from this machine's measured cost curve (docs/usage.md), 1 = one record at a time with "
                     "draft trees [default: ") +
             (o.gen.parallel == 0 ? std::string("auto") : std::to_string(o.gen.parallel)) + "]")
        ->check(CLI::Validator(
            [](const std::string & v) {
                if (v == "auto") {
                    return std::string();
                }
                const bool digits = !v.empty() && v.size() <= 3 &&
                                    std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
                const int b = digits ? std::stoi(v) : 0;
                return b >= 1 && b <= 256 ? std::string() : "auto or a number from 1 to 256 (got '" + v + "')";
            },
            "auto|1-256"));
    c->add_option("--step-log", o.gen.step_log,
                  "With --parallel > 1: write one TSV line per batched decode step here (prompt, decode and draft "
                  "rows, tokens, ms): where the decoding time goes");
    c->add_option("--grouping", o.grouping,
                  "customized (users: BPR embeddings + k-means; items: genre groups), random (same number of "
                  "random groups) or none (one global pool)")
        ->check(CLI::IsMember({"customized", "random", "none"}))
        ->capture_default_str();
    c->add_option("--user-groups", o.user_groups, "k of the user k-means")->check(CLI::Range(1, 1000))->capture_default_str();
    c->add_option("--genre-groups", o.genre_groups, "JSON {\"Genre\": \"group\"} replacing the default MovieLens map");
    c->add_option("--warmup-fraction", o.warmup_fraction,
                  "Share of each group generated first to warm its pool (the same prompts, only earlier)")
        ->check(CLI::Range(0.0, 0.99))
        ->capture_default_str();
    c->add_option("--history-max", o.history_max, "Most recent ratings kept in a user prompt")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->add_option("--templates", o.templates,
                  "JSON {\"item\": ..., \"user\": ...} prompt templates; placeholders {title} {genres} / {history} "
                  "{profile}");
    c->add_option("--reuse-from", o.reuse_from,
                  "Earlier run folder made with the same decoding settings: its records whose prompts are unchanged "
                  "are copied instead of generated (incremental refresh: only new and changed users and items are "
                  "generated), and its knowledge seeds each group's pool");
    c->add_option("--pool-from", o.pool_from,
                  "Earlier run folder whose knowledge seeds each group's pool (periodic refresh: no warm-up phase)");
    c->add_option("--index", o.index, "Pool index: trie (DARE n-gram trie) or suffix (longest suffix match)")
        ->check(CLI::IsMember({"trie", "suffix"}))
        ->capture_default_str();
    c->add_option("--group-seed", o.seed, "Seed of the --limit sample and the grouping")->capture_default_str();
    c->add_flag("--strict-input", o.strict_input, "Fail on the first malformed dataset row instead of skipping it");
    c->add_flag("--force", o.force, "Continue a run folder made with other settings");
    add_decoding_options(c, o.gen);
}

namespace {

// CLI11 parses arguments given last-first.
void parse_args(CLI::App & app, const std::vector<std::string> & args) {
    std::vector<std::string> rev(args.rbegin(), args.rend());
    try {
        app.parse(rev);
    } catch (const CLI::ParseError & e) {
        throw error(e.what());
    }
}

}  // namespace

run_options parse_run_options(const std::vector<std::string> & args) {
    run_options o = default_run_options();
    CLI::App app{"dare run options", "dare run"};
    add_run_options(&app, o);
    parse_args(app, args);
    return o;
}

generate_job_options parse_decoding_options(const std::vector<std::string> & args) {
    generate_job_options o = default_generate_options();
    CLI::App app{"dare decoding options", "dare"};
    add_decoding_options(&app, o);
    parse_args(app, args);
    return o;
}

}  // namespace dare
