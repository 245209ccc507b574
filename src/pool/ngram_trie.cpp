// N-gram trie index: counts of the next branch_len tokens after every 1- and
// 2-token key, built by streaming so pools grow token by token.
#include "ngram_trie.h"

#include <algorithm>

#include "binio.h"

namespace dare {

ngram_trie::ngram_trie(const index_options & o) : token_index(o) {
    open_.resize(std::max(o.branch_len, 1));
    open_depth_.resize(open_.size());
}

int32_t ngram_trie::new_node(token t) {
    nodes_.push_back({t, -1, -1, {0, 0}});
    return static_cast<int32_t>(nodes_.size() - 1);
}

int32_t ngram_trie::root_for(uint64_t key) {
    auto [it, added] = roots_.try_emplace(key, 0);
    if (added) {
        it->second = new_node(static_cast<token>(key & 0xffffffffu));
    }
    return it->second;
}

int32_t ngram_trie::find_child(int32_t parent, token t) const {
    for (int32_t c = nodes_[parent].first_child; c >= 0; c = nodes_[c].next_sibling) {
        if (nodes_[c].tok == t) {
            return c;
        }
    }
    return -1;
}

int32_t ngram_trie::child(int32_t parent, token t) {
    int32_t c = find_child(parent, t);
    if (c < 0) {
        c = new_node(t);
        nodes_[c].next_sibling = nodes_[parent].first_child;
        nodes_[parent].first_child = c;
    }
    return c;
}

void ngram_trie::begin_sequence(token_source src) {
    src_ = src;
    recent_.clear();
    open_head_ = 0;
    open_len_ = 0;
    if (nodes_.size() > opts_.max_nodes) {
        prune();
    }
}

void ngram_trie::append(token t) {
    const int s = static_cast<int>(src_);
    const size_t cap = open_.size();
    // Extend the branches of the previous positions by this token.
    for (size_t k = 0; k < open_len_; ++k) {
        const size_t slot = (open_head_ + k) % cap;
        for (int j = 0; j < 2; ++j) {
            const int32_t n = open_[slot][j];
            if (n >= 0) {
                const int32_t c = child(n, t);
                ++nodes_[c].count[s];
                open_[slot][j] = c;
            }
        }
        ++open_depth_[slot];
    }
    // Retire the oldest branch once it holds branch_len tokens.
    if (open_len_ > 0 && open_depth_[open_head_] >= opts_.branch_len) {
        open_head_ = (open_head_ + 1) % cap;
        --open_len_;
    }
    // Open this position's branches under its 1-gram and 2-gram keys.
    const int32_t r1 = root_for(key1(t));
    ++nodes_[r1].count[s];
    int32_t r2 = -1;
    if (!recent_.empty()) {
        r2 = root_for(key2(recent_.back(), t));
        ++nodes_[r2].count[s];
    }
    if (opts_.branch_len > 0) {
        const size_t slot = (open_head_ + open_len_) % cap;
        open_[slot] = {r1, r2};
        open_depth_[slot] = 0;
        ++open_len_;
    }
    if (recent_.size() == 2) {
        recent_.erase(recent_.begin());
    }
    recent_.push_back(t);
    ++stored_;
}

int32_t ngram_trie::root_of(std::span<const token> key) const {
    uint64_t k;
    if (key.size() == 1) {
        k = key1(key[0]);
    } else if (key.size() == 2) {
        k = key2(key[0], key[1]);
    } else {
        return -1;
    }
    auto it = roots_.find(k);
    return it == roots_.end() ? -1 : it->second;
}

float ngram_trie::path_score(int32_t root, std::span<const token> path) const {
    int32_t n = root;
    for (token t : path) {
        if (n < 0) {
            return 0;
        }
        n = find_child(n, t);
    }
    return n < 0 ? 0.0f : mix(static_cast<float>(nodes_[n].count[0]), static_cast<float>(nodes_[n].count[1]));
}

void ngram_trie::draft(std::span<const token> context, const draft_limits & lim, draft_tree & out) {
    out.clear();
    int32_t root = -1;
    if (context.size() >= 2) {
        root = root_of(context.subspan(context.size() - 2));
        if (root >= 0 && nodes_[root].first_child < 0) {
            root = -1;
        }
    }
    if (root < 0 && !context.empty()) {
        root = root_of(context.subspan(context.size() - 1));
    }
    if (root < 0) {
        return;
    }
    const float root_score = mix(static_cast<float>(nodes_[root].count[0]), static_cast<float>(nodes_[root].count[1]));
    builder_.build(
        root, lim,
        [this](int64_t h, std::vector<draft_candidate> & kids) {
            for (int32_t c = nodes_[h].first_child; c >= 0; c = nodes_[c].next_sibling) {
                const auto & n = nodes_[c];
                kids.push_back({n.tok, mix(static_cast<float>(n.count[0]), static_cast<float>(n.count[1])), c});
            }
        },
        out);
    out.root_score = root_score;
}

// Halves every count and drops nodes left at zero (with their subtrees, whose
// counts can only be lower), until the trie is under 3/4 of its budget. Old,
// rare continuations go first; frequent ones survive.
void ngram_trie::prune() {
    const uint64_t target = opts_.max_nodes / 4 * 3;
    while (nodes_.size() > target) {
        std::vector<int32_t> remap(nodes_.size(), -1);
        std::vector<node> kept;
        kept.reserve(nodes_.size() / 2);
        std::unordered_map<uint64_t, int32_t> roots;
        // Copy each surviving root's subtree depth-first.
        std::vector<std::pair<int32_t, int32_t>> stack;  // (old node, new parent)
        for (const auto & [key, r] : roots_) {
            node n = nodes_[r];
            n.count[0] >>= 1;
            n.count[1] >>= 1;
            if (n.count[0] + n.count[1] == 0) {
                continue;
            }
            const int32_t nr = static_cast<int32_t>(kept.size());
            kept.push_back({n.tok, -1, -1, {n.count[0], n.count[1]}});
            roots.emplace(key, nr);
            stack.clear();
            for (int32_t c = nodes_[r].first_child; c >= 0; c = nodes_[c].next_sibling) {
                stack.push_back({c, nr});
            }
            while (!stack.empty()) {
                auto [old, parent] = stack.back();
                stack.pop_back();
                const node & o = nodes_[old];
                const uint32_t c0 = o.count[0] >> 1;
                const uint32_t c1 = o.count[1] >> 1;
                if (c0 + c1 == 0) {
                    continue;
                }
                const int32_t nn = static_cast<int32_t>(kept.size());
                kept.push_back({o.tok, -1, kept[parent].first_child, {c0, c1}});
                kept[parent].first_child = nn;
                for (int32_t c = o.first_child; c >= 0; c = nodes_[c].next_sibling) {
                    stack.push_back({c, nn});
                }
            }
        }
        nodes_ = std::move(kept);
        roots_ = std::move(roots);
    }
}

uint64_t ngram_trie::memory_bytes() const {
    // Node array plus the key map (bucket array and one heap node per key).
    return nodes_.capacity() * sizeof(node) + roots_.bucket_count() * sizeof(void *) +
           roots_.size() * (sizeof(std::pair<const uint64_t, int32_t>) + 2 * sizeof(void *));
}

void ngram_trie::save_body(std::ostream & out) const {
    binio::put<uint64_t>(out, stored_);
    binio::put_vec(out, nodes_);
    std::vector<std::pair<uint64_t, int32_t>> roots(roots_.begin(), roots_.end());
    std::sort(roots.begin(), roots.end());
    binio::put_vec(out, roots);
}

void ngram_trie::load_body(std::istream & in) {
    stored_ = binio::get<uint64_t>(in);
    binio::get_vec(in, nodes_, 1ull << 34);
    std::vector<std::pair<uint64_t, int32_t>> roots;
    binio::get_vec(in, roots, nodes_.size());
    roots_.clear();
    roots_.reserve(roots.size());
    const auto n = static_cast<int64_t>(nodes_.size());
    auto bad = [n](int32_t i) { return i < -1 || i >= n; };
    // A trie is a forest: every node is reached by at most one link (a parent's
    // first_child, an elder sibling's next_sibling, or one key), so no walk
    // from a root can loop.
    std::vector<uint8_t> links(nodes_.size(), 0);
    auto link = [&links](int32_t i) {
        if (i >= 0 && links[i]++ > 0) {
            throw error("pool file is corrupt (a trie node is linked twice)");
        }
    };
    for (const auto & nd : nodes_) {
        if (bad(nd.first_child) || bad(nd.next_sibling)) {
            throw error("pool file is corrupt (node index out of range)");
        }
        link(nd.first_child);
        link(nd.next_sibling);
    }
    for (const auto & [k, r] : roots) {
        if (r < 0 || r >= n) {
            throw error("pool file is corrupt (root index out of range)");
        }
        link(r);
        roots_.emplace(k, r);
    }
    begin_sequence(token_source::output);
}

}  // namespace dare
