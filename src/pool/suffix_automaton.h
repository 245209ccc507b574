// The longest-suffix-match index (see dare/pool.h): an online suffix
// automaton over all inserted sequences, separated by a token that never
// occurs in a context. Internal header.
#pragma once

#include <unordered_map>
#include <vector>

#include "dare/pool.h"

namespace dare {

class suffix_automaton final : public token_index {
  public:
    static constexpr token separator = -1;

    explicit suffix_automaton(const index_options & o);
    index_kind kind() const override { return index_kind::suffix; }
    void begin_sequence(token_source src) override;
    void append(token t) override;
    void draft(std::span<const token> context, const draft_limits & lim, draft_tree & out) override;
    uint64_t stored_tokens() const override { return stream_.size() - sequences_; }
    uint64_t memory_bytes() const override;
    void save_body(std::ostream & out) const override;
    void load_body(std::istream & in) override;

    // Length of the longest suffix of `context` (capped at max_suffix) that
    // occurs followed by a token (for tests).
    int32_t match_length(std::span<const token> context) const;

  private:
    struct state {
        int32_t len;
        int32_t link;
        int32_t first_edge;
        uint32_t count[2];  // occurrences (end positions) by source of their last token
    };
    struct edge {
        token tok;
        int32_t to;
        int32_t next;
    };
    static uint64_t edge_key(int32_t s, token t) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(s)) << 32) | static_cast<uint32_t>(t);
    }
    int32_t go(int32_t s, token t) const;
    void add_edge(int32_t from, token t, int32_t to);
    void extend(token t, token_source src);
    void reset();
    void rebuild_from_recent();
    void replay(const std::vector<token> & stream, const std::vector<uint8_t> & sources);
    // (state, length) of the longest matched suffix with a continuation.
    std::pair<int32_t, int32_t> match(std::span<const token> context) const;

    std::vector<state> states_;
    std::vector<edge> edges_;
    std::unordered_map<uint64_t, int32_t> edge_index_;  // (state, token) -> edge
    int32_t last_ = 0;
    token_source src_ = token_source::output;
    // The raw stream (with separators) and each token's source: the file
    // format, and what a rebuild keeps.
    std::vector<token> stream_;
    std::vector<uint8_t> sources_;
    uint64_t sequences_ = 0;
    draft_builder builder_;
};

}  // namespace dare
