// `dare generate` and `dare prompts` as library jobs.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dare/backend.h"
#include "dare/budget.h"
#include "dare/dataset.h"
#include "dare/error.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "dare/progress.h"
#include "dare/prompts.h"
#include "dare/session.h"

namespace dare {

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
        const auto hist = user_histories(d);
        for (int32_t u = 0; u < static_cast<int32_t>(d.users.size()); ++u) {
            if (o.limit > 0 && n >= o.limit) {
                break;
            }
            emit(d.users[u].id, user_prompt(t, d, u, hist[u], o.history_max));
        }
    } else {
        throw error("--target must be items or users (got '" + o.target + "')");
    }
    write_file_atomically(o.out, content);
    return n;
}

generate_job_options default_generate_options() {
    generate_job_options o;
    o.model = default_model_path();
    o.spec.limits = {32, 12};
    o.spec.self_draft = true;
    o.gen.repetition = default_repetition();
    o.spec.verify.rule = relaxed_rule::guarded;
    return o;
}

generate_job_summary run_generate_job(const generate_job_options & o) {
    if (o.mode == "dare" && o.pool.empty()) {
        throw error("--mode dare needs --pool FILE (build one with: dare pool build)");
    }
    if (o.mode != "dare" && !o.pool.empty()) {
        throw error("--pool only applies to --mode dare");
    }
    // 1. Validate all inputs before touching the output.
    const auto prompts = read_prompts_jsonl(o.prompts);
    generation_session session(o);
    const model & m = session.get_model();
    std::vector<std::vector<token>> tokenized(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
        tokenized[i] = session.prompt_tokens(prompts[i].prompt);
        try {
            session.check_fits(tokenized[i].size());
        } catch (const error & e) {
            throw error_at(o.prompts, prompts[i].line, e.what());
        }
    }
    std::unique_ptr<token_index> pool;
    if (session.drafts_from_pool()) {
        pool = load_pool(o.pool, m.info().vocab_fingerprint);
    }

    // 2. Generate what is not yet in the output (one writer at a time).
    const output_lock lock(o.out);
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
    // A resumed dare run drafts from what the interrupted run had added to
    // the pool: the records already written go back in.
    if (pool) {
        for (const auto & rec : out.existing()) {
            if (rec.contains("prompt") && rec["prompt"].is_string() && rec.contains("text") && rec["text"].is_string()) {
                session.reinsert(*pool, rec["prompt"].get<std::string>(), rec["text"].get<std::string>());
            }
        }
    }
    session.restore_draft_estimate(out.existing());
    progress prog("generate", static_cast<int64_t>(prompts.size()), s.skipped, o.log_interval_s);
    for (size_t i = 0; i < prompts.size(); ++i) {
        const auto & p = prompts[i];
        if (out.contains(p.id)) {
            continue;
        }
        const generation_result r = session.generate(tokenized[i], p.prompt, p.id, pool.get());
        out.append(session.record_json(p.id_json, p.prompt, r));
        ++s.generated;
        s.tokens += r.stats.tokens;
        s.forward_passes += r.stats.forward_passes;
        s.decode_seconds += r.stats.seconds;
        prog.record_done(r.stats.tokens, r.stats.forward_passes);
    }
    prog.finish();
    s.records = static_cast<int64_t>(out.size());
    if (pool && !o.save_pool.empty()) {
        save_pool(o.save_pool, *pool, m.info().vocab_fingerprint);
    }
    return s;
}

std::vector<corpus_record> read_corpus(const model & m, const std::string & path) {
    std::vector<corpus_record> out;
    for_each_jsonl_object(path, "corpus file", [&](const json & j, long lineno) {
        if (!j.contains("text") || !j["text"].is_string()) {
            throw error_at(path, lineno, "expected an object with a string \"text\"");
        }
        corpus_record r;
        r.line = lineno;
        if (j.contains("prompt")) {
            if (!j["prompt"].is_string()) {
                throw error_at(path, lineno, "\"prompt\" must be a string");
            }
            r.prompt = m.prompt_tokens(j["prompt"].get<std::string>());
        }
        r.text = m.tokenize(j["text"].get<std::string>(), false, false);
        out.push_back(std::move(r));
    });
    if (out.empty()) {
        throw error(path + ": no records in corpus");
    }
    return out;
}

pool_build_summary run_pool_build(const pool_build_options & o) {
    const model m(o.model, model_options{.chat_template = o.chat_template});
    auto idx = make_index(parse_index_kind(o.index), o.index_opts);
    pool_build_summary s;
    for (const auto & r : read_corpus(m, o.corpus)) {
        if (!r.prompt.empty()) {
            idx->insert(r.prompt, token_source::prompt);
        }
        idx->insert(r.text, token_source::output);
        ++s.records;
    }
    save_pool(o.out, *idx, m.info().vocab_fingerprint);
    s.tokens = idx->stored_tokens();
    s.bytes = idx->memory_bytes();
    s.bytes_per_token = idx->bytes_per_token();
    return s;
}

}  // namespace dare
