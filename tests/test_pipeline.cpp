// dare run end to end on the bundled model and dataset (small samples, short
// outputs): the run folder's contents, warm-up and pool growth, report,
// refusal of changed settings, --pool-from, warm-up histories, and resumes
// after SIGKILL (strict, relaxed with its pools rebuilt, sampled), SIGTERM
// and SIGINT (parallel) that neither lose nor duplicate records.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "dare/batched.h"
#include "dare/cli_options.h"
#include "dare/dataset.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "dare/pipeline.h"
#include "dare/run_folder.h"
#include "dare/text_metrics.h"
#include "test_util.h"

using namespace dare_test;

namespace {

const std::string kSmall = "--limit 8 --max-tokens 16 --threads 2 --ctx 1024";

}  // namespace

TEST(Pipeline, RunWritesKnowledgeSummaryPoolsAndReport) {
    temp_dir t;
    const auto r = run_dare("run --out " + t / "run" + " " + kSmall);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto recs = read_records(t / "run/knowledge.jsonl");
    ASSERT_EQ(recs.size(), 8u);
    // The end of the run says how fast records came and where their time went.
    EXPECT_NE(r.output.find("8/8 records"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(" records/h"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("records' time: prefill "), std::string::npos) << r.output;
    // --parallel auto (the default) says what it chose.
    const auto chose = r.output.find("--parallel auto: ");
    ASSERT_NE(chose, std::string::npos) << r.output;
    const bool one_at_a_time = r.output.compare(chose, 20, "--parallel auto: 1 a") == 0;
    std::map<std::string, int> kinds, phases;
    for (const auto & j : recs) {
        for (const char * k : {"kind", "id", "group", "phase", "text", "tokens", "forward_passes", "tau", "seconds",
                               "model", "mode", "verify"}) {
            EXPECT_TRUE(j.contains(k)) << k;
        }
        ++kinds[j["kind"].get<std::string>()];
        ++phases[j["phase"].get<std::string>()];
        EXPECT_EQ(j["mode"], "dare");
        EXPECT_EQ(j["verify"], "relaxed");
        // One record at a time, the draft-size estimate a resumed run
        // restores (two positive numbers); batched records have none.
        if (one_at_a_time) {
            ASSERT_TRUE(j.contains("draft_estimate") && j["draft_estimate"].size() == 2) << j.dump();
            EXPECT_GT(j["draft_estimate"][0].get<double>(), 0.0);
            EXPECT_GT(j["draft_estimate"][1].get<double>(), 0.0);
        } else {
            EXPECT_FALSE(j.contains("draft_estimate")) << j.dump();
        }
        // Text health, measured against the record's own prompt and dataset facts.
        ASSERT_TRUE(j.contains("health")) << j.dump();
        const auto & h = j["health"];
        for (const char * k : {"new_words", "echo_only", "looped", "longest_repeat", "words", "distinct_2"}) {
            EXPECT_TRUE(h.contains(k)) << k;
        }
        EXPECT_EQ(h["words"], static_cast<int64_t>(dare::words_of(j["text"].get<std::string>()).size()));
        EXPECT_EQ(h["echo_only"], h["new_words"].get<double>() < 0.15);
        EXPECT_TRUE(j["kind"] == "item" ? h.contains("year_named") : h.contains("titles_named")) << h.dump();
        EXPECT_TRUE(j["guard"] == "passed" || j["guard"] == "regenerated" || j["guard"] == "strict_text") << j["guard"];
        EXPECT_TRUE(j.contains("relaxed"));
    }
    EXPECT_EQ(kinds["item"], 4);
    EXPECT_EQ(kinds["user"], 4);
    EXPECT_GT(phases["warmup"], 0);  // groups of 2+ records warm up first
    // Every group's pool is saved, with the number of records it holds.
    std::map<std::string, int> per_group;
    for (const auto & j : recs) {
        ++per_group[j["kind"].get<std::string>() + "-" + j["group"].get<std::string>()];
    }
    for (const auto & [g, n] : per_group) {
        ASSERT_TRUE(std::filesystem::exists(t / ("run/pools/" + g + ".pool"))) << g;
        const auto m = dare::json::parse(read_file(t / ("run/pools/" + g + ".json")));
        EXPECT_EQ(m["records"], n) << g;
    }
    const auto s = dare::json::parse(read_file(t / "run/summary.json"));
    EXPECT_EQ(s["totals"]["records"], 8);
    // Health per kind, group and phase; the guard's regenerations are counted.
    EXPECT_EQ(s["totals"]["health"]["records"], 8);
    EXPECT_EQ(s["kinds"]["item"]["health"]["records"], 4);
    EXPECT_EQ(s["kinds"]["user"]["records"], 4);
    int64_t regenerated = 0;
    for (const auto & j : recs) {
        regenerated += j["guard"] == "regenerated";
    }
    EXPECT_EQ(s["totals"]["regenerated"], regenerated);
    for (const auto & g : s["groups"]) {
        EXPECT_EQ(g["health"]["records"], g["records"]) << g.dump();
        for (const auto & [phase, p] : g["phases"].items()) {
            EXPECT_EQ(p["health"]["records"], p["records"]) << phase;
        }
    }
    EXPECT_EQ(s["dataset"]["format"], "ml-latest");
    EXPECT_FALSE(s["group_sizes"].empty());
    EXPECT_EQ(s["settings"]["grouping"], "customized");
    const auto rep = run_dare("report " + t / "run");
    ASSERT_EQ(rep.exit_code, 0) << rep.output;
    EXPECT_NE(rep.output.find("| group | phase |"), std::string::npos) << rep.output;
    EXPECT_NE(rep.output.find("| echo-only | looped | new words | words | grounding | regenerated |"), std::string::npos)
        << rep.output;
    EXPECT_NE(read_file(t / "run/report.html").find("unhealthy share"), std::string::npos);
    EXPECT_NE(read_file(t / "run/report.html").find("<svg"), std::string::npos);

    // dare eval health measures the same health again (same definitions);
    // --write puts it back into records whose health object was changed.
    const auto before_health = read_records(t / "run/knowledge.jsonl");
    std::string edited;
    for (auto j : before_health) {
        j["health"] = dare::json::object();
        edited += j.dump() + "\n";
    }
    write_file(t / "run/knowledge.jsonl", edited);
    const auto again = run_dare("eval health " + t / "run" + " --write");
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_NE(again.output.find("| echo-only | looped |"), std::string::npos) << again.output;
    const auto after_health = read_records(t / "run/knowledge.jsonl");
    ASSERT_EQ(after_health.size(), before_health.size());
    for (size_t i = 0; i < after_health.size(); ++i) {
        EXPECT_EQ(after_health[i]["health"], before_health[i]["health"]) << i;
        EXPECT_EQ(after_health[i]["text"], before_health[i]["text"]);
    }
    // A record the dataset does not know is an error naming the line; nothing is rewritten.
    std::filesystem::create_directories(t / "bad");
    std::filesystem::copy_file(t / "run/run.json", t / "bad/run.json");
    write_file(t / "bad/knowledge.jsonl", R"({"kind": "item", "id": "no-such-movie", "group": "g", "prompt": "p", "text": "t", "tokens": 1, "forward_passes": 1, "seconds": 1})" "\n");
    const auto bad = run_dare("eval health " + t / "bad" + " --write");
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.output.find("knowledge.jsonl:1: item no-such-movie is not in the dataset"), std::string::npos)
        << bad.output;

    // Changed settings are refused (nothing written), unless --force.
    const size_t before = count_lines(t / "run/knowledge.jsonl");
    const auto changed = run_dare("run --out " + t / "run" + " " + kSmall + " --top-k 3");
    EXPECT_EQ(changed.exit_code, 1);
    EXPECT_NE(changed.output.find("top_k"), std::string::npos) << changed.output;
    EXPECT_EQ(count_lines(t / "run/knowledge.jsonl"), before);
    const auto forced = run_dare("run --out " + t / "run" + " " + kSmall + " --top-k 3 --force");
    EXPECT_EQ(forced.exit_code, 0) << forced.output;
    EXPECT_EQ(count_lines(t / "run/knowledge.jsonl"), before);  // all done already

    // --pool-from: the pools start from the earlier run, so no warm-up
    // phase; and since the earlier run wrote knowledge for these very
    // records, drafts from the seeded pools are accepted far more often
    // than from fresh pools (one record at a time, where draft trees are
    // verified whatever the batch costs).
    const auto refresh =
        run_dare("run --out " + t / "run2" + " " + kSmall + " --parallel 1 --pool-from " + t / "run");
    ASSERT_EQ(refresh.exit_code, 0) << refresh.output;
    ASSERT_EQ(run_dare("run --out " + t / "run1" + " " + kSmall + " --parallel 1").exit_code, 0);
    const auto fresh = read_records(t / "run1/knowledge.jsonl");
    const auto recs2 = read_records(t / "run2/knowledge.jsonl");
    ASSERT_EQ(recs2.size(), recs.size());
    for (const auto & j : recs2) {
        EXPECT_EQ(j["phase"], "main");
    }
    auto tau = [](const std::vector<dare::json> & rs) {
        double tokens = 0, passes = 0;
        for (const auto & j : rs) {
            tokens += j["tokens"].get<double>();
            passes += j["forward_passes"].get<double>();
        }
        return tokens / passes;
    };
    std::printf("tau with fresh pools %.2f, with pools seeded from the same records' knowledge %.2f\n", tau(fresh),
                tau(recs2));
    EXPECT_GT(tau(recs2), tau(fresh) + 0.3);
}

namespace {

struct stopped_run {
    size_t lines = 0;    // records in knowledge.jsonl when the signal was sent
    int exit_code = -1;  // 128 + signal when killed by it
    std::string output;  // the run's stdout and stderr
};

// Starts `dare run --out OUT ARGS`, sends it `sig` once knowledge.jsonl holds
// `lines` records (after calling `meanwhile` with its pid, if given), and
// waits for it to end.
stopped_run run_and_signal(const std::string & out, const std::string & args, size_t lines, int sig = SIGKILL,
                           const std::function<void(pid_t)> & meanwhile = {}) {
    const std::string log = out + ".log";
    const dare_child child = start_dare("run --out " + out + " " + args, log);
    const pid_t pid = child.pid;
    stopped_run r;
    if (pid <= 0) {
        wait_dare(child);
        return r;
    }
    const std::string records = out + "/knowledge.jsonl";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline && count_lines(records) < lines) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (meanwhile) {
        meanwhile(pid);
    }
    r.lines = count_lines(records);
    kill(pid, sig);
    r.exit_code = wait_dare(child);
    r.output = read_file(log);
    return r;
}

// Every record of `whole` exactly once in `resumed`; returns how many texts match.
size_t compare_runs(const std::string & whole, const std::string & resumed, size_t n) {
    const auto a = read_records(whole + "/knowledge.jsonl");
    const auto b = read_records(resumed + "/knowledge.jsonl");
    EXPECT_EQ(b.size(), n);
    std::map<std::string, std::string> want;
    for (const auto & j : a) {
        want[dare::record_key(j)] = j["text"];
    }
    std::set<std::string> seen;
    size_t same = 0;
    for (const auto & j : b) {
        const auto key = dare::record_key(j);
        EXPECT_TRUE(seen.insert(key).second) << "duplicate " << key;
        EXPECT_TRUE(want.count(key)) << key;
        same += want.count(key) && j["text"] == want[key];
    }
    return same;
}

// Runs `dare run ARGS` (10 records) whole, then again stopped by `sig` after
// 4 records and resumed (with its saved pools deleted first when
// `drop_pools`), and expects the resumed run to hold exactly the whole run's
// records and texts; when `verify` is given, every record carries it and
// drafts were accepted. SIGINT and SIGTERM must end the run with 128 + the
// signal and a line saying how to resume.
void expect_resume_writes_the_same(temp_dir & t, const std::string & args, bool drop_pools, const char * verify,
                                   int sig = SIGKILL) {
    ASSERT_EQ(run_dare("run --out " + t / "whole" + " " + args).exit_code, 0);
    const std::string out = t / "killed";
    const stopped_run stopped = run_and_signal(out, args, 4, sig);
    ASSERT_GE(stopped.lines, 4u);
    ASSERT_LT(stopped.lines, 10u) << "the run finished before the signal; nothing was tested";
    EXPECT_EQ(stopped.exit_code, 128 + sig) << stopped.output;
    if (sig != SIGKILL) {
        EXPECT_NE(stopped.output.find("rerun the same command to resume"), std::string::npos) << stopped.output;
    }
    if (drop_pools) {
        std::filesystem::remove_all(out + "/pools");
    }
    const auto again = run_dare("run --out " + out + " " + args);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_NE(again.output.find("resuming"), std::string::npos) << again.output;
    EXPECT_EQ(compare_runs(t / "whole", out, 10), 10u);
    if (verify) {
        int64_t accepted = 0;
        for (const auto & j : read_records(out + "/knowledge.jsonl")) {
            EXPECT_EQ(j["verify"], verify);
            accepted += j["accepted_tokens"].get<int64_t>();
        }
        EXPECT_GT(accepted, 0);
    }
}

}  // namespace

TEST(Pipeline, ResumesAfterSigkillWithoutLossOrDuplicates) {
    temp_dir t;
    // Strict verification is lossless, so the resumed run's texts must equal
    // an uninterrupted run's whatever the pools held at the kill.
    expect_resume_writes_the_same(t, "--limit 10 --max-tokens 24 --threads 2 --ctx 1024 --verify strict --parallel 1",
                                  false, nullptr);
}

// A scheduler's SIGTERM: the run drops the record in flight, exits 143 saying
// how to resume, and the rerun writes exactly the uninterrupted run's records.
TEST(Pipeline, SigtermStopsCleanlyAndTheRerunResumes) {
    temp_dir t;
    expect_resume_writes_the_same(t, "--limit 10 --max-tokens 24 --threads 2 --ctx 1024 --verify strict --parallel 1",
                                  false, nullptr, SIGTERM);
}

TEST(Pipeline, ResumedRelaxedRunRebuildsItsPools) {
    // The default configuration (relaxed verification) drafts from its
    // group pools, so its texts depend on what they hold. A run killed with
    // its saved pools gone must rebuild each pool from the records it kept,
    // in their order, and then write what an uninterrupted run writes (one
    // record at a time, relaxed decoding is deterministic; batched, its
    // drafts depend on which records share a step).
    temp_dir t;
    expect_resume_writes_the_same(t, "--limit 10 --max-tokens 24 --threads 2 --ctx 1024 --parallel 1", true,
                                  "relaxed");
}

TEST(Pipeline, WarmupRecordsHaveThePromptsOfEveryOtherMode) {
    // The warm-up only orders a group's records (its first share fills the
    // pool): every record keeps the prompt plain decoding gives it, so a
    // user's knowledge is written from the whole (latest --history-max)
    // history and every mode runs the same job.
    dare::run_options o = dare::default_run_options();
    o.target = "users";
    o.limit = 12;
    auto prompts = [](const dare::run_plan & plan, int64_t & warm) {
        std::map<std::string, std::string> out;
        for (const auto & gp : plan.groups) {
            warm += gp.warmup;
            for (const auto & r : gp.records) {
                out[r.id] = r.prompt;
            }
        }
        return out;
    };
    int64_t warm_dare = 0, warm_vanilla = 0;
    const auto dare_prompts = prompts(dare::plan_run(o), warm_dare);
    o.gen.mode = "vanilla";
    const auto vanilla_prompts = prompts(dare::plan_run(o), warm_vanilla);
    EXPECT_GT(warm_dare, 0);
    EXPECT_EQ(warm_vanilla, 0);
    EXPECT_EQ(dare_prompts.size(), 12u);
    EXPECT_EQ(dare_prompts, vanilla_prompts);
    EXPECT_EQ(dare::plan_run(o).settings["warmup_history"], "whole");
    // The earlier half remains for the warm-up records of run folders made
    // before that setting (dare eval health re-measures their grounding).
    const std::vector<int32_t> h = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    auto of = [](std::span<const int32_t> s) { return std::vector<int32_t>(s.begin(), s.end()); };
    EXPECT_EQ(of(dare::prompt_history(h, true, 0)), (std::vector<int32_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(of(dare::prompt_history(h, false, 0)), h);
    EXPECT_EQ(of(dare::prompt_history(h, true, 3)), (std::vector<int32_t>{3, 4, 5}));
    EXPECT_EQ(of(dare::prompt_history(h, false, 3)), (std::vector<int32_t>{8, 9, 10}));
    const std::vector<int32_t> one = {7};
    EXPECT_EQ(of(dare::prompt_history(one, true, 0)), one);  // nothing to halve
}

TEST(Pipeline, SampledRunIsReproducibleAcrossAResume) {
    // Lossless speculative sampling end to end: each record's seed mixes the
    // run's seed with the record's id, so a killed and resumed run writes
    // the texts an uninterrupted run writes, and another seed other texts.
    temp_dir t;
    const std::string args = "--limit 10 --max-tokens 24 --threads 2 --ctx 1024 --verify sample --temperature 0.8";
    expect_resume_writes_the_same(t, args, false, "sample");
    ASSERT_EQ(run_dare("run --out " + t / "seed2" + " " + args + " --seed 2").exit_code, 0);
    EXPECT_LT(compare_runs(t / "whole", t / "seed2", 10), 5u);
    // Sampling without --verify sample is refused before anything is written.
    const auto refused = run_dare("run --out " + t / "refused" + " --limit 2 --max-tokens 8 --temperature 0.8");
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.output.find("needs --verify sample"), std::string::npos) << refused.output;
    EXPECT_FALSE(std::filesystem::exists(t / "refused/knowledge.jsonl"));
}

TEST(Pipeline, ParallelRunResumesAndMatchesOneAtATime) {
    temp_dir t;
    const std::string args = "--limit 12 --max-tokens 24 --threads 2 --ctx 1024 --verify strict";
    ASSERT_EQ(run_dare("run --out " + t / "whole" + " " + args + " --parallel 1").exit_code, 0);
    const std::string out = t / "parallel";
    // Ctrl-C mid-batch: the records in flight are dropped, exit 130.
    const stopped_run stopped = run_and_signal(out, args + " --parallel 4", 3, SIGINT);
    ASSERT_GE(stopped.lines, 3u);
    ASSERT_LT(stopped.lines, 12u) << "the run finished before the signal; nothing was tested";
    EXPECT_EQ(stopped.exit_code, 130) << stopped.output;
    EXPECT_NE(stopped.output.find("interrupted by SIGINT"), std::string::npos) << stopped.output;
    const std::string steps = t / "steps.tsv";
    const size_t kept = read_records(out + "/knowledge.jsonl").size();  // the stopped run's records
    const auto again = run_dare("run --out " + out + " " + args + " --parallel 4 --step-log " + steps);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    // The resumed invocation's step log: one line per batched step, whose
    // prompt rows and tokens are those of the records it wrote.
    const auto recs = read_records(out + "/knowledge.jsonl");
    ASSERT_EQ(recs.size(), 12u);
    int64_t want_prompt_rows = 0, want_tokens = 0;
    for (size_t i = kept; i < recs.size(); ++i) {
        want_prompt_rows += recs[i]["prompt_tokens"].get<int64_t>() - recs[i]["prompt_tokens_reused"].get<int64_t>();
        want_tokens += recs[i]["tokens"].get<int64_t>();
    }
    std::istringstream log(read_file(steps));
    std::string line;
    ASSERT_TRUE(std::getline(log, line));
    EXPECT_EQ(line, std::string("step\t") + dare::batched_step_header);
    int64_t prompt_rows = 0, tokens = 0, n_steps = 0;
    while (std::getline(log, line)) {
        int64_t step = 0, prefill = 0, decode = 0, draft = 0, tok = 0;
        std::istringstream cols(line);
        ASSERT_TRUE(cols >> step >> prefill >> decode >> draft >> tok) << line;
        EXPECT_EQ(step, n_steps++);
        prompt_rows += prefill;
        tokens += tok;
    }
    EXPECT_EQ(prompt_rows, want_prompt_rows);
    EXPECT_EQ(tokens, want_tokens);
    // One record at a time has no batched steps to log: refused up front.
    const auto refused = run_dare("run --out " + t / "seq" + " " + args + " --parallel 1 --step-log " + steps);
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.output.find("--step-log"), std::string::npos) << refused.output;
    EXPECT_FALSE(std::filesystem::exists(t / "seq"));
    // Batched strict decoding is one-at-a-time decoding's text exactly (each
    // slot has its own KV stream: tests/test_batched.cpp).
    const size_t same = compare_runs(t / "whole", out, 12);
    std::printf("--parallel 4: %zu of 12 texts equal to --parallel 1\n", same);
    EXPECT_EQ(same, 12u);
}

// Templates whose prompts of a kind open with the same text: that opening
// is decoded once per sequence and kept between records, one at a time and
// in batches, and strict texts stay those of one record at a time.
TEST(Pipeline, TemplateOpeningsAreKeptBetweenRecords) {
    temp_dir t;
    write_file(t / "templates.json",
               R"({"item": "Describe the attributes of the movie named at the end, and introduce it. The movie: {title}.",)"
               R"( "user": "Analyze a user's preferences on movies from the viewing history given at the end. )"
               R"(Given {profile} movie viewing history over time: {history}."})");
    const std::string args = "--limit 8 --max-tokens 16 --threads 2 --ctx 1024 --verify strict --templates " +
                             t / "templates.json";
    const auto one = run_dare("run --out " + t / "one" + " " + args + " --parallel 1");
    ASSERT_EQ(one.exit_code, 0) << one.output;
    EXPECT_NE(one.output.find("share"), std::string::npos) << one.output;
    const auto batched = run_dare("run --out " + t / "batched" + " " + args + " --parallel 2");
    ASSERT_EQ(batched.exit_code, 0) << batched.output;
    for (const char * run : {"one", "batched"}) {
        std::map<std::string, std::set<int64_t>> kept;  // kind -> prompt_tokens_reused values
        for (const auto & r : read_records(t / run + "/knowledge.jsonl")) {
            kept[r["kind"].get<std::string>()].insert(r["prompt_tokens_reused"].get<int64_t>());
        }
        for (const char * kind : {"item", "user"}) {
            // The first record of a sequence decodes the opening, later ones keep it.
            ASSERT_EQ(kept[kind].size(), 2u) << run << " " << kind;
            EXPECT_EQ(*kept[kind].begin(), 0) << run << " " << kind;
            EXPECT_GE(*kept[kind].rbegin(), static_cast<int64_t>(dare::model::kMinPromptHead)) << run << " " << kind;
        }
    }
    EXPECT_EQ(compare_runs(t / "one", t / "batched", 8), 8u);
}

TEST(Pipeline, AWorkerCutsPromptsAsTheRunDoes) {
    // run_worker (the Ray actors' engine) registers the templates' openings
    // as `dare run` does: its sequences keep them, and its strict texts are
    // the CLI's.
    temp_dir t;
    write_file(
        t / "templates.json",
        R"({"item": "Describe the attributes of the movie named at the end, and introduce it. The movie: {title}.",)"
        R"( "user": "Given {profile} movie viewing history over time: {history}."})");
    const std::vector<std::string> args = {
        "--limit",  "6",      "--max-tokens", "16", "--threads", "2",     "--ctx",       "1024",
        "--verify", "strict", "--parallel",   "1",  "--target",  "items", "--templates", t / "templates.json"};
    std::string cli = "run --out " + t / "cli";
    for (const auto & a : args) {
        cli += " " + a;
    }
    const auto r = run_dare(cli);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, std::string> want;
    for (const auto & j : read_records(t / "cli/knowledge.jsonl")) {
        want[dare::record_key(j)] = j["text"];
    }
    std::vector<std::string> wargs = {"--out", t / "worker"};
    wargs.insert(wargs.end(), args.begin(), args.end());
    const dare::run_options o = dare::parse_run_options(wargs);
    const dare::run_plan plan = dare::plan_run(o);
    dare::run_worker w(o);
    size_t records = 0;
    for (const auto & g : plan.groups) {
        std::vector<std::string> keys;
        for (const auto & rec : g.records) {
            keys.push_back(rec.kind + ":" + rec.id);
        }
        const auto out = w.generate(keys, w.group_pool(g.kind, g.name, {}));
        ASSERT_EQ(out.records.size(), keys.size());
        for (size_t i = 0; i < keys.size(); ++i) {
            const auto & j = out.records[i];
            EXPECT_EQ(j["text"], want[keys[i]]) << keys[i];
            // The worker's one sequence keeps the opening from its last prompt.
            if (records + i > 0) {
                EXPECT_GE(j["prompt_tokens_reused"].get<int64_t>(), static_cast<int64_t>(dare::model::kMinPromptHead))
                    << keys[i];
            }
        }
        records += keys.size();
    }
    EXPECT_EQ(records, want.size());
}

TEST(Pipeline, TopItemsAndTestFractionShapeTheRecords) {
    // --top-items 20: items only among the 20 most-rated; --test-fraction 0.2:
    // no user prompt names a movie of that user's test part (the split
    // `dare eval ctr --top-items 20 --test-fraction 0.2` scores on), and the
    // latest training rating is still there.
    temp_dir t;
    const auto r = run_dare("run --out " + t / "run" +
                            " --top-items 20 --test-fraction 0.2 --limit 12 --max-tokens 4 --threads 2 --mode vanilla");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto d = dare::load_dataset(dare::default_dataset_path());
    const auto pop = dare::items_by_popularity(d);
    std::set<std::string> top;
    for (size_t k = 0; k < 20; ++k) {
        top.insert(d.items[pop[k]].id);
    }
    std::map<std::string, int32_t> user_index;
    for (size_t u = 0; u < d.users.size(); ++u) {
        user_index[d.users[u].id] = static_cast<int32_t>(u);
    }
    const auto split = dare::time_split(d, dare::interactions_with_top_items(d, 20), 0.2);
    const auto train = dare::user_histories(d, split.train);
    std::map<int32_t, std::vector<int32_t>> test;
    for (int32_t k : split.test) {
        test[d.interactions[k].user].push_back(k);
    }
    int items = 0, users = 0;
    for (const auto & j : read_records(t / "run/knowledge.jsonl")) {
        const std::string prompt = j["prompt"];
        if (j["kind"] == "item") {
            ++items;
            EXPECT_TRUE(top.count(j["id"].get<std::string>())) << j["id"];
            continue;
        }
        ++users;
        const int32_t u = user_index.at(j["id"].get<std::string>());
        ASSERT_FALSE(train[u].empty());
        EXPECT_NE(prompt.find(d.items[d.interactions[train[u].back()].item].title), std::string::npos) << prompt;
        for (int32_t k : test[u]) {
            EXPECT_EQ(prompt.find(d.items[d.interactions[k].item].title), std::string::npos)
                << "user " << j["id"] << " prompt names test movie " << d.items[d.interactions[k].item].title;
        }
    }
    EXPECT_EQ(items, 6);
    EXPECT_EQ(users, 6);
}

// plan_run is what dare run does before the model: the same records, groups,
// phases and prompts, and nothing written.
TEST(Pipeline, PlanIsWhatTheRunGenerates) {
    temp_dir t;
    dare::run_options o = dare::default_run_options();
    o.out = t / "run";
    o.limit = 10;
    o.gen.gen.max_tokens = 4;
    const dare::run_plan plan = dare::plan_run(o);
    EXPECT_FALSE(std::filesystem::exists(o.out));
    std::map<std::string, std::string> planned;  // kind:id -> group/phase/prompt
    for (const auto & gp : plan.groups) {
        EXPECT_GE(static_cast<int64_t>(gp.records.size()), gp.warmup);
        for (const auto & r : gp.records) {
            EXPECT_EQ(r.kind, gp.kind);
            EXPECT_EQ(r.group, gp.name);
            planned[r.kind + ":" + r.id] = r.group + "/" + r.phase + "/" + r.prompt;
        }
    }
    EXPECT_EQ(planned.size(), 10u);
    EXPECT_EQ(plan.settings["limit"], 10);
    ASSERT_EQ(run_dare("run --out " + o.out + " --limit 10 --max-tokens 4 --threads 2").exit_code, 0);
    const auto recs = read_records(o.out + "/knowledge.jsonl");
    ASSERT_EQ(recs.size(), 10u);
    for (const auto & j : recs) {
        const std::string key = dare::record_key(j);
        ASSERT_TRUE(planned.count(key)) << key;
        EXPECT_EQ(planned[key], j["group"].get<std::string>() + "/" + j["phase"].get<std::string>() + "/" +
                                    j["prompt"].get<std::string>());
    }
    EXPECT_EQ(dare::json::parse(read_file(o.out + "/run.json")), plan.settings);
}

// A record that cannot be generated (here user prompts longer than the
// context) lands in errors.jsonl with its reason; the rest are generated and
// the summary and report count the errors.
TEST(Pipeline, RecordsThatCannotBeGeneratedGoToErrorsJsonl) {
    temp_dir t;
    const auto r = run_dare("run --out " + t / "run" + " --limit 8 --max-tokens 8 --threads 2 --ctx 200 --verify strict");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto errors = read_records(t / "run/errors.jsonl");
    const auto done = read_records(t / "run/knowledge.jsonl");
    ASSERT_FALSE(errors.empty()) << r.output;
    EXPECT_EQ(errors.size() + done.size(), 8u);
    std::set<std::string> keys;
    for (const auto & e : errors) {
        EXPECT_EQ(e["kind"], "user");  // ~400-token user prompts; ~60-token item prompts fit
        EXPECT_GT(e["prompt_tokens"].get<int>(), 150);
        EXPECT_NE(e["error"].get<std::string>().find("raise --ctx"), std::string::npos) << e.dump();
        keys.insert("user:" + e["id"].get<std::string>());
    }
    for (const auto & j : done) {
        EXPECT_FALSE(keys.count(dare::record_key(j))) << dare::record_key(j);
    }
    EXPECT_NE(r.output.find("cannot be generated"), std::string::npos) << r.output;
    const auto summary = dare::json::parse(read_file(t / "run/summary.json"));
    EXPECT_EQ(summary["errors"], errors.size());
    EXPECT_NE(run_dare("report " + t / "run").output.find("could not be generated"), std::string::npos);
}

// Incremental refresh: after the histories of two sampled users and the
// title of a sampled movie change, --reuse-from copies every other record
// (texts unchanged, "reused": true) and generates exactly those three; other
// decoding settings are refused, naming them.
TEST(Pipeline, ReuseFromGeneratesOnlyChangedRecords) {
    temp_dir t;
    // Without a warm-up phase (a reusing run has none).
    const std::string common = " --limit 10 --max-tokens 8 --threads 2 --verify strict --warmup-fraction 0";
    ASSERT_EQ(run_dare("run --out " + t / "old" + common).exit_code, 0);
    const auto old = read_records(t / "old/knowledge.jsonl");
    std::set<std::string> users, items;
    for (const auto & j : old) {
        (j["kind"] == "user" ? users : items).insert(j["id"].get<std::string>());
    }
    ASSERT_GE(users.size(), 2u);
    ASSERT_GE(items.size(), 1u);
    const std::set<std::string> changed_users = {*users.begin(), *std::next(users.begin())};
    const std::string changed_item = *items.begin();
    // The dataset again, with those users' ratings and that movie's title changed.
    const std::string data = t / "data";
    std::filesystem::copy(dare::default_dataset_path(), data);
    auto rewrite = [](const std::string & path, const std::function<std::string(const std::string &)> & fn) {
        std::istringstream in(read_file(path));
        std::string out, line;
        while (std::getline(in, line)) {
            out += fn(line) + "\n";
        }
        write_file(path, out);
    };
    rewrite(data + "/ratings.csv", [&](const std::string & line) {  // userId,movieId,rating,timestamp
        const auto c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
        if (!changed_users.count(line.substr(0, c1))) {
            return line;
        }
        const std::string rating = line.substr(c2 + 1, c3 - c2 - 1);
        return line.substr(0, c2 + 1) + (rating == "0.5" ? "1.0" : "0.5") + line.substr(c3);
    });
    rewrite(data + "/movies.csv", [&](const std::string & line) {  // movieId,title,genres
        return line.rfind(changed_item + ",", 0) == 0 ? changed_item + ",\"A Retitled Film (2001)\",Drama" : line;
    });
    const auto r = run_dare("run --out " + t / "new" + common + " --dataset " + data + " --reuse-from " + t / "old");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, std::string> old_text;
    for (const auto & j : old) {
        old_text[dare::record_key(j)] = j["text"];
    }
    std::set<std::string> generated;
    const auto recs = read_records(t / "new/knowledge.jsonl");
    EXPECT_EQ(recs.size(), 10u);
    for (const auto & j : recs) {
        if (j.value("reused", false)) {
            EXPECT_EQ(j["text"], old_text[dare::record_key(j)]);
        } else {
            generated.insert(dare::record_key(j));
        }
    }
    EXPECT_EQ(generated, (std::set<std::string>{"user:" + *changed_users.begin(),
                                                "user:" + *std::next(changed_users.begin()), "item:" + changed_item}));
    EXPECT_EQ(dare::json::parse(read_file(t / "new/summary.json"))["totals"]["reused"], 7);
    EXPECT_EQ(r.output.find("resuming"), std::string::npos) << r.output;  // a first run, not a resumed one
    // A group's saved pool counts every record of the group, reused ones
    // included, so that a resumed run reloads it instead of rebuilding it.
    std::map<std::string, int64_t> per_group;
    for (const auto & j : recs) {
        ++per_group[j["kind"].get<std::string>() + "-" + j["group"].get<std::string>()];
    }
    size_t manifests = 0;
    for (const auto & e : std::filesystem::directory_iterator(t / "new/pools")) {
        if (e.path().extension() == ".json") {
            ++manifests;
            EXPECT_EQ(dare::json::parse(read_file(e.path().string()))["records"], per_group[e.path().stem().string()])
                << e.path();
        }
    }
    EXPECT_GE(manifests, 1u);
    const auto refused = run_dare("run --out " + t / "other" + " --limit 10 --max-tokens 9 --threads 2 --verify strict"
                                  " --warmup-fraction 0 --reuse-from " + t / "old");
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.output.find("max_tokens: was 8, now 9"), std::string::npos) << refused.output;
}

TEST(Pipeline, BadOptionsAndInputsFailBeforeWriting) {
    temp_dir t;
    write_file(t / "tmpl.json", "{\"item\": \"Tell me about {titel}\"}");
    auto r = run_dare("run --out " + t / "a" + " " + kSmall + " --templates " + t / "tmpl.json");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("{titel}"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(t / "a/knowledge.jsonl"));
    r = run_dare("run --out " + t / "b" + " --dataset " + t.str() + " " + kSmall);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("not a dataset"), std::string::npos) << r.output;
    r = run_dare("run --out " + t / "c" + " --warmup-fraction 1.5");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    // A model that cannot be loaded leaves no settings behind, so the
    // corrected command is not refused as "other settings".
    r = run_dare("run --out " + t / "d" + " " + kSmall + " --model " + t / "missing.gguf");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(t / "d/run.json"));
    EXPECT_FALSE(std::filesystem::exists(t / "d/knowledge.jsonl"));
}

// One writer per run folder: a second dare run on a folder another one is
// writing refuses at once, naming that process, and writes nothing; once the
// first is killed its lock is gone, and the rerun completes the records
// without losing or duplicating any.
TEST(Pipeline, OneWriterPerRunFolder) {
    temp_dir t;
    const std::string out = t / "run";
    const std::string args = "--limit 16 --max-tokens 64 --threads 2 --ctx 1024 --verify strict";
    int second = -1;
    size_t lines_before = 0, lines_after = 0;
    const stopped_run first = run_and_signal(out, args, 2, SIGKILL, [&](pid_t pid) {
        lines_before = count_lines(out + "/knowledge.jsonl");
        const auto r = run_dare("run --out " + out + " " + args);
        second = r.exit_code;
        EXPECT_NE(r.output.find("another dare process (pid " + std::to_string(pid) + ")"), std::string::npos)
            << r.output;
        lines_after = count_lines(out + "/knowledge.jsonl");
    });
    EXPECT_EQ(second, 1);
    ASSERT_LT(first.lines, 16u) << "the first run finished before the kill; nothing was tested";
    EXPECT_GE(lines_after, lines_before);  // the second wrote nothing and cut nothing
    const auto again = run_dare("run --out " + out + " " + args);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    std::set<std::string> keys;
    for (const auto & j : read_records(out + "/knowledge.jsonl")) {
        EXPECT_TRUE(keys.insert(dare::record_key(j)).second) << "duplicate " << dare::record_key(j);
    }
    EXPECT_EQ(keys.size(), 16u);
}
