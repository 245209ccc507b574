// Helpers shared by the tests: temp folders, files, running the dare binary.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dare/backend.h"
#include "dare/dataset.h"
#include "dare/generate.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "dare/prompts.h"

namespace dare_test {

// A fresh folder under the system temp dir, removed at scope exit.
class temp_dir {
  public:
    temp_dir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() / ("dare-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string operator/(const std::string & name) const { return (path_ / name).string(); }
    std::string str() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

inline void write_file(const std::string & path, const std::string & content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

inline std::string read_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct run_result {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

#ifdef DARE_BIN  // not in the model-free build (DARE_MODEL_FREE), which has no dare binary
// Runs the built dare binary with `args` (a shell-quoted string).
inline run_result run_dare(const std::string & args) {
    const std::string cmd = std::string("'") + DARE_BIN + "' " + args + " 2>&1";
    run_result r;
    FILE * p = popen(cmd.c_str(), "r");
    if (!p) {
        return r;
    }
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
        r.output.append(buf.data(), n);
    }
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

// A dare process started by start_dare(): its pid, and the pid of the
// process that copies its output into the log.
struct dare_child {
    pid_t pid = -1;
    pid_t logger = -1;
};

// Starts the dare binary with `args` in the background, stdout and stderr to
// `log`; `file_size_limit` > 0 caps every file dare writes at that many bytes
// (RLIMIT_FSIZE: a write past it fails, as on a full disk). dare writes its
// output into a pipe, which no file-size limit caps; a logger process without
// the limit copies it into `log`.
inline dare_child start_dare(const std::string & args, const std::string & log, rlim_t file_size_limit = 0) {
    const std::string cmd = std::string("exec '") + DARE_BIN + "' " + args;
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        return {};
    }
    dare_child c;
    const std::string copy = "exec cat > '" + log + "'";
    c.logger = fork();
    if (c.logger == 0) {  // a fresh process (exec): it holds none of the test's descriptors
        dup2(pipe_fds[0], STDIN_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execl("/bin/sh", "sh", "-c", copy.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    c.pid = fork();
    if (c.pid == 0) {
        close(pipe_fds[0]);
        dup2(pipe_fds[1], STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[1]);
        if (file_size_limit > 0) {
            const rlimit lim{file_size_limit, file_size_limit};
            setrlimit(RLIMIT_FSIZE, &lim);
        }
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return c;
}

// Waits for a process from start_dare(); its exit code, 128 + signal if killed.
// The log is complete when it returns.
inline int wait_dare(const dare_child & c) {
    int status = 0;
    const bool ok = c.pid > 0 && waitpid(c.pid, &status, 0) == c.pid;
    if (c.logger > 0) {
        waitpid(c.logger, nullptr, 0);
    }
    if (!ok) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
#endif

// The records of a JSONL file; a malformed line (a torn write) fails the test
// with its FILE:LINE.
inline std::vector<dare::json> read_records(const std::string & path) {
    std::vector<dare::json> out;
    dare::for_each_jsonl_object(path, "records", [&](const dare::json & j, long) { out.push_back(j); });
    return out;
}

// Complete lines in a file (0 if it does not exist).
inline size_t count_lines(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

// Context options the model tests share: 2 threads (one test runs at a time,
// see scripts/test.sh), room for `n_ctx` tokens.
inline dare::context_options test_context(uint32_t n_ctx = 1024, uint32_t n_seq_max = 1) {
    dare::context_options co;
    co.n_ctx = n_ctx;
    co.n_threads = 2;
    co.n_seq_max = n_seq_max;
    return co;
}

// The default model (the bundled weights as Q8_0: scripts/setup.sh fetches
// the bundled file, the model's constructor makes the Q8_0 one if missing),
// loaded once per test program.
inline const dare::model & default_model() {
    static const std::unique_ptr<dare::model> m = std::make_unique<dare::model>(dare::default_model_path());
    return *m;
}

// `greedy` (the model's greedy text after `prompt`) with every fourth token
// replaced by the model's second-best token there, from the logits of one
// decode over prompt + text. Drafted where greedy's own token is not, it is
// what relaxed verification at top-k >= 2 accepts off the argmax (the
// verifier takes the argmax's branch wherever the tree has one).
inline std::vector<dare::token> runner_up_text(const dare::model & m, const std::vector<dare::token> & prompt,
                                               const std::vector<dare::token> & greedy) {
    std::vector<dare::token> all = prompt;
    all.insert(all.end(), greedy.begin(), greedy.end());
    dare::context c(m, test_context(static_cast<uint32_t>(all.size()) + 16));
    dare::batch b;
    for (size_t i = 0; i < all.size(); ++i) {
        b.add(all[i], static_cast<dare::pos_t>(i), 0, i + 1 >= prompt.size());
    }
    c.decode(b);
    std::vector<dare::token> out = greedy;
    for (size_t i = 3; i < out.size(); i += 4) {
        const auto lg = c.logits(static_cast<int32_t>(prompt.size() - 1 + i));  // the row that predicts greedy[i]
        std::vector<float> v(lg.begin(), lg.end());
        v[static_cast<size_t>(dare::argmax(v))] = -std::numeric_limits<float>::infinity();
        out[i] = dare::argmax(v);
    }
    return out;
}

// Largest top-1 minus top-2 logit gap we accept as "a near-tie flipped by
// batch-dependent rounding" (logit units). dare's default KV layout makes the
// CPU kernels batch-invariant (see kv_layout::batch_invariant), so on
// CPUs we expect no divergence at all for one record at a time; with
// llama.cpp's default layout 9 of 100 runs diverged here, every one at a gap
// below 0.12. Other backends may still round per batch size, hence the bound
// rather than exact equality.
constexpr float kNearTie = 0.2f;
// The same bound for llama.cpp's default context (F16 keys and values, flash
// attention), where the peers of tests/test_peers.cpp run: there one query
// row over 512 or more cells takes the CPU kernel's split-KV path (a chunk
// of cells per thread, partial sums reduced at the end) and a verification
// batch of several rows sums cell by cell, so plain decoding and n-gram
// speculation round attention differently, and the difference compounds
// over the tokens before a parting. Measured on the peers' 8 prompts:
// partings at gaps up to 0.27 with the bundled Q4_1 weights, 0.62 with the
// default Q8_0 model (llama.cpp's ngram-mod, record 7, token 50).
constexpr float kNearTieDefaultLayout = 0.8f;

// Where a text parts from its reference (generated with record_gaps): the
// first differing token, and the reference's own top-1 minus top-2 logit gap
// there. `identical` when the tokens are equal.
struct divergence {
    bool identical = true;
    size_t at = 0;
    float gap = 0;
};
inline divergence compare_with_reference(const dare::generation_result & want, const dare::generation_result & got) {
    divergence d;
    if (got.tokens == want.tokens) {
        return d;
    }
    d.identical = false;
    while (d.at < want.tokens.size() && d.at < got.tokens.size() && want.tokens[d.at] == got.tokens[d.at]) {
        ++d.at;
    }
    // A text that only runs longer than its reference parts where the
    // reference stopped; with no gap recorded there it never passes as a tie.
    d.gap = d.at < want.gaps.size() ? want.gaps[d.at] : std::numeric_limits<float>::infinity();
    return d;
}

// Counts the texts identical to their references; each other one must part
// at a near-tie of the reference's own logits (a test failure otherwise),
// and is printed with its gap. `worst_gap` gets the largest gap tolerated.
inline int32_t count_identical_up_to_near_ties(const std::vector<dare::generation_result> & want,
                                               const std::vector<dare::generation_result> & got,
                                               const std::string & what, float * worst_gap = nullptr,
                                               float near_tie = kNearTie) {
    int32_t identical = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const divergence d = compare_with_reference(want[i], got[i]);
        if (d.identical) {
            ++identical;
            continue;
        }
        std::printf("%s: record %zu parts from its reference at token %zu, reference's top-2 gap %.4f\n", what.c_str(),
                    i, d.at, d.gap);
        EXPECT_LT(d.gap, near_tie) << what << ": record " << i << " parts at token " << d.at << ", not a near-tie";
        if (worst_gap) {
            *worst_gap = std::max(*worst_gap, d.gap);
        }
    }
    std::printf("%s: %d of %zu identical to the reference\n", what.c_str(), identical, want.size());
    return identical;
}

// The chat-templated tokens of a user message.
inline std::vector<dare::token> chat(const std::string & text) {
    const auto & m = default_model();
    return m.tokenize(m.apply_chat_template({{"user", text}}, true), true, true);
}

// 50 prompts: item prompts (popular and obscure movies) and user prompts with
// short and long histories, from the bundled dataset.
inline std::vector<std::string> varied_prompts() {
    const auto d = dare::load_dataset(dare::default_dataset_path());
    const auto t = dare::prompt_templates::kar_movies();
    const auto order = dare::items_by_popularity(d);
    std::vector<std::string> out;
    for (int i = 0; i < 20; ++i) {
        out.push_back(dare::item_prompt(t, d.items[order[i * 3]]));
    }
    for (int i = 0; i < 10; ++i) {
        out.push_back(dare::item_prompt(t, d.items[order[2000 + i * 500]]));
    }
    for (int u = 0; u < 20; ++u) {
        out.push_back(dare::user_prompt(t, d, u * 13, u % 2 ? 30 : 5));
    }
    return out;
}

}  // namespace dare_test
