// Retrieval pools: token indexes that grow while generation runs and propose
// draft trees for the current context. Two kinds behind one interface:
//  - ngram_trie: for every position, the next `branch_len` tokens are counted
//    in a trie keyed by the position's last 2 tokens and, separately, its last
//    token; a query uses the last 2 context tokens, falling back to the last 1.
//  - suffix: a suffix automaton over all inserted sequences; a query finds the
//    longest suffix of the context (up to `max_suffix` tokens) that occurs
//    followed by a token, and drafts from the continuations of all of its
//    occurrences, ranked by count.
// Prompt-side and output-side counts are kept apart and mixed at ranking time
// (score = prompt_weight * prompt_count + output_weight * output_count).
// Memory is bounded by `max_nodes` (trie: counts halved and zero nodes pruned)
// or `max_tokens` (suffix: rebuilt from the most recent half when full).
// Indexes are not thread-safe (draft() reuses internal scratch storage).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>

#include "dare/backend.h"
#include "dare/draft.h"

namespace dare {

enum class token_source : uint8_t { prompt = 0, output = 1 };

enum class index_kind : uint8_t { ngram_trie = 1, suffix = 2 };

const char * index_kind_name(index_kind k);
index_kind parse_index_kind(const std::string & s);  // "trie" | "suffix"

struct index_options {
    int32_t branch_len = 12;       // trie: tokens counted after each position
    int32_t max_suffix = 16;       // suffix: longest context suffix matched
    float prompt_weight = 1.0f;
    float output_weight = 2.0f;    // generated knowledge predicts generated knowledge best
    uint64_t max_nodes = 8u << 20; // trie node budget
    uint64_t max_tokens = 8u << 20;// suffix: tokens kept
};

class token_index {
  public:
    virtual ~token_index() = default;
    virtual index_kind kind() const = 0;
    const index_options & options() const { return opts_; }

    // Adds a whole sequence (its positions do not continue into the next one).
    void insert(std::span<const token> seq, token_source src) {
        begin_sequence(src);
        for (token t : seq) {
            append(t);
        }
    }
    // Streaming form of insert(): start a sequence, then add tokens one by one
    // as they are generated.
    virtual void begin_sequence(token_source src) = 0;
    virtual void append(token t) = 0;

    // The draft tree for a context (empty when nothing matches).
    virtual void draft(std::span<const token> context, const draft_limits & lim, draft_tree & out) = 0;

    virtual uint64_t stored_tokens() const = 0;  // tokens inserted and still represented
    virtual uint64_t memory_bytes() const = 0;   // heap bytes held
    double bytes_per_token() const {
        return stored_tokens() ? static_cast<double>(memory_bytes()) / static_cast<double>(stored_tokens()) : 0.0;
    }

    virtual void save_body(std::ostream & out) const = 0;
    virtual void load_body(std::istream & in) = 0;

  protected:
    explicit token_index(const index_options & o) : opts_(o) {}
    float mix(float prompt_count, float output_count) const {
        return opts_.prompt_weight * prompt_count + opts_.output_weight * output_count;
    }
    index_options opts_;
};

std::unique_ptr<token_index> make_index(index_kind k, const index_options & o = {});

// Pool files: "DAREPOOL", format version, index kind, options, the model
// vocabulary's fingerprint, the index body, and a checksum of the body.
// load_pool throws dare::error naming the file on a bad magic, another
// version, a checksum mismatch, or another vocabulary.
void save_pool(const std::string & path, const token_index & idx, uint64_t vocab_fingerprint);
std::unique_ptr<token_index> load_pool(const std::string & path, uint64_t expected_vocab_fingerprint);
// The same format in memory (pools sent between processes); `name` is the
// source named in errors.
std::string pool_bytes(const token_index & idx, uint64_t vocab_fingerprint);
std::unique_ptr<token_index> pool_from_bytes(const std::string & bytes, uint64_t expected_vocab_fingerprint,
                                             const std::string & name);

}  // namespace dare
