// `dare run`: see dare/pipeline.h.
#include "dare/pipeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <utility>

#include "../util/mix.h"
#include "dare/dataset.h"
#include "dare/error.h"
#include "dare/grouping.h"
#include "dare/health.h"
#include "dare/paths.h"
#include "dare/progress.h"
#include "dare/prompts.h"
#include "dare/run_folder.h"
#include "dare/run_settings.h"
#include "dare/session.h"
#include "dare/signals.h"

namespace dare {

namespace fs = std::filesystem;

namespace {

json repetition_settings(const repetition_options & r) {
    const auto & p = r.penalties;
    return {{"no_repeat_ngram", r.no_repeat_ngram},   {"dry_multiplier", p.dry_multiplier},
            {"dry_base", p.dry_base},                 {"dry_allowed_length", p.dry_allowed_length},
            {"dry_last_n", p.dry_last_n},             {"repeat_penalty", p.repeat},
            {"frequency_penalty", p.frequency},       {"presence_penalty", p.presence},
            {"penalty_last_n", p.penalty_last_n},     {"no_copy_ngram", r.no_copy_ngram},
            {"penalty_scope", r.penalties_see_prompt ? "all" : "output"}};
}

json settings_of(const run_options & o, const dataset & d) {
    const auto & g = o.gen;
    json s = {{"dataset", fs::weakly_canonical(o.dataset).string()},
              {"dataset_format", d.format},
              {"target", o.target},
              {"limit", o.limit},
              {"model", fs::path(g.model).filename().string()},
              {"mode", g.mode},
              {"verify", g.verify},
              {"top_k", g.spec.verify.top_k},
              {"min_prob", g.spec.verify.min_prob},
              {"draft_nodes", g.spec.limits.max_nodes},
              {"draft_depth", g.spec.limits.max_depth},
              {"budget", g.auto_budget ? "auto" : "fixed"},
              {"max_tokens", g.gen.max_tokens},
              {"temperature", g.gen.temperature},
              {"ctx", g.n_ctx},
              {"index", o.index},
              {"grouping", o.grouping},
              {"user_groups", o.user_groups},
              {"genre_groups", o.genre_groups.empty() ? std::string("default") : read_file_bytes(o.genre_groups)},
              {"warmup_fraction", o.warmup_fraction},
              {"history_max", o.history_max},
              {"warmup_history", "whole"},
              {"templates", o.templates.empty() ? std::string("kar") : read_file_bytes(o.templates)},
              {"pool_from", o.pool_from.empty() ? std::string() : fs::weakly_canonical(o.pool_from).string()},
              {"seed", o.seed},
              {"repetition", repetition_settings(g.gen.repetition)},
              {"relaxed_rule", relaxed_rule_name(g.spec.verify.rule)},
              {"health_guard", g.health_guard},
              {"kv_layout", g.kv_layout}};
    if (o.top_items > 0) {  // only when set, so runs made before these options still resume
        s["top_items"] = o.top_items;
    }
    if (o.test_fraction > 0) {
        s["test_fraction"] = o.test_fraction;
    }
    if (!o.reuse_from.empty()) {
        s["reuse_from"] = fs::weakly_canonical(o.reuse_from).string();
    }
    if (g.chat_template != "auto") {  // a file's text, so that an edited file counts as other settings
        s["chat_template"] = fs::is_regular_file(g.chat_template) ? read_file_bytes(g.chat_template) : g.chat_template;
    }
    return s;
}

// A seeded sample of n of `count` indices (all when n >= count), in sample order.
std::vector<int32_t> sample(size_t count, int64_t n, uint64_t seed) {
    std::vector<int32_t> idx(count);
    for (size_t i = 0; i < count; ++i) {
        idx[i] = static_cast<int32_t>(i);
    }
    uint64_t s = seed;
    for (size_t i = count; i > 1; --i) {  // Fisher-Yates
        std::swap(idx[i - 1], idx[mix::splitmix64(s) % i]);
    }
    if (n > 0 && static_cast<size_t>(n) < count) {
        idx.resize(static_cast<size_t>(n));
    }
    return idx;
}

// Every user's history as the run sees it (interactions with the top items,
// the training part only with --test-fraction).
std::vector<std::vector<int32_t>> run_histories(const dataset & d, int32_t top_items, double test_fraction) {
    const std::vector<int32_t> kept = interactions_with_top_items(d, top_items);
    return user_histories(d, test_fraction > 0 ? time_split(d, kept, test_fraction).train : kept);
}

std::vector<group_plan> plan_kind(const std::string & kind, const dataset & d, const grouping & g,
                                  const std::vector<int32_t> & chosen, const run_options & o,
                                  const prompt_templates & t, const std::vector<std::vector<int32_t>> & hist) {
    std::vector<group_plan> groups(g.names.size());
    const auto sizes = g.sizes();
    for (size_t k = 0; k < groups.size(); ++k) {
        groups[k].kind = kind;
        groups[k].name = g.names[k];
        groups[k].dataset_size = sizes[k];
    }
    std::vector<std::vector<int32_t>> members(groups.size());
    for (int32_t i : chosen) {
        members[g.of[i]].push_back(i);
    }
    const bool warm = o.pool_from.empty() && o.reuse_from.empty() && o.gen.mode == "dare";
    for (size_t k = 0; k < groups.size(); ++k) {
        auto & gp = groups[k];
        gp.warmup = warm ? static_cast<int64_t>(std::floor(o.warmup_fraction * static_cast<double>(members[k].size()))) : 0;
        for (size_t r = 0; r < members[k].size(); ++r) {
            const int32_t i = members[k][r];
            planned_record p;
            p.kind = kind;
            p.group = gp.name;
            p.phase = static_cast<int64_t>(r) < gp.warmup ? "warmup" : "main";
            if (kind == "item") {
                p.id = d.items[i].id;
                p.prompt = item_prompt(t, d.items[i]);
                p.ground = item_grounding(d.items[i]);
            } else {
                p.id = d.users[i].id;
                const auto h = prompt_history(hist[i], false, o.history_max);
                p.prompt = user_prompt(t, d, i, h, o.history_max);
                p.ground = user_grounding(d, h);
            }
            gp.records.push_back(std::move(p));
        }
    }
    std::erase_if(groups, [](const group_plan & gp) { return gp.records.empty(); });
    return groups;
}

}  // namespace

run_options default_run_options() {
    run_options o;
    o.dataset = default_dataset_path();
    o.gen = default_generate_options();
    o.gen.mode = "dare";
    o.gen.verify = "relaxed";
    o.gen.parallel = 0;  // auto: B from the machine's cost curve
    return o;
}

run_plan plan_run(const run_options & o) {
    if (o.target != "items" && o.target != "users" && o.target != "both") {
        throw error("--target must be items, users or both (got '" + o.target + "')");
    }
    if (!(o.warmup_fraction >= 0.0 && o.warmup_fraction < 1.0)) {
        throw error("--warmup-fraction must be in [0, 1)");
    }
    if (o.limit < 0) {
        throw error("--limit must be >= 0");
    }
    if (o.top_items < 0) {
        throw error("--top-items must be >= 0");
    }
    if (!(o.test_fraction >= 0.0 && o.test_fraction < 1.0)) {
        throw error("--test-fraction must be in [0, 1)");
    }
    if (!o.reuse_from.empty() && !o.pool_from.empty()) {
        throw error("--reuse-from seeds the pools from its run already; drop --pool-from");
    }
    if (!o.gen.step_log.empty() && generation_session::one_at_a_time(o.gen)) {
        throw error("--step-log logs the steps of batched decoding, and these records are decoded one at a time "
                    "(--parallel 1, or auto with sampled decoding)");
    }
    parse_index_kind(o.index);
    // 1. Inputs: dataset, templates, groups.
    load_options lo;
    lo.strict = o.strict_input;
    const dataset d = load_dataset(o.dataset, lo);
    std::fprintf(stderr, "dataset %s (%s): %zu items, %zu users, %zu interactions, %zu malformed rows skipped\n",
                 d.name.c_str(), d.format.c_str(), d.items.size(), d.users.size(), d.interactions.size(),
                 d.problems.size());
    for (size_t i = 0; i < d.problems.size() && i < 10; ++i) {
        std::fprintf(stderr, "  %s:%ld: %s\n", d.problems[i].file.c_str(), d.problems[i].line, d.problems[i].what.c_str());
    }
    const prompt_templates t = o.templates.empty() ? prompt_templates::kar_movies() : prompt_templates::load(o.templates);
    const auto genre_map = o.genre_groups.empty() ? default_genre_groups() : load_genre_groups(o.genre_groups);
    run_plan out;
    out.settings = settings_of(o, d);

    const bool items = o.target != "users";
    const bool users = o.target != "items";
    if (items) {
        out.prompt_starts.push_back(template_start(t.item));
    }
    if (users) {
        out.prompt_starts.push_back(template_start(t.user));
    }
    const int64_t item_limit = o.limit == 0 ? 0 : users && items ? (o.limit + 1) / 2 : o.limit;
    const int64_t user_limit = o.limit == 0 ? 0 : users && items ? o.limit / 2 : o.limit;
    std::vector<group_plan> & plan = out.groups;
    json & group_info = out.group_info;
    const std::vector<int32_t> kept = interactions_with_top_items(d, o.top_items);
    if (items) {
        const grouping g = group_items(d, o.grouping, genre_map, o.seed);
        std::vector<int32_t> chosen;
        if (o.top_items > 0) {  // the sample is drawn among the N most-rated
            const auto pop = items_by_popularity(d);
            const size_t n = std::min(pop.size(), static_cast<size_t>(o.top_items));
            for (int32_t k : sample(n, item_limit, o.seed)) {
                chosen.push_back(pop[static_cast<size_t>(k)]);
            }
        } else {
            chosen = sample(d.items.size(), item_limit, o.seed);
        }
        auto gp = plan_kind("item", d, g, chosen, o, t, {});
        plan.insert(plan.end(), std::make_move_iterator(gp.begin()), std::make_move_iterator(gp.end()));
    }
    if (users) {
        const grouping g = group_users(d, o.grouping, o.user_groups, o.seed);
        const auto hist = run_histories(d, o.top_items, o.test_fraction);
        std::vector<int32_t> chosen;  // users without a rating left to describe them are skipped
        size_t skipped = 0;
        for (int32_t u : sample(d.users.size(), 0, o.seed + 1)) {
            if (user_limit > 0 && static_cast<int64_t>(chosen.size()) == user_limit) {
                break;
            }
            if (hist[static_cast<size_t>(u)].empty()) {
                ++skipped;
            } else {
                chosen.push_back(u);
            }
        }
        if (skipped > 0) {
            std::fprintf(stderr, "users: %zu without a rating in the selected history skipped\n", skipped);
        }
        auto gp = plan_kind("user", d, g, chosen, o, t, hist);
        plan.insert(plan.end(), std::make_move_iterator(gp.begin()), std::make_move_iterator(gp.end()));
    }
    for (const auto & gp : plan) {
        group_info.push_back({{"kind", gp.kind},
                              {"group", gp.name},
                              {"dataset_size", gp.dataset_size},
                              {"selected", gp.records.size()},
                              {"warmup", gp.warmup}});
        std::fprintf(stderr, "group %s/%s: %lld in the dataset, %zu selected (%lld warm-up)\n", gp.kind.c_str(),
                     gp.name.c_str(), static_cast<long long>(gp.dataset_size), gp.records.size(),
                     static_cast<long long>(gp.warmup));
    }
    json malformed = json::array();
    for (size_t i = 0; i < d.problems.size() && i < 100; ++i) {
        malformed.push_back(d.problems[i].file + ":" + std::to_string(d.problems[i].line) + ": " + d.problems[i].what);
    }
    out.dataset_info = {{"name", d.name},
                        {"format", d.format},
                        {"items", d.items.size()},
                        {"users", d.users.size()},
                        {"interactions", d.interactions.size()},
                        {"malformed_rows", d.problems.size()},
                        {"malformed", malformed}};
    return out;
}

json run_pipeline(const run_options & o) {
    if (o.out.empty()) {
        throw error("--out RUNDIR is required");  // before planning, which can take a while
    }
    run_plan rp = plan_run(o);
    std::vector<group_plan> & plan = rp.groups;
    run_folder folder(o, rp);  // the lock first, then the settings check

    // The model. A record whose prompt cannot fit the context is not
    // generated: it goes to errors.jsonl with the reason, and the job goes on.
    generation_session session(o.gen);
    register_prompt_openings(session, rp);
    const json errors = fit_prompts(session, plan);
    folder.begin();
    folder.write_errors(errors);
    int64_t total = 0, already = 0;  // already: done by an earlier invocation of this run
    for (const auto & gp : plan) {
        for (const auto & r : gp.records) {
            ++total;
            already += folder.contains(r.kind + ":" + r.id) ? 1 : 0;
        }
    }
    if (already > 0) {
        std::fprintf(stderr, "%s: resuming, %lld of %lld records already done\n", o.out.c_str(),
                     static_cast<long long>(already), static_cast<long long>(total));
    }
    const auto reused = static_cast<int64_t>(folder.reuse(plan).size());
    auto done_by_group = folder.done_by_group();
    session.restore_draft_estimate(folder.existing());
    auto seed_records = session.drafts_from_pool() ? seed_knowledge(o) : std::map<std::string, std::vector<json>>();
    const uint64_t fp = session.get_model().info().vocab_fingerprint;
    progress prog("run", total, already + reused);
    double spent = 0, spent_prefill = 0, spent_drafting = 0;  // records generated by this invocation
    // Every group with records left, its pool reloaded or rebuilt.
    struct group_state {
        const group_plan * gp = nullptr;
        std::unique_ptr<token_index> pool;
        int64_t in_pool = 0;  // records whose text the pool holds
    };
    std::vector<group_state> groups;
    for (const auto & gp : plan) {
        const std::string key = gp.kind + "/" + gp.name;
        int64_t todo = 0;
        for (const auto & r : gp.records) {
            todo += folder.contains(r.kind + ":" + r.id) ? 0 : 1;
        }
        if (todo == 0) {
            continue;
        }
        group_state g;
        g.gp = &gp;
        const auto & done = done_by_group[key];
        if (session.drafts_from_pool()) {
            // Reload the saved pool when it holds exactly the records done so
            // far; otherwise rebuild it: seed records, then this run's records.
            if (folder.saved_pool_records(gp.kind, gp.name) == static_cast<int64_t>(done.size())) {
                g.pool = load_pool(pool_stem(o.out, gp.kind, gp.name) + ".pool", fp);
            } else {
                g.pool = make_index(parse_index_kind(o.index), o.index_opts);
                fill_pool(session, *g.pool, seed_records[key], done);
            }
        }
        g.in_pool = static_cast<int64_t>(done.size());
        groups.push_back(std::move(g));
    }
    // Every group's warm-up records, then the rest, as one stream of records
    // across all groups, decoded --parallel at a time, each record drafting
    // from its own group's pool: a batch is not limited to one group's
    // records, and the first main records start while the last warm-up ones
    // (fewer than --parallel) are still being decoded, so that the batch
    // never drains between the two (their pools then lack those few texts).
    std::vector<std::pair<group_state *, const planned_record *>> todo;
    for (const bool warm : {true, false}) {
        for (auto & g : groups) {
            for (const auto & r : g.gp->records) {
                if ((r.phase == "warmup") == warm && !folder.contains(r.kind + ":" + r.id)) {
                    todo.emplace_back(&g, &r);
                }
            }
        }
    }
    session.generate_many(
        todo.size(),
        [&](size_t k) {
            const auto & [g, r] = todo[k];
            return generation_session::record_ref{r->tokens, r->prompt, r->kind + ":" + r->id, g->pool.get()};
        },
        [&](size_t k, generation_result && res) {
            const auto & [g, r] = todo[k];
            folder.append(run_record(session, *r, res));
            ++g->in_pool;
            prog.record_done(res.stats.tokens, res.stats.forward_passes);
            spent += res.stats.seconds;
            spent_prefill += res.stats.prefill_seconds;
            spent_drafting += res.stats.retrieval_seconds;
        });
    for (const auto & g : groups) {
        if (g.pool) {
            folder.save_pool(g.gp->kind, g.gp->name, pool_bytes(*g.pool, fp), g.in_pool);
        }
    }
    prog.finish();
    if (spent > 0) {  // with --parallel > 1 records share steps: shares of their overlapping times
        std::fprintf(stderr, "records' time: prefill %.0f%%, drafting %.0f%%, decoding and verification %.0f%%\n",
                     100.0 * spent_prefill / spent, 100.0 * spent_drafting / spent,
                     100.0 * std::max(0.0, spent - spent_prefill - spent_drafting) / spent);
    }
    return folder.finish();
}

std::span<const int32_t> prompt_history(std::span<const int32_t> history, bool earlier_half, int history_max) {
    if (earlier_half && history.size() > 1) {
        history = history.first(history.size() / 2);
    }
    if (history_max > 0 && history.size() > static_cast<size_t>(history_max)) {
        history = history.last(static_cast<size_t>(history_max));
    }
    return history;
}

json reassess_health(const std::string & rundir, const std::string & dataset_dir, bool write) {
    const std::string path = rundir + "/knowledge.jsonl";
    const json settings = read_run_settings(rundir + "/run.json");
    if (!fs::exists(path) || settings.empty()) {
        throw error(rundir + ": not a dare run folder (knowledge.jsonl and run.json)");
    }
    const std::string dir = dataset_dir.empty() ? settings.value("dataset", std::string()) : dataset_dir;
    const dataset d = load_dataset(dir);
    const auto hist = run_histories(d, settings.value("top_items", 0), settings.value("test_fraction", 0.0));
    const int history_max = settings.value("history_max", 30);
    // Runs made before "warmup_history" wrote warm-up user prompts from the
    // earlier half of the history.
    const bool legacy_warmup = !settings.contains("warmup_history");
    std::map<std::string, int32_t> item_of, user_of;
    for (size_t i = 0; i < d.items.size(); ++i) {
        item_of[d.items[i].id] = static_cast<int32_t>(i);
    }
    for (size_t u = 0; u < d.users.size(); ++u) {
        user_of[d.users[u].id] = static_cast<int32_t>(u);
    }
    std::vector<json> recs;
    for_each_jsonl_object(path, "knowledge file", [&](const json & j, long line) {
        if (!j.contains("kind") || !j.contains("prompt") || !j.contains("text") || !j["prompt"].is_string() ||
            !j["text"].is_string()) {
            throw error_at(path, line, "not a dare run record (kind, id, prompt, text)");
        }
        const std::string kind = j["kind"].get<std::string>(), id = id_text(j.value("id", json()));
        grounding_ref ref;
        if (kind == "item" && item_of.count(id)) {
            ref = item_grounding(d.items[static_cast<size_t>(item_of[id])]);
        } else if (kind == "user" && user_of.count(id)) {
            const int32_t u = user_of[id];
            ref = user_grounding(d, prompt_history(hist[static_cast<size_t>(u)],
                                                   j.value("phase", "") == "warmup" && legacy_warmup, history_max));
        } else {
            throw error_at(path, line, kind + " " + id + " is not in the dataset " + dir);
        }
        recs.push_back(j);
        recs.back()["health"] =
            health_json(measure_health(j["prompt"].get<std::string>(), j["text"].get<std::string>(), ref));
    });
    const json summary = summarize_records(rundir, [&](const std::function<void(const json &, long)> & fn) {
        for (size_t i = 0; i < recs.size(); ++i) {
            fn(recs[i], static_cast<long>(i + 1));
        }
    });
    if (write) {
        std::string out;
        for (const auto & r : recs) {
            out += r.dump() + "\n";
        }
        write_file_atomically(path, out);
        write_file_atomically(rundir + "/summary.json", summary.dump(2) + "\n");
    }
    return summary;
}

json summarize_run(const std::string & rundir) {
    const std::string path = rundir + "/knowledge.jsonl";
    if (!fs::exists(path)) {
        throw error(rundir + ": no knowledge.jsonl (not a dare run folder?)");
    }
    return summarize_records(rundir, [&](const std::function<void(const json &, long)> & fn) {
        for_each_jsonl_object(path, "knowledge file", fn);
    });
}

json summarize_records(const std::string & rundir, const record_source & each) {
    const std::string path = rundir + "/knowledge.jsonl";
    struct acc {
        int64_t records = 0, tokens = 0, passes = 0, regenerated = 0, reused = 0;
        double seconds = 0, prefill_seconds = 0;
        health_totals health;
        json to_json() const {
            json j = {{"records", records},
                      {"tokens", tokens},
                      {"forward_passes", passes},
                      {"seconds", seconds},
                      {"prefill_seconds", prefill_seconds},
                      {"tau", passes ? static_cast<double>(tokens) / passes : 0.0},
                      {"tokens_per_second", seconds > 0 ? tokens / seconds : 0.0},
                      {"regenerated", regenerated},
                      {"reused", reused}};
            if (health.records() > 0) {
                j["health"] = health.to_json();
            }
            return j;
        }
    };
    acc all;
    std::map<std::string, acc> by_kind;                  // item | user
    std::map<std::string, acc> by_group;                 // kind/group
    std::map<std::string, std::map<std::string, acc>> by_phase;  // kind/group -> phase
    each([&](const json & j, long line) {
        if (!j.contains("kind") || !j.contains("group") || !j.contains("tokens") || !j.contains("forward_passes") ||
            !j.contains("seconds")) {
            throw error_at(path, line, "not a dare run record (kind, group, tokens, forward_passes, seconds)");
        }
        const std::string kind = j["kind"].get<std::string>();
        const std::string key = kind + "/" + j["group"].get<std::string>();
        for (acc * a : {&all, &by_kind[kind], &by_group[key], &by_phase[key][j.value("phase", "main")]}) {
            ++a->records;
            a->tokens += j["tokens"].get<int64_t>();
            a->passes += j["forward_passes"].get<int64_t>();
            a->seconds += j["seconds"].get<double>();
            a->prefill_seconds += j.value("prefill_seconds", 0.0);
            a->regenerated += j.value("guard", "") == "regenerated" ? 1 : 0;
            a->reused += j.value("reused", false) ? 1 : 0;
            if (j.contains("health")) {
                a->health.add(j["health"]);
            }
        }
    });
    json groups = json::array();
    for (const auto & [key, a] : by_group) {
        json g = a.to_json();
        g["kind"] = key.substr(0, key.find('/'));
        g["group"] = key.substr(key.find('/') + 1);
        for (const auto & [phase, pa] : by_phase[key]) {
            g["phases"][phase] = pa.to_json();
        }
        groups.push_back(g);
    }
    json kinds = json::object();
    for (const auto & [kind, a] : by_kind) {
        kinds[kind] = a.to_json();
    }
    json s = {{"totals", all.to_json()}, {"kinds", kinds}, {"groups", groups}};
    if (fs::exists(rundir + "/errors.jsonl")) {  // records that could not be generated
        int64_t n = 0;
        for_each_jsonl_object(rundir + "/errors.jsonl", "errors file", [&](const json &, long) { ++n; });
        s["errors"] = n;
    }
    if (fs::exists(rundir + "/run.json")) {
        s["settings"] = read_run_settings(rundir + "/run.json");
    }
    if (fs::exists(rundir + "/plan.json")) {
        const json plan = json::parse(read_file_bytes(rundir + "/plan.json"), nullptr, false);
        if (plan.is_object()) {
            s["dataset"] = plan.value("dataset", json::object());
            s["group_sizes"] = plan.value("groups", json::array());
        }
    }
    return s;
}

}  // namespace dare
