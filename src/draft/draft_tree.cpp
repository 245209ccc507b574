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

}  // namespace dare
