// The n-gram trie index (see dare/pool.h). Internal header.
#pragma once

#include <array>
#include <unordered_map>
#include <vector>

#include "dare/pool.h"

namespace dare {

class ngram_trie final : public token_index {
  public:
    explicit ngram_trie(const index_options & o);
    index_kind kind() const override { return index_kind::ngram_trie; }
    void begin_sequence(token_source src) override;
    void append(token t) override;
    void draft(std::span<const token> context, const draft_limits & lim, draft_tree & out) override;
    uint64_t stored_tokens() const override { return stored_; }
    uint64_t memory_bytes() const override;
    void save_body(std::ostream & out) const override;
    void load_body(std::istream & in) override;

    uint64_t node_count() const { return nodes_.size(); }
    // Root node for a 1-gram or 2-gram key, -1 if absent (for tests).
    int32_t root_of(std::span<const token> key) const;
    // Weighted score of the path below `root`, 0 if absent (for tests).
    float path_score(int32_t root, std::span<const token> path) const;

  private:
    struct node {
        token tok;
        int32_t first_child;
        int32_t next_sibling;
        uint32_t count[2];  // [prompt, output]
    };
    static uint64_t key1(token a) { return static_cast<uint32_t>(a); }
    static uint64_t key2(token a, token b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a) + 1) << 32) | static_cast<uint32_t>(b);
    }
    int32_t root_for(uint64_t key);
    int32_t child(int32_t parent, token t);  // find or create
    int32_t find_child(int32_t parent, token t) const;
    int32_t new_node(token t);
    void prune();

    std::vector<node> nodes_;
    std::unordered_map<uint64_t, int32_t> roots_;
    uint64_t stored_ = 0;
    // Streaming state: the last tokens of the current sequence and, for each
    // of the last branch_len positions, the trie nodes their branches reached.
    token_source src_ = token_source::output;
    std::vector<token> recent_;            // last 2 tokens
    std::vector<std::array<int32_t, 2>> open_;  // ring of [1-gram node, 2-gram node]
    std::vector<int32_t> open_depth_;
    size_t open_head_ = 0;
    size_t open_len_ = 0;
    draft_builder builder_;
};

}  // namespace dare
