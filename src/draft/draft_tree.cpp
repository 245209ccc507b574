// Draft tree helpers.
#include <algorithm>

#include "dare/draft.h"

namespace dare {

int32_t draft_tree::depth() const {
    int32_t d = 0;
    for (const auto & n : nodes) {
        d = std::max(d, n.depth);
    }
    return d;
}

std::vector<token> draft_tree::path(int32_t i) const {
    std::vector<token> p;
    for (; i >= 0; i = nodes[i].parent) {
        p.push_back(nodes[i].tok);
    }
    std::reverse(p.begin(), p.end());
    return p;
}

void draft_tree::order_depth_first() {
    const int32_t n = size();
    // Children in existing order are already best-first among siblings (the
    // builder pops higher scores first); push them reversed so the best pops first.
    remap_.assign(n, -1);
    scratch_.clear();
    stack_.clear();
    for (int32_t i = n - 1; i >= 0; --i) {
        if (nodes[i].parent < 0) {
            stack_.push_back(i);
        }
    }
    while (!stack_.empty()) {
        const int32_t v = stack_.back();
        stack_.pop_back();
        remap_[v] = static_cast<int32_t>(scratch_.size());
        draft_node d = nodes[v];
        d.parent = d.parent < 0 ? -1 : remap_[d.parent];
        scratch_.push_back(d);
        for (int32_t c = n - 1; c > v; --c) {
            if (nodes[c].parent == v) {
                stack_.push_back(c);
            }
        }
    }
    nodes.swap(scratch_);
}

int32_t draft_tree::remove_subtrees(const std::function<bool(int32_t, std::span<const token>)> & drop) {
    const int32_t n = size();
    remap_.assign(n, -1);
    scratch_.clear();
    std::vector<token> & path = path_;
    for (int32_t i = 0; i < n; ++i) {  // parents come before children
        const draft_node & d = nodes[i];
        if (d.parent >= 0 && remap_[d.parent] < 0) {
            continue;  // its parent went
        }
        path.clear();
        for (int32_t v = d.parent; v >= 0; v = nodes[v].parent) {
            path.push_back(nodes[v].tok);
        }
        std::reverse(path.begin(), path.end());
        if (drop(i, path)) {
            continue;
        }
        remap_[i] = static_cast<int32_t>(scratch_.size());
        scratch_.push_back(d);
        scratch_.back().parent = d.parent < 0 ? -1 : remap_[d.parent];
    }
    const int32_t removed = n - static_cast<int32_t>(scratch_.size());
    nodes.swap(scratch_);
    return removed;
}

void draft_merger::add(const draft_tree & t) {
    if (t.empty() || t.root_score <= 0) {
        return;
    }
    map_.assign(t.nodes.size(), -1);
    for (size_t i = 0; i < t.nodes.size(); ++i) {
        const auto & n = t.nodes[i];
        const int32_t parent = n.parent < 0 ? -1 : map_[n.parent];
        const float p = n.score / t.root_score;
        int32_t found = -1;
        for (size_t k = 0; k < all_.size(); ++k) {  // trees are small: a scan beats a hash map
            if (all_[k].parent == parent && all_[k].tok == n.tok) {
                found = static_cast<int32_t>(k);
                break;
            }
        }
        if (found < 0) {
            found = static_cast<int32_t>(all_.size());
            all_.push_back({n.tok, parent, n.depth, p});
        } else {
            all_[found].score = std::max(all_[found].score, p);
        }
        map_[i] = found;
    }
}

void draft_merger::merge(const draft_tree & a, const draft_tree & b, int32_t max_nodes, draft_tree & out) {
    all_.clear();
    add(a);
    add(b);
    // Best-first: higher estimate, then shallower (so a parent, never below its
    // children, comes before them), then creation order.
    order_.clear();
    for (size_t k = 0; k < all_.size(); ++k) {
        order_.push_back({all_[k].score, all_[k].depth, static_cast<int32_t>(k)});
    }
    std::sort(order_.begin(), order_.end(), [](const item & x, const item & y) {
        if (x.p != y.p) return x.p > y.p;
        if (x.depth != y.depth) return x.depth < y.depth;
        return x.idx < y.idx;
    });
    out.clear();
    out.root_score = 1.0f;
    new_index_.assign(all_.size(), -1);
    for (const auto & it : order_) {
        if (out.size() >= max_nodes) {
            break;
        }
        draft_node n = all_[it.idx];
        if (n.parent >= 0) {
            n.parent = new_index_[n.parent];  // placed already: a parent sorts first
        }
        new_index_[it.idx] = out.size();
        out.nodes.push_back(n);
    }
}

}  // namespace dare
