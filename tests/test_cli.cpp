// The dare command line, run as a user would: clear errors with non-zero
// exits and nothing written on bad input; an end-to-end generate that resumes.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <fstream>

#include "dare/jsonl.h"
#include "gguf.h"
#include "test_util.h"

using namespace dare_test;

namespace {
const char * kPrompts =
    "{\"id\": 1, \"prompt\": \"Introduce movie Toy Story (1995) and describe its attributes.\"}\n"
    "{\"id\": \"heat\", \"prompt\": \"Introduce movie Heat (1995) and describe its attributes.\"}\n";

// A copy of the model at `from` without tokenizer.chat_template, as a base
// model comes: the metadata rewritten by ggml's gguf writer, the tensor data
// appended unchanged.
void copy_without_chat_template(const std::string & from, const std::string & to) {
    gguf_context * g = gguf_init_from_file(from.c_str(), gguf_init_params{true, nullptr});
    ASSERT_NE(g, nullptr);
    ASSERT_GE(gguf_remove_key(g, "tokenizer.chat_template"), 0);
    const size_t data_offset = gguf_get_data_offset(g);
    ASSERT_TRUE(gguf_write_to_file(g, to.c_str(), true));
    gguf_free(g);
    std::ifstream in(from, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(data_offset));
    std::ofstream out(to, std::ios::binary | std::ios::app);
    out << in.rdbuf();
    ASSERT_TRUE(out.good());
}

std::vector<std::string> texts_of(const std::vector<dare::json> & recs) {
    std::vector<std::string> out;
    for (const auto & r : recs) {
        out.push_back(r["text"].get<std::string>());
    }
    return out;
}
}  // namespace

TEST(Cli, VersionNamesDareLlamaCppTheBackendsAndTheDefaultModel) {
    const auto r = run_dare("--version");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const char * want : {"dare 0.1.0", "llama-cpp-python 0.3.36", "ggml ", "backends: CPU", "system: "}) {
        EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
    }
    EXPECT_NE(r.output.find("\ndefault model: " + dare::default_model_build_path() + "\n"), std::string::npos)
        << r.output;
}

// A model without a chat template (a base model) is refused under the default
// --chat-template auto with a message naming the flag, before anything is
// written; with --chat-template none it runs in every mode on raw prompt text,
// strict decoding still exactly plain decoding's text; a built-in name or a
// template file frames prompts as the model's own template does.
TEST(Cli, ChatTemplateNoneRunsABaseModelInEveryMode) {
    temp_dir d;
    copy_without_chat_template(dare::default_model_path(), d / "base.gguf");
    write_file(d / "p.jsonl", kPrompts);
    const std::string common = " --prompts " + d / "p.jsonl" + " --max-tokens 24 --threads 2 --model " + d / "base.gguf";
    auto r = run_dare("generate" + common + " --out " + d / "auto.jsonl");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("has no chat template"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--chat-template none"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "auto.jsonl"));
    r = run_dare("run --out " + d / "run-auto" + " --limit 2 --max-tokens 8 --threads 2 --model " + d / "base.gguf");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("--chat-template none"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "run-auto/knowledge.jsonl"));

    const std::vector<std::pair<std::string, std::string>> modes = {
        {"vanilla", "--mode vanilla"},
        {"pld", "--mode pld --verify strict"},
        {"dare-strict", "--mode dare --verify strict"},
        {"dare", "--mode dare"},
        {"sample", "--mode dare --verify sample --temperature 0.7"}};
    std::map<std::string, std::vector<dare::json>> out;
    for (const auto & [name, args] : modes) {
        if (name == "dare-strict") {  // dare mode drafts from a pool: one from plain decoding's texts
            r = run_dare("pool build --corpus " + d / "vanilla.jsonl" + " --out " + d / "p.pool" + " --model " +
                         d / "base.gguf" + " --chat-template none");
            ASSERT_EQ(r.exit_code, 0) << r.output;
        }
        const std::string pool = name.starts_with("dare") || name == "sample" ? " --pool " + d / "p.pool" : "";
        r = run_dare("generate" + common + " --chat-template none " + args + pool + " --out " + d / (name + ".jsonl"));
        ASSERT_EQ(r.exit_code, 0) << name << "\n" << r.output;
        out[name] = read_records(d / (name + ".jsonl"));
        ASSERT_EQ(out[name].size(), 2u) << name;
        for (const auto & rec : out[name]) {
            EXPECT_GT(rec["tokens"].get<int>(), 0) << name;
        }
    }
    const auto & m = default_model();  // the same vocabulary
    const std::vector<std::string> prompts = {"Introduce movie Toy Story (1995) and describe its attributes.",
                                              "Introduce movie Heat (1995) and describe its attributes."};
    for (size_t i = 0; i < prompts.size(); ++i) {  // the raw text, not a chat turn
        EXPECT_EQ(out["vanilla"][i]["prompt_tokens"].get<size_t>(), m.tokenize(prompts[i], true, false).size());
    }
    for (const char * strict : {"pld", "dare-strict"}) {
        EXPECT_EQ(texts_of(out[strict]), texts_of(out["vanilla"])) << strict;
    }

    // chatml (llama.cpp's name for SmolLM2's format), and the original
    // model's template text in a file: the bundled model's own framing.
    ASSERT_EQ(run_dare("generate --prompts " + d / "p.jsonl" + " --max-tokens 24 --threads 2 --mode vanilla --out " +
                       d / "own.jsonl")
                  .exit_code,
              0);
    const auto own = read_records(d / "own.jsonl");
    EXPECT_EQ(own[0]["prompt_tokens"].get<size_t>(), chat(prompts[0]).size());
    gguf_context * g = gguf_init_from_file(dare::default_model_path().c_str(), gguf_init_params{true, nullptr});
    ASSERT_NE(g, nullptr);
    write_file(d / "template.jinja", gguf_get_val_str(g, gguf_find_key(g, "tokenizer.chat_template")));
    gguf_free(g);
    for (const std::string & t : {std::string("chatml"), d / "template.jinja"}) {
        r = run_dare("generate" + common + " --mode vanilla --chat-template " + t + " --out " + d / "t.jsonl --fresh");
        ASSERT_EQ(r.exit_code, 0) << t << "\n" << r.output;
        EXPECT_EQ(texts_of(read_records(d / "t.jsonl")), texts_of(own)) << t;
    }
    // Anything else: a clear error listing the names.
    r = run_dare("generate" + common + " --chat-template no-such-template --out " + d / "bad.jsonl");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("chatml"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "bad.jsonl"));
    // dare run on the base model: strict one at a time and two at a time
    // write the same texts; the default (relaxed) mode batched runs too.
    const std::string run = " --limit 4 --max-tokens 16 --threads 2 --chat-template none --model " + d / "base.gguf";
    std::map<std::string, std::vector<std::string>> runs;
    for (const std::string args : {"--verify strict", "--verify strict --parallel 2", "--parallel 2"}) {
        const std::string dir = d / ("run" + std::to_string(runs.size()));
        r = run_dare("run --out " + dir + run + " " + args);
        ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.output;
        auto recs = read_records(dir + "/knowledge.jsonl");
        ASSERT_EQ(recs.size(), 4u) << args;
        std::sort(recs.begin(), recs.end(), [](const dare::json & a, const dare::json & b) {
            return a["kind"].get<std::string>() + a["id"].get<std::string>() <
                   b["kind"].get<std::string>() + b["id"].get<std::string>();
        });
        runs[args] = texts_of(recs);
    }
    EXPECT_EQ(runs["--verify strict --parallel 2"], runs["--verify strict"]);
}

TEST(Cli, UnknownFlagIsAUsageError) {
    const auto r = run_dare("generate --prompts x.jsonl --out y.jsonl --bogus-flag");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--bogus-flag"), std::string::npos) << r.output;
    const auto r2 = run_dare("no-such-command");
    EXPECT_NE(r2.exit_code, 0);
}

TEST(Cli, OutOfRangeFlagIsAUsageError) {
    const auto r = run_dare("generate --prompts x.jsonl --out y.jsonl --max-tokens 0");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--max-tokens"), std::string::npos) << r.output;
}

TEST(Cli, MissingModelFileFailsAndWritesNothing) {
    temp_dir d;
    write_file(d / "p.jsonl", kPrompts);
    const auto r = run_dare("generate --prompts " + d / "p.jsonl" + " --out " + d / "out.jsonl" +
                            " --model " + d / "missing.gguf");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("model file not found: " + d / "missing.gguf"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "out.jsonl"));
}

TEST(Cli, NonGgufModelFailsAndWritesNothing) {
    temp_dir d;
    write_file(d / "p.jsonl", kPrompts);
    write_file(d / "model.gguf", "PK\x03\x04 zip archive, not gguf");
    const auto r = run_dare("generate --prompts " + d / "p.jsonl" + " --out " + d / "out.jsonl" +
                            " --model " + d / "model.gguf");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("not a GGUF model file"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "out.jsonl"));
}

TEST(Cli, MalformedPromptsNameTheLineAndWriteNothing) {
    temp_dir d;
    write_file(d / "p.jsonl", std::string(kPrompts) + "{\"id\": 3, \"prompt\": \"unterminated}\n");
    const auto r = run_dare("generate --prompts " + d / "p.jsonl" + " --out " + d / "out.jsonl");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(d / "p.jsonl" + ":3: invalid JSON"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "out.jsonl"));
}

TEST(Cli, HelpDocumentsEveryOption) {
    const auto top = run_dare("--help");
    EXPECT_EQ(top.exit_code, 0);
    for (const char * s : {"generate", "prompts", "pool", "info", "run", "report", "--version"}) {
        EXPECT_NE(top.output.find(s), std::string::npos) << s;
    }
    const auto gen = run_dare("generate --help");
    EXPECT_EQ(gen.exit_code, 0);
    for (const char * s : {"--prompts", "--out", "--model", "--mode", "--max-tokens", "--ctx", "--threads",
                           "--temperature", "--seed", "--chat-template", "--fresh", "--log-interval", "--verbose",
                           "--pool", "--save-pool", "--verify", "--top-k", "--min-prob", "--draft-nodes",
                           "--draft-depth", "--budget", "--self-draft"}) {
        EXPECT_NE(gen.output.find(s), std::string::npos) << s;
    }
    const auto run = run_dare("run --help");
    EXPECT_EQ(run.exit_code, 0);
    for (const char * s : {"--dataset", "--target", "--out", "--limit", "--grouping", "--user-groups", "--genre-groups",
                           "--warmup-fraction", "--history-max", "--templates", "--pool-from", "--index",
                           "--group-seed", "--strict-input", "--force", "--mode", "--verify", "--max-tokens",
                           "--top-k", "--min-prob", "--top-items", "--test-fraction", "--parallel"}) {
        EXPECT_NE(run.output.find(s), std::string::npos) << s;
    }
}

TEST(Cli, GenerateWritesRecordsAndResumesWithoutDuplicates) {
    temp_dir d;
    write_file(d / "p.jsonl", kPrompts);
    const std::string args =
        "generate --prompts " + d / "p.jsonl" + " --out " + d / "out.jsonl" + " --max-tokens 12 --threads 2";
    const auto r = run_dare(args);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto recs = read_records(d / "out.jsonl");
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0]["id"], 1);
    EXPECT_EQ(recs[1]["id"], "heat");
    for (const auto & rec : recs) {
        EXPECT_FALSE(rec["text"].get<std::string>().empty());
        EXPECT_LE(rec["tokens"].get<int>(), 12);
        EXPECT_EQ(rec["forward_passes"], rec["tokens"]);
        EXPECT_GT(rec["seconds"].get<double>(), 0.0);
        EXPECT_EQ(rec["mode"], "vanilla");
    }
    // Drop the second record and tear the first line's end: the rerun repairs
    // the file, regenerates only what is missing, and matches the first run.
    const std::string first_line = read_file(d / "out.jsonl").substr(0, read_file(d / "out.jsonl").find('\n') + 1);
    write_file(d / "out.jsonl", first_line + "{\"id\": \"heat\", \"te");
    const auto again = run_dare(args);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_NE(again.output.find("torn last line"), std::string::npos) << again.output;
    const auto recs2 = read_records(d / "out.jsonl");
    ASSERT_EQ(recs2.size(), 2u);
    EXPECT_EQ(recs2[1]["id"], "heat");
    EXPECT_EQ(recs2[1]["text"], recs[1]["text"]);
    // A third run has nothing to do.
    const auto third = run_dare(args);
    ASSERT_EQ(third.exit_code, 0) << third.output;
    EXPECT_EQ(read_records(d / "out.jsonl").size(), 2u);
}

// A write that fails, as on a full disk (here a file-size limit, which makes
// write() fail with EFBIG where a full disk gives ENOSPC): dare generate stops
// with exit 1 and an error naming the file and the cause, the output holds
// whole records only (the torn part of the failed line is cut), and once the
// limit is gone the rerun completes every record exactly once, with the texts
// of an uninterrupted run.
// dare run --dry-run: the plan's counts on stderr, no model, nothing written.
TEST(Cli, RunDryRunPlansAndWritesNothing) {
    temp_dir d;
    const auto r = run_dare("run --dry-run --out " + d / "run" + " --limit 10 --model " + d / "no-such-model.gguf");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("dry run: 10 records in "), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "run"));
}

TEST(Cli, FailedWriteStopsCleanlyAndTheRerunCompletes) {
    temp_dir d;
    std::string prompts;
    for (const char * title : {"Toy Story (1995)", "Heat (1995)", "Alien (1979)", "Fargo (1996)", "Up (2009)"}) {
        prompts += dare::json{{"id", title}, {"prompt", std::string("Introduce movie ") + title + "."}}.dump() + "\n";
    }
    write_file(d / "p.jsonl", prompts);
    const auto args = [&](const std::string & out) {
        return "generate --prompts " + d / "p.jsonl" + " --out " + out + " --max-tokens 24 --threads 2";
    };
    ASSERT_EQ(run_dare(args(d / "whole.jsonl")).exit_code, 0);
    const auto whole = read_records(d / "whole.jsonl");
    ASSERT_EQ(whole.size(), 5u);
    // The limit falls in the middle of the third line (timings vary a little
    // between runs, the rest of a line does not).
    const size_t two_lines = whole[0].dump().size() + whole[1].dump().size() + 2;
    const size_t limit = two_lines + whole[2].dump().size() / 2;
    const std::string out = d / "out.jsonl";
    const int rc = wait_dare(start_dare(args(out), d / "log", limit));
    const std::string log = read_file(d / "log");
    EXPECT_EQ(rc, 1) << log;
    EXPECT_NE(log.find(out + ": write failed (File too large)"), std::string::npos) << log;
    const std::string partial = read_file(out);
    EXPECT_TRUE(partial.empty() || partial.back() == '\n') << "torn line left: " << partial;
    const auto kept = read_records(out);  // whole records only
    EXPECT_EQ(kept.size(), 2u);
    const auto again = run_dare(args(out));
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(again.output.find("torn"), std::string::npos) << again.output;
    const auto done = read_records(out);
    ASSERT_EQ(done.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(done[i]["id"], whole[i]["id"]);
        EXPECT_EQ(done[i]["text"], whole[i]["text"]);
    }
}

// dare generate on an output another process holds refuses before writing,
// naming that process; once the holder is gone it runs.
TEST(Cli, GenerateRefusesALockedOutput) {
    temp_dir d;
    const std::string out = d / "out.jsonl";
    write_file(d / "p.jsonl", "{\"id\": 1, \"prompt\": \"Introduce movie Heat (1995).\"}\n");
    const std::string args = "generate --prompts " + d / "p.jsonl" + " --out " + out + " --max-tokens 4";
    {
        const dare::output_lock held(out);
        const auto r = run_dare(args);
        EXPECT_EQ(r.exit_code, 1) << r.output;
        EXPECT_NE(r.output.find("another dare process (pid " + std::to_string(getpid()) + ")"), std::string::npos)
            << r.output;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
    const auto r = run_dare(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(count_lines(out), 1u);
}

TEST(Cli, PromptsCommandWritesKarItemPrompts) {
    temp_dir d;
    const auto r = run_dare("prompts --target items --limit 8 --out " + d / "items.jsonl");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto ps = dare::read_prompts_jsonl(d / "items.jsonl");
    ASSERT_EQ(ps.size(), 8u);
    EXPECT_EQ(ps[0].id, "356");  // Forrest Gump, the most-rated movie of ml-latest-small
    EXPECT_EQ(ps[0].prompt.rfind("Introduce movie Forrest Gump (1994)", 0), 0u) << ps[0].prompt;
}

TEST(Cli, SpeculativeModesRunAndBadSettingsAreRefused) {
    temp_dir d;
    write_file(d / "p.jsonl", kPrompts);
    write_file(d / "corpus.jsonl",
               "{\"text\": \"The film is a crime drama directed by Michael Mann.\", \"prompt\": \"Introduce movie Heat\"}\n"
               "{\"text\": \"The film is an animated adventure comedy.\"}\n");
    const auto built = run_dare("pool build --corpus " + d / "corpus.jsonl" + " --out " + d / "items.pool");
    ASSERT_EQ(built.exit_code, 0) << built.output;
    EXPECT_NE(built.output.find("2 records"), std::string::npos) << built.output;
    const std::string base = "generate --prompts " + d / "p.jsonl" + " --max-tokens 16 --threads 2 ";
    for (const std::string & mode : {std::string("--mode pld"), "--mode dare --pool " + d / "items.pool" + " --verify relaxed"}) {
        const auto r = run_dare(base + mode + " --out " + d / "out.jsonl --fresh");
        ASSERT_EQ(r.exit_code, 0) << r.output;
        const auto recs = read_records(d / "out.jsonl");
        ASSERT_EQ(recs.size(), 2u);
        EXPECT_TRUE(recs[0].contains("accepted_tokens"));
    }
    // --save-pool keeps the pool with this run's knowledge added: a second
    // run drafting from it finds every record's answer there and accepts
    // drafts on each; strict verification keeps plain decoding's text.
    ASSERT_EQ(run_dare(base + "--mode vanilla --out " + d / "v.jsonl").exit_code, 0);
    const std::string strict = base + "--mode dare --verify strict ";
    ASSERT_EQ(run_dare(strict + "--pool " + d / "items.pool" + " --save-pool " + d / "grown.pool" + " --out " +
                       d / "s1.jsonl")
                  .exit_code,
              0);
    ASSERT_EQ(run_dare(strict + "--pool " + d / "grown.pool" + " --out " + d / "s2.jsonl").exit_code, 0);
    {
        const auto plain = read_records(d / "v.jsonl"), first = read_records(d / "s1.jsonl"),
                   second = read_records(d / "s2.jsonl");
        ASSERT_EQ(first.size(), plain.size());
        ASSERT_EQ(second.size(), plain.size());
        int64_t accepted_first = 0, accepted_second = 0;
        for (size_t k = 0; k < plain.size(); ++k) {
            EXPECT_EQ(first[k]["text"], plain[k]["text"]) << k;
            EXPECT_EQ(second[k]["text"], plain[k]["text"]) << k;
            EXPECT_GT(second[k]["accepted_tokens"].get<int64_t>(), 0) << k;
            accepted_first += first[k]["accepted_tokens"].get<int64_t>();
            accepted_second += second[k]["accepted_tokens"].get<int64_t>();
        }
        EXPECT_GT(accepted_second, accepted_first);
    }
    // A resumed dare run keeps its records and completes the rest.
    const std::string first = read_file(d / "out.jsonl").substr(0, read_file(d / "out.jsonl").find('\n') + 1);
    write_file(d / "out.jsonl", first);
    const auto resumed = run_dare(base + "--mode dare --pool " + d / "items.pool" + " --verify relaxed --out " + d / "out.jsonl");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resuming, 1 of 2"), std::string::npos) << resumed.output;
    EXPECT_EQ(read_records(d / "out.jsonl").size(), 2u);
    // Out-of-range flags are usage errors.
    EXPECT_EQ(run_dare(base + "--out x.jsonl --mode pld --top-k 0").exit_code, 2);
    EXPECT_EQ(run_dare(base + "--out x.jsonl --mode pld --min-prob 2").exit_code, 2);
    // A dare run needs a pool, and a readable one.
    auto r = run_dare(base + "--out " + d / "o2.jsonl --mode dare");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("needs --pool"), std::string::npos) << r.output;
    write_file(d / "bad.pool", "definitely not a pool");
    r = run_dare(base + "--out " + d / "o2.jsonl --mode dare --pool " + d / "bad.pool");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find(d / "bad.pool" + ": not a dare pool file"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(d / "o2.jsonl"));
    // A malformed corpus names its line.
    write_file(d / "bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
    r = run_dare("pool build --corpus " + d / "bad.jsonl" + " --out " + d / "x.pool");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find(d / "bad.jsonl" + ":2:"), std::string::npos) << r.output;
}

TEST(Cli, QuantizeAndBenchRun) {
    temp_dir d;
    auto r = run_dare("quantize --type q4_0 --out " + d / "q40.gguf");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run_dare("info --model " + d / "q40.gguf");
    EXPECT_NE(r.output.find("Q4_0"), std::string::npos) << r.output;
    EXPECT_EQ(run_dare("quantize --type q9_9 --out " + d / "x.gguf").exit_code, 2);

    write_file(d / "p.jsonl", std::string(kPrompts) +
                                  "{\"id\": 3, \"prompt\": \"Introduce movie Casino (1995) and describe its attributes.\"}\n");
    write_file(d / "corpus.jsonl", "{\"text\": \"The film is a crime drama directed by Martin Scorsese.\"}\n");
    ASSERT_EQ(run_dare("pool build --corpus " + d / "corpus.jsonl" + " --out " + d / "p.pool").exit_code, 0);
    r = run_dare("bench --prompts " + d / "p.jsonl" + " --pool " + d / "p.pool" +
                 " --max-tokens 12 --threads 2 --budget fixed --draft-nodes 8 --draft-depth 4 --json " + d / "b.json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char * m : {"| vanilla |", "| pld |", "| resd |", "| dare |"}) {
        EXPECT_NE(r.output.find(m), std::string::npos) << r.output;
    }
    const auto j = dare::json::parse(read_file(d / "b.json"));
    ASSERT_EQ(j["methods"].size(), 4u);
    for (const auto & m : j["methods"]) {
        for (const char * k : {"method", "verify", "tokens", "forward_passes", "tau", "tokens_per_second",
                               "speedup_vs_vanilla", "retrieval_share", "decode_share", "identical_to_vanilla"}) {
            EXPECT_TRUE(m.contains(k)) << k;
        }
        EXPECT_EQ(m["prompts"], 2);  // 3 prompts, 1 warm-up
        // Decoding is most of a step, never more than all of it.
        EXPECT_GT(m["decode_share"].get<double>(), 0.1) << m["method"];
        EXPECT_LE(m["decode_share"].get<double>() + m["retrieval_share"].get<double>(), 1.0) << m["method"];
        EXPECT_GT(m["prefill_share"].get<double>(), 0.0) << m["method"];
        EXPECT_LT(m["prefill_share"].get<double>(), m["decode_share"].get<double>()) << m["method"];
    }
    // The strict methods (pld and resd) write vanilla's text token for token;
    // vanilla is the reference itself, so its own figure would prove nothing.
    for (size_t k : {1u, 2u}) {
        const auto & m = j["methods"][k];
        EXPECT_EQ(m["verify"], "strict") << m["method"];
        EXPECT_EQ(m["identical_to_vanilla"], 1.0) << m["method"];
    }
    EXPECT_EQ(j["machine"]["threads"], 2);

    // bench-batch: plain and speculative runs alternate per repeat; with
    // strict verification every run (B = 1: the tree engine; B = 2: batched
    // chains, each record in its own KV stream) reproduces the first plain
    // run exactly, and so does plain batching.
    r = run_dare("bench-batch --prompts " + d / "p.jsonl" + " --pool " + d / "p.pool" +
                 " --parallel 1,2 --repeat 2 --max-tokens 12 --threads 2 --verify strict --json " + d / "bb.json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("| 1 | yes | 2 |"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("| 2 | no | 2 |"), std::string::npos) << r.output;
    const auto bb = dare::json::parse(read_file(d / "bb.json"));
    ASSERT_EQ(bb["runs"].size(), 8u);
    for (size_t k = 0; k < 8; ++k) {
        const auto & x = bb["runs"][k];
        EXPECT_EQ(x["parallel"], k < 4 ? 1 : 2) << k;
        EXPECT_EQ(x["repeat"], (k % 4) / 2) << k;
        EXPECT_EQ(x["speculate"], k % 2 == 1) << k;
        EXPECT_GT(x["tokens"].get<int64_t>(), 0) << k;
        if (k > 0) {  // run 0 is the reference
            EXPECT_EQ(x["identical_to_plain"], 1.0) << k;
        }
    }
}
