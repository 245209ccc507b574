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

}  // namespace dare
