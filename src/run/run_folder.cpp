// The writer and worker sides of a dare run (contract in include/dare/run_folder.h).
#include "dare/run_folder.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "dare/error.h"
#include "dare/health.h"
#include "dare/pool.h"
#include "dare/run_settings.h"
#include "dare/signals.h"

namespace fs = std::filesystem;

namespace dare {

namespace {

// Settings that choose records and write their prompts: they may differ
// between a run and the run it reuses (the prompt comparison covers them).
bool shapes_records_only(const std::string & key) {
    static const std::set<std::string> keys = {"dataset",      "dataset_format",  "target",         "limit",
                                               "top_items",    "test_fraction",   "grouping",       "user_groups",
                                               "genre_groups", "warmup_fraction", "warmup_history", "history_max",
                                               "templates",    "pool_from",       "reuse_from",     "seed"};
    return keys.count(key) != 0;
}

// The run folder's lock, once its options are known to name one.
std::string lock_path(const run_options & o) {
    if (o.out.empty()) {
        throw error("--out RUNDIR is required");
    }
    return o.out + "/knowledge.jsonl";
}

// Knowledge records of an earlier run, by "kind/group"; `option` names the
// flag that gave the folder (--pool-from, --reuse-from), for errors.
std::map<std::string, std::vector<json>> earlier_knowledge(const std::string & rundir, const std::string & option) {
    const std::string path = rundir + "/knowledge.jsonl";
    if (!fs::exists(path)) {
        throw error(option + " " + rundir + ": no knowledge.jsonl there");
    }
    std::map<std::string, std::vector<json>> out;
    for_each_jsonl_object(path, "knowledge file", [&](const json & j, long) {
        if (j.contains("kind") && j.contains("group") && j.contains("prompt") && j.contains("text")) {
            out[j["kind"].get<std::string>() + "/" + j["group"].get<std::string>()].push_back(j);
        }
    });
    return out;
}

}  // namespace

std::string pool_stem(const std::string & rundir, const std::string & kind, const std::string & group) {
    return rundir + "/pools/" + kind + "-" + group;
}

json fit_prompts(const generation_session & session, std::vector<group_plan> & plan) {
    json errors = json::array();
    for (auto & gp : plan) {
        std::erase_if(gp.records, [&](planned_record & r) {
            throw_if_stopped();
            r.tokens = session.prompt_tokens(r.prompt);
            try {
                session.check_fits(r.tokens.size());
                return false;
            } catch (const error & e) {
                errors.push_back({{"kind", r.kind},
                                  {"id", r.id},
                                  {"group", r.group},
                                  {"phase", r.phase},
                                  {"prompt_tokens", r.tokens.size()},
                                  {"error", std::string(e.what()) + " (lower --history-max or raise --ctx)"}});
                return true;
            }
        });
    }
    return errors;
}

void register_prompt_openings(generation_session & session, const run_plan & plan) {
    for (const auto & start : plan.prompt_starts) {
        if (const size_t n = session.add_prompt_head(start)) {
            std::fprintf(stderr, "prompts opening \"%.40s\" share %zu tokens: decoded once per sequence and kept\n",
                         start.c_str(), n);
        }
    }
}

json run_record(const generation_session & session, const planned_record & r, const generation_result & res) {
    json rec = {{"kind", r.kind}, {"id", r.id}, {"group", r.group}, {"phase", r.phase}, {"prompt", r.prompt}};
    rec.update(session.record_fields(res));
    rec["health"] = health_json(measure_health(r.prompt, res.text, r.ground));
    return rec;
}

std::map<std::string, std::vector<json>> seed_knowledge(const run_options & o) {
    if (!o.pool_from.empty()) {
        return earlier_knowledge(o.pool_from, "--pool-from");
    }
    if (!o.reuse_from.empty()) {
        return earlier_knowledge(o.reuse_from, "--reuse-from");
    }
    return {};
}

void fill_pool(const generation_session & session, token_index & pool, const std::vector<json> & seeds,
               const std::vector<const json *> & done) {
    for (const auto & rec : seeds) {
        throw_if_stopped();
        session.reinsert(pool, rec["prompt"].get<std::string>(), rec["text"].get<std::string>());
    }
    for (const json * rec : done) {
        throw_if_stopped();
        if (!rec->value("reused", false)) {
            session.reinsert(pool, (*rec)["prompt"].get<std::string>(), (*rec)["text"].get<std::string>());
        }
    }
}

// ---- run_folder ----

run_folder::run_folder(const run_options & o, const run_plan & plan)
    : o_(o), plan_info_{plan.settings, plan.dataset_info, plan.group_info, {}, {}}, lock_(lock_path(o)) {
    check_run_settings(o_.out + "/run.json", plan_info_.settings, o_.force);
}

void run_folder::begin() {
    fs::create_directories(o_.out + "/pools");
    write_file_atomically(o_.out + "/run.json", plan_info_.settings.dump(2) + "\n");
    write_file_atomically(o_.out + "/plan.json",
                          json{{"dataset", plan_info_.dataset_info}, {"groups", plan_info_.group_info}}.dump(2) + "\n");
    out_ = std::make_unique<record_log>(o_.out + "/knowledge.jsonl");
    if (out_->repaired_torn_line()) {
        std::fprintf(stderr, "%s/knowledge.jsonl: cut off a torn last line left by an interrupted run\n", o_.out.c_str());
    }
}

record_log & run_folder::log() const {
    if (!out_) {
        throw error(o_.out + ": run folder used before begin()");
    }
    return *out_;
}

void run_folder::write_errors(const json & errors) {
    if (errors.empty()) {
        std::error_code ec;
        fs::remove(o_.out + "/errors.jsonl", ec);  // from an earlier run with other settings
        return;
    }
    std::fprintf(stderr, "%zu records cannot be generated, listed with the reason in %s/errors.jsonl; first: %s %s: %s\n",
                 errors.size(), o_.out.c_str(), errors[0]["kind"].get<std::string>().c_str(),
                 errors[0]["id"].get<std::string>().c_str(), errors[0]["error"].get<std::string>().c_str());
    std::string lines;
    for (const auto & e : errors) {
        lines += e.dump() + "\n";
    }
    write_file_atomically(o_.out + "/errors.jsonl", lines);
}

const std::vector<json> & run_folder::reuse(const std::vector<group_plan> & plan) {
    if (o_.reuse_from.empty()) {
        return reused_;
    }
    const std::string & old_dir = o_.reuse_from;
    const json before = read_run_settings(old_dir + "/run.json");
    if (before.empty()) {
        throw error("--reuse-from " + old_dir + ": not a dare run folder (no run.json)");
    }
    const std::string diff = settings_diff(before, plan_info_.settings, shapes_records_only);
    if (!diff.empty()) {
        throw error("--reuse-from " + old_dir + ": made with other decoding settings, so its records cannot be reused:" +
                    diff);
    }
    std::map<std::string, json> old;
    for_each_jsonl_object(old_dir + "/knowledge.jsonl", "knowledge file", [&](const json & j, long) {
        if (j.contains("prompt") && j.contains("text")) {
            old[record_key(j)] = j;
        }
    });
    for (const auto & gp : plan) {
        for (const auto & r : gp.records) {
            const std::string key = r.kind + ":" + r.id;
            const auto it = old.find(key);
            if (contains(key) || it == old.end() || it->second["prompt"] != r.prompt) {
                continue;
            }
            json rec = it->second;
            rec["group"] = r.group;
            rec["phase"] = r.phase;
            rec["reused"] = true;
            append(rec);
            reused_.push_back(std::move(rec));
        }
    }
    std::fprintf(stderr, "%s: %zu records reused from %s (unchanged prompts)\n", o_.out.c_str(), reused_.size(),
                 old_dir.c_str());
    return reused_;
}

std::map<std::string, std::vector<const json *>> run_folder::done_by_group() const {
    std::map<std::string, std::vector<const json *>> out;
    for (const auto * recs : {&existing(), &reused_}) {
        for (const auto & rec : *recs) {
            if (rec.contains("kind") && rec.contains("group")) {
                out[rec["kind"].get<std::string>() + "/" + rec["group"].get<std::string>()].push_back(&rec);
            }
        }
    }
    return out;
}

void run_folder::save_pool(const std::string & kind, const std::string & group, const std::string & pool_bytes,
                           int64_t records) const {
    const std::string stem = pool_stem(o_.out, kind, group);
    write_file_atomically(stem + ".pool", pool_bytes);
    write_file_atomically(stem + ".json", json{{"records", records}}.dump() + "\n");
}

int64_t run_folder::saved_pool_records(const std::string & kind, const std::string & group) const {
    const std::string stem = pool_stem(o_.out, kind, group);
    if (!fs::exists(stem + ".json") || !fs::exists(stem + ".pool")) {
        return -1;
    }
    const json manifest = json::parse(read_file_bytes(stem + ".json"), nullptr, false);
    return manifest.is_object() ? manifest.value("records", int64_t{-1}) : -1;
}

json run_folder::finish() const {
    const json summary = summarize_run(o_.out);
    write_file_atomically(o_.out + "/summary.json", summary.dump(2) + "\n");
    return summary;
}

// ---- run_worker ----

run_worker::run_worker(const run_options & o)
    : o_(o), plan_(plan_run(o)), session_(o.gen), errors_(fit_prompts(session_, plan_.groups)) {
    register_prompt_openings(session_, plan_);
    for (const auto & gp : plan_.groups) {
        for (const auto & r : gp.records) {
            by_key_[r.kind + ":" + r.id] = &r;
        }
    }
}

std::string run_worker::group_pool(const std::string & kind, const std::string & group, const std::vector<json> & done) {
    if (!session_.drafts_from_pool()) {
        return "";
    }
    if (!seeds_loaded_) {
        seeds_ = seed_knowledge(o_);
        seeds_loaded_ = true;
    }
    const auto pool = make_index(parse_index_kind(o_.index), o_.index_opts);
    std::vector<const json *> recs;
    recs.reserve(done.size());
    for (const auto & j : done) {
        recs.push_back(&j);
    }
    const auto it = seeds_.find(kind + "/" + group);
    fill_pool(session_, *pool, it == seeds_.end() ? std::vector<json>() : it->second, recs);
    return pool_bytes(*pool, session_.get_model().info().vocab_fingerprint);
}

shard_result run_worker::generate(const std::vector<std::string> & keys, const std::string & pool) {
    std::vector<const planned_record *> recs;
    recs.reserve(keys.size());
    for (const auto & k : keys) {
        const auto it = by_key_.find(k);
        if (it == by_key_.end()) {
            throw error("record " + k + " is not in this run's plan (or cannot be generated)");
        }
        if (!recs.empty() && (it->second->kind != recs[0]->kind || it->second->group != recs[0]->group)) {
            throw error("records " + keys[0] + " and " + k + " are of different groups; a shard is one group's");
        }
        recs.push_back(it->second);
    }
    const uint64_t fp = session_.get_model().info().vocab_fingerprint;
    std::unique_ptr<token_index> idx;
    if (session_.drafts_from_pool()) {
        idx = pool.empty() ? make_index(parse_index_kind(o_.index), o_.index_opts) : pool_from_bytes(pool, fp, "shard pool");
    }
    shard_result out;
    out.records.resize(recs.size());
    session_.generate_many(
        recs.size(),
        [&](size_t i) {
            return generation_session::record_ref{recs[i]->tokens, recs[i]->prompt, keys[i], idx.get()};
        },
        [&](size_t i, generation_result && res) { out.records[i] = run_record(session_, *recs[i], res); });
    if (idx) {
        out.pool = pool_bytes(*idx, fp);
    }
    return out;
}

}  // namespace dare
