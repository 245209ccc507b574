// `dare generate` and `dare prompts` as library jobs.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dare/backend.h"
#include "dare/dataset.h"
#include "dare/error.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"
#include "dare/progress.h"
#include "dare/prompts.h"

namespace dare {

namespace {
// Writes to PATH.tmp then renames, so readers never see half a file.
void write_file_atomically(const std::string & path, const std::string & content) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::path(path).has_parent_path()) {
        fs::create_directories(fs::path(path).parent_path(), ec);
    }
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw error(path + ": cannot write");
        }
        out << content;
        if (!out.flush()) {
            throw error(path + ": write failed");
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        throw error(path + ": cannot rename into place: " + ec.message());
    }
}
}  // namespace

int64_t run_prompts_job(const prompts_job_options & o) {
    load_options lo;
    lo.strict = o.strict_input;
    const dataset d = load_dataset(o.dataset, lo);
    for (const auto & p : d.problems) {
        std::fprintf(stderr, "warning: %s:%ld: %s (row skipped)\n", p.file.c_str(), p.line, p.what.c_str());
    }
    const auto t = prompt_templates::kar_movies();
    std::string content;
    int64_t n = 0;
    auto emit = [&](const std::string & id, const std::string & prompt) {
        content += json{{"id", id}, {"prompt", prompt}}.dump() + "\n";
        ++n;
    };
    if (o.target == "items") {
        for (int32_t i : items_by_popularity(d)) {
            if (o.limit > 0 && n >= o.limit) {
                break;
            }
            emit(d.items[i].id, item_prompt(t, d.items[i]));
        }
    } else if (o.target == "users") {
        for (int32_t u = 0; u < static_cast<int32_t>(d.users.size()); ++u) {
            if (o.limit > 0 && n >= o.limit) {
                break;
            }
            emit(d.users[u].id, user_prompt(t, d, u, o.history_max));
        }
    } else {
        throw error("--target must be items or users (got '" + o.target + "')");
    }
    write_file_atomically(o.out, content);
    return n;
}

generate_job_summary run_generate_job(const generate_job_options & o) {
    if (o.mode != "vanilla") {
        throw error("--mode " + o.mode + " is not available in this build (supported: vanilla)");
    }
    if (o.gen.max_tokens < 1) {
        throw error("--max-tokens must be at least 1");
    }
    // 1. Validate all inputs before touching the output.
    const auto prompts = read_prompts_jsonl(o.prompts);
    model_options mo;
    mo.verbose = o.verbose;
    const model m(o.model, mo);
    std::vector<std::vector<token>> tokenized(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        const std::string text =
            o.raw_prompt ? prompts[i].prompt : m.apply_chat_template({{"user", prompts[i].prompt}}, true);
        tokenized[i] = m.tokenize(text, true, !o.raw_prompt);
    }
    context_options co;
    co.n_ctx = o.n_ctx;
    co.n_threads = o.n_threads;
    context ctx(m, co);
    for (size_t i = 0; i < prompts.size(); ++i) {
        try {
            check_fits_context(ctx, tokenized[i].size(), o.gen.max_tokens);
        } catch (const error & e) {
            throw error_at(o.prompts, prompts[i].line, e.what());
        }
    }

    // 2. Generate what is not yet in the output.
    record_log out(o.out, o.fresh);
    generate_job_summary s;
    for (const auto & p : prompts) {
        s.skipped += out.contains(p.id) ? 1 : 0;
    }
    if (out.repaired_torn_line()) {
        std::fprintf(stderr, "%s: cut off a torn last line left by an interrupted run\n", o.out.c_str());
    }
    if (s.skipped > 0) {
        std::fprintf(stderr, "%s: resuming, %lld of %zu records already done\n", o.out.c_str(),
                     static_cast<long long>(s.skipped), prompts.size());
    }
    const std::string model_name = std::filesystem::path(o.model).filename().string();
    progress prog("generate", static_cast<int64_t>(prompts.size()), s.skipped, o.log_interval_s);
    vanilla_decoder dec(ctx);
    for (size_t i = 0; i < prompts.size(); ++i) {
        const auto & p = prompts[i];
        if (out.contains(p.id)) {
            continue;
        }
        generation_options g = o.gen;
        g.seed = record_seed(o.gen.seed, p.id);
        const generation_result r = dec.generate(tokenized[i], g);
        json rec = {{"id", p.id_json},
                    {"text", r.text},
                    {"tokens", r.stats.tokens},
                    {"forward_passes", r.stats.forward_passes},
                    {"tau", r.stats.tau()},
                    {"prompt_tokens", r.stats.prompt_tokens},
                    {"stop", r.stopped_at_eog ? "eog" : "max_tokens"},
                    {"prefill_seconds", r.stats.prefill_seconds},
                    {"seconds", r.stats.seconds},
                    {"mode", o.mode},
                    {"temperature", o.gen.temperature},
                    {"model", model_name}};
        out.append(rec);
        ++s.generated;
        s.tokens += r.stats.tokens;
        s.forward_passes += r.stats.forward_passes;
        s.decode_seconds += r.stats.seconds;
        prog.record_done(r.stats.tokens, r.stats.forward_passes);
    }
    prog.finish();
    s.records = static_cast<int64_t>(out.size());
    return s;
}

}  // namespace dare
