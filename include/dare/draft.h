// Draft trees: the candidate continuations a retrieval pool proposes for the
// current context, flattened parents-first so one llama.cpp batch can verify
// them all. The tree is the `max_nodes` best prefixes (by score, shallower and
// smaller token first on ties) of depth at most `max_depth`; since a prefix
// never scores below its extensions, that set is closed under prefixes.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <span>
#include <vector>

#include "dare/backend.h"

namespace dare {

struct draft_node {
    token tok = 0;
    int32_t parent = -1;  // index into nodes; -1 = child of the root (the last context token)
    int32_t depth = 1;    // 1 = directly after the last context token
    float score = 0;      // pool statistic (weighted count) of the whole prefix
};

struct draft_tree {
    std::vector<draft_node> nodes;
    float root_score = 0;  // pool statistic of the matched context itself (score / root_score ~ P(prefix))
    void clear() {
        nodes.clear();
        root_score = 0;
    }
    int32_t size() const { return static_cast<int32_t>(nodes.size()); }
    bool empty() const { return nodes.empty(); }
    int32_t depth() const;
    // Tokens from the root to node i (inclusive).
    std::vector<token> path(int32_t i) const;
    // Reorders nodes depth-first, best-scored child first, so the most likely
    // path occupies consecutive batch rows (and so consecutive KV cells, in
    // position order, as plain decoding would leave them).
    void order_depth_first();
    // Removes every node for which drop(i, path) is true, with its subtree,
    // keeping the others' order (a best-first tree stays best-first); `path`
    // holds the tokens from the root to node i's parent. Returns how many
    // nodes went.
    int32_t remove_subtrees(const std::function<bool(int32_t node, std::span<const token> path)> & drop);

  private:
    std::vector<draft_node> scratch_;
    std::vector<int32_t> remap_, stack_;
    std::vector<token> path_;
};

// Merges two best-first trees into `out` (best-first, at most max_nodes):
// node scores become probability estimates score / root_score, a path both
// trees propose keeps the higher estimate, and the result's root_score is 1.
// Used to draft from a record's own context and its group's pool at once.
// `scratch` is reused between calls.
struct draft_merger {
    void merge(const draft_tree & a, const draft_tree & b, int32_t max_nodes, draft_tree & out);

  private:
    struct item {
        float p;
        int32_t depth;
        int32_t idx;
    };
    void add(const draft_tree & t);
    std::vector<draft_node> all_;     // merged trie, parents before children
    std::vector<int32_t> map_;        // tree node -> merged node
    std::vector<item> order_;
    std::vector<int32_t> new_index_;
};

struct draft_limits {
    int32_t max_nodes = 16;
    int32_t max_depth = 8;
};

// A pool's candidate continuation of a node: the token, the score of the
// prefix ending in it, and the pool's handle for expanding it further.
struct draft_candidate {
    token tok;
    float score;
    int64_t handle;
};

// Best-first construction, shared by every index so they differ only in the
// statistics they keep. `children(handle, out)` appends a node's candidates.
// `scratch` keeps the heap's storage between calls (no allocation once warm).
struct draft_builder {
    struct entry {
        float score;
        int32_t depth;
        token tok;
        int32_t parent;
        int64_t handle;
        // Max-heap order: higher score, then shallower, then smaller token, then
        // earlier parent.
        bool operator<(const entry & o) const {
            if (score != o.score) return score < o.score;
            if (depth != o.depth) return depth > o.depth;
            if (tok != o.tok) return tok > o.tok;
            return parent > o.parent;
        }
    };
    std::vector<entry> heap;
    std::vector<draft_candidate> kids;

    template <typename ChildrenFn>
    void build(int64_t root, const draft_limits & lim, ChildrenFn && children, draft_tree & out) {
        out.clear();
        heap.clear();
        if (lim.max_nodes <= 0 || lim.max_depth <= 0) {
            return;
        }
        push_children(root, -1, 1, children);
        while (!heap.empty() && out.size() < lim.max_nodes) {
            std::pop_heap(heap.begin(), heap.end());
            const entry e = heap.back();
            heap.pop_back();
            out.nodes.push_back({e.tok, e.parent, e.depth, e.score});
            if (e.depth < lim.max_depth) {
                push_children(e.handle, out.size() - 1, e.depth + 1, children);
            }
        }
    }

  private:
    template <typename ChildrenFn>
    void push_children(int64_t handle, int32_t parent, int32_t depth, ChildrenFn && children) {
        kids.clear();
        children(handle, kids);
        for (const auto & k : kids) {
            if (k.score > 0) {
                heap.push_back({k.score, depth, k.tok, parent, k.handle});
                std::push_heap(heap.begin(), heap.end());
            }
        }
    }
};

}  // namespace dare
