// The pool-size sweep (contract in include/dare/pool_bench.h).
#include "dare/pool_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>

#include "dare/error.h"
#include "dare/jobs.h"
#include "dare/jsonl.h"
#include "util/mix.h"

namespace dare {

namespace {

using clock_type = std::chrono::steady_clock;

// Bigram sampler over the corpus outputs: the next token is drawn from the
// tokens that followed the current one, so filler keeps the corpus's local
// phrasing; a dead end restarts from a random token.
class bigram_filler {
  public:
    explicit bigram_filler(const std::vector<corpus_record> & recs, uint64_t seed) : rng_(seed) {
        for (const auto & r : recs) {
            for (size_t i = 0; i + 1 < r.text.size(); ++i) {
                next_[r.text[i]].push_back(r.text[i + 1]);
            }
            all_.insert(all_.end(), r.text.begin(), r.text.end());
        }
        if (all_.empty()) {
            throw error("pool bench: the corpus has no output text");
        }
    }
    // A filler "record" of n tokens.
    void sample(size_t n, std::vector<token> & out) {
        out.clear();
        token t = all_[pick(all_.size())];
        for (size_t i = 0; i < n; ++i) {
            out.push_back(t);
            const auto it = next_.find(t);
            t = it == next_.end() ? all_[pick(all_.size())] : it->second[pick(it->second.size())];
        }
    }

  private:
    size_t pick(size_t n) { return static_cast<size_t>(mix::uniform01(rng_) * static_cast<double>(n)) % n; }
    uint64_t rng_;
    std::unordered_map<token, std::vector<token>> next_;
    std::vector<token> all_;
};

}  // namespace

int32_t longest_matching_path(const draft_tree & tree, std::span<const token> truth) {
    int32_t cur = -1, k = 0;
    while (static_cast<size_t>(k) < truth.size()) {
        int32_t child = -1;
        for (int32_t i = 0; i < tree.size(); ++i) {
            if (tree.nodes[i].parent == cur && tree.nodes[i].tok == truth[k]) {
                child = i;
                break;
            }
        }
        if (child < 0) {
            break;
        }
        cur = child;
        ++k;
    }
    return k;
}

std::vector<pool_bench_row> run_pool_bench(const pool_bench_options & o) {
    const model m(o.model, model_options{.chat_template = o.chat_template});
    std::vector<corpus_record> recs = read_corpus(m, o.corpus);
    if (static_cast<int32_t>(recs.size()) <= o.heldout) {
        throw error(o.corpus + ": needs more records than --heldout (" + std::to_string(o.heldout) + ")");
    }
    const std::vector<corpus_record> held(recs.end() - o.heldout, recs.end());
    recs.resize(recs.size() - static_cast<size_t>(o.heldout));
    bigram_filler filler(recs, o.seed);

    std::vector<pool_bench_row> rows;
    std::vector<token> fill, context;
    for (const auto & kind_name : o.kinds) {
        const index_kind kind = parse_index_kind(kind_name);
        for (const uint64_t target : o.sizes) {
            pool_bench_row row;
            row.kind = kind_name;
            row.target_tokens = target;
            auto idx = make_index(kind);
            const auto tb = clock_type::now();
            uint64_t inserted = 0;
            // Real knowledge first (prompt side, then output side), cut at the target.
            for (const auto & r : recs) {
                for (const auto * part : {&r.prompt, &r.text}) {
                    if (inserted >= target || part->empty()) {
                        continue;
                    }
                    const size_t n = std::min<size_t>(part->size(), target - inserted);
                    idx->insert(std::span<const token>(part->data(), n),
                                part == &r.prompt ? token_source::prompt : token_source::output);
                    inserted += n;
                    row.real_tokens += n;
                }
            }
            // Then bigram filler, output side, in record-sized pieces.
            while (inserted < target) {
                const size_t n = std::min<uint64_t>(256, target - inserted);
                filler.sample(n, fill);
                idx->insert(fill, token_source::output);
                inserted += n;
            }
            row.build_seconds = std::chrono::duration<double>(clock_type::now() - tb).count();
            row.stored_tokens = idx->stored_tokens();
            row.memory_bytes = idx->memory_bytes();

            // Replay each held-out greedy text as strict verification would.
            draft_tree tree;
            int64_t tokens = 0, steps = 0;
            double retrieval = 0;
            for (const auto & h : held) {
                context = h.prompt;
                size_t pos = 0;
                while (pos < h.text.size()) {
                    const auto t0 = clock_type::now();
                    idx->draft(context, o.limits, tree);
                    retrieval += std::chrono::duration<double>(clock_type::now() - t0).count();
                    ++row.drafts;
                    // The tree continues the context; the step emits the matched
                    // path and then the target's own token.
                    const std::span<const token> rest(h.text.data() + pos, h.text.size() - pos);
                    const size_t step = static_cast<size_t>(longest_matching_path(tree, rest)) + 1;
                    for (size_t k = 0; k < step && pos < h.text.size(); ++k) {
                        context.push_back(h.text[pos++]);
                    }
                    ++steps;
                }
                tokens += static_cast<int64_t>(h.text.size());
            }
            row.tau = steps ? static_cast<double>(tokens) / static_cast<double>(steps) : 0;
            row.retrieval_us_per_draft = row.drafts ? 1e6 * retrieval / static_cast<double>(row.drafts) : 0;
            std::fprintf(stderr, "bench-pool %s %llu tokens: tau %.2f, %.1f us per draft\n", kind_name.c_str(),
                         static_cast<unsigned long long>(target), row.tau, row.retrieval_us_per_draft);
            rows.push_back(row);
        }
    }
    if (!o.json_out.empty()) {
        json j;
        j["settings"] = {{"corpus", o.corpus},
                         {"heldout", o.heldout},
                         {"draft_nodes", o.limits.max_nodes},
                         {"draft_depth", o.limits.max_depth},
                         {"seed", o.seed}};
        j["rows"] = json::array();
        for (const auto & r : rows) {
            j["rows"].push_back({{"index", r.kind},
                                 {"target_tokens", r.target_tokens},
                                 {"real_tokens", r.real_tokens},
                                 {"stored_tokens", r.stored_tokens},
                                 {"memory_bytes", r.memory_bytes},
                                 {"build_seconds", r.build_seconds},
                                 {"drafts", r.drafts},
                                 {"retrieval_us_per_draft", r.retrieval_us_per_draft},
                                 {"tau", r.tau}});
        }
        write_file_atomically(o.json_out, j.dump(2) + "\n");
    }
    return rows;
}

std::string pool_bench_table(const std::vector<pool_bench_row> & rs) {
    std::string out =
        "| index | pool tokens | of which real | stored | memory (MiB) | build (s) | retrieval (us/draft) | tau (strict replay) |\n"
        "|---|---|---|---|---|---|---|---|\n";
    char buf[256];
    for (const auto & r : rs) {
        std::snprintf(buf, sizeof buf, "| %s | %llu | %llu | %llu | %.1f | %.2f | %.1f | %.2f |\n", r.kind.c_str(),
                      static_cast<unsigned long long>(r.target_tokens), static_cast<unsigned long long>(r.real_tokens),
                      static_cast<unsigned long long>(r.stored_tokens), r.memory_bytes / 1048576.0, r.build_seconds,
                      r.retrieval_us_per_draft, r.tau);
        out += buf;
    }
    return out;
}

}  // namespace dare
