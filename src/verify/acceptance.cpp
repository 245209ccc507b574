// Strict, relaxed and sampling acceptance of draft trees. A row is 49,152
// logits for the bundled model and relaxed verification reads one row per
// accepted token, so each row costs as few passes as possible: one for the
// top-k (argmax and top-2 gap come with it) and, only when a child is in the
// top-k, one vectorized (Eigen) pass for the softmax normalizer.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "dare/error.h"
#include "dare/verify.h"
#include "util/mix.h"

namespace dare {

verify_mode parse_verify_mode(const std::string & s) {
    if (s == "strict") return verify_mode::strict;
    if (s == "relaxed") return verify_mode::relaxed;
    if (s == "sample") return verify_mode::sample;
    throw error("--verify must be strict, relaxed or sample (got '" + s + "')");
}

const char * verify_mode_name(verify_mode m) {
    switch (m) {
        case verify_mode::strict: return "strict";
        case verify_mode::relaxed: return "relaxed";
        case verify_mode::sample: return "sample";
    }
    return "?";
}

void verify_options::validate() const {
    if (top_k < 1 || top_k > 1000) {
        throw error("--top-k must be in 1..1000 (got " + std::to_string(top_k) + ")");
    }
    if (!(min_prob >= 0.0f && min_prob < 1.0f)) {
        throw error("--min-prob must be in [0, 1) (got " + std::to_string(min_prob) + ")");
    }
    if (mode == verify_mode::sample && !(temperature > 0.0f)) {
        throw error("--verify sample needs --temperature > 0");
    }
}

namespace {
struct top2_result {
    token best = 0;   // first index of the largest logit
    float gap = 0;    // top-1 minus top-2 logit
};

top2_result top2(std::span<const float> logits) {
    float a = -INFINITY, b = -INFINITY;
    token best = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float x = logits[i];
        if (x > a) {
            b = a;
            a = x;
            best = static_cast<token>(i);
        } else if (x > b) {
            b = x;
        }
    }
    return {best, a - b};
}

Eigen::Map<const Eigen::ArrayXf> as_array(std::span<const float> v) {
    return {v.data(), static_cast<Eigen::Index>(v.size())};
}
}  // namespace

float top2_gap(std::span<const float> logits) { return top2(logits).gap; }

verifier::verifier(const verify_options & o, uint64_t seed) : opts_(o), rng_(seed) { opts_.validate(); }

double verifier::uniform() { return mix::uniform01(rng_); }

void verifier::softmax(std::span<const float> logits, float temperature, std::vector<float> & out) const {
    out.resize(logits.size());
    const auto a = as_array(logits);
    Eigen::Map<Eigen::ArrayXf> p(out.data(), static_cast<Eigen::Index>(out.size()));
    p = ((a - a.maxCoeff()) / temperature).exp();
    p /= p.sum();
}

void verifier::select_top_k(std::span<const float> logits, int32_t k) {
    // A heap whose front is the worst kept index; "better" = larger logit,
    // then lower index, so ties keep the first indices as argmax does.
    const auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    topk_.clear();
    const int32_t n = static_cast<int32_t>(logits.size());
    k = std::min(k, n);
    for (int32_t t = 0; t < k; ++t) {
        topk_.push_back(t);
    }
    std::make_heap(topk_.begin(), topk_.end(), better);
    float floor = k > 0 ? logits[topk_.front()] : INFINITY;
    for (int32_t t = k; t < n; ++t) {
        if (logits[t] > floor) {  // strictly: a later index never beats an equal logit
            std::pop_heap(topk_.begin(), topk_.end(), better);
            topk_.back() = t;
            std::push_heap(topk_.begin(), topk_.end(), better);
            floor = logits[topk_.front()];
        }
    }
    std::sort(topk_.begin(), topk_.end(), better);
}

token verifier::sample_from(std::span<const float> probs) {
    double sum = 0;
    for (float p : probs) {
        sum += p;
    }
    const double u = uniform() * sum;
    double acc = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
        acc += probs[i];
        if (u < acc && probs[i] > 0) {
            return static_cast<token>(i);
        }
    }
    return static_cast<token>(std::max_element(probs.begin(), probs.end()) - probs.begin());
}

void verifier::verify(const draft_tree & tree, const logits_fn & logits, verify_result & out) {
    out.accepted.clear();
    out.gaps.clear();
    const int32_t n = tree.size();
    if (static_cast<int32_t>(children_.size()) < n + 1) {
        children_.resize(n + 1);
    }
    for (int32_t i = 0; i <= n; ++i) {
        children_[i].clear();
    }
    for (int32_t i = 0; i < n; ++i) {
        children_[tree.nodes[i].parent + 1].push_back(i);
    }

    int32_t row = 0;  // current node's row (0 = root)
    while (true) {
        const auto lg = logits(row);
        const auto & kids = children_[row];
        int32_t chosen = -1;
        if (opts_.mode == verify_mode::strict) {
            const top2_result t2 = top2(lg);
            out.gaps.push_back(t2.gap);
            for (int32_t c : kids) {
                if (tree.nodes[c].tok == t2.best) {
                    chosen = c;
                    break;
                }
            }
            if (chosen < 0) {
                out.next = t2.best;
                return;
            }
        } else if (opts_.mode == verify_mode::relaxed) {
            if (kids.empty()) {
                const top2_result t2 = top2(lg);
                out.gaps.push_back(t2.gap);
                out.next = t2.best;
                return;
            }
            select_top_k(lg, opts_.top_k);
            const token best = topk_[0];
            out.gaps.push_back(topk_.size() > 1 ? lg[best] - lg[topk_[1]] : top2_gap(lg));
            // The most probable child in the top-k (the first on ties). The
            // argmax is always acceptable; another child needs p > min_prob
            // (then the top token clears it too, as DARE's rule asks). On a
            // failure only the argmax may be taken, which is then a child
            // only on an exact tie of logits.
            float best_logit = -INFINITY;
            for (int32_t c : kids) {
                const token t = tree.nodes[c].tok;
                if (lg[t] > best_logit && std::find(topk_.begin(), topk_.end(), t) != topk_.end()) {
                    best_logit = lg[t];
                    chosen = c;
                }
            }
            if (chosen >= 0 && tree.nodes[chosen].tok != best) {
                // p = exp(l - max) / sum exp(l' - max)
                const float z = (as_array(lg) - lg[best]).exp().sum();
                if (!(std::exp(best_logit - lg[best]) / z > opts_.min_prob)) {
                    chosen = -1;
                    for (int32_t c : kids) {
                        if (tree.nodes[c].tok == best) {
                            chosen = c;
                            break;
                        }
                    }
                }
            }
            if (chosen < 0) {
                out.next = best;
                return;
            }
        } else {
            softmax(lg, opts_.temperature, probs_);
            for (int32_t c : kids) {
                const token t = tree.nodes[c].tok;
                double rest = 0;
                for (float p : probs_) {
                    rest += p;
                }
                if (probs_[t] > 0 && uniform() * rest < probs_[t]) {
                    chosen = c;
                    break;
                }
                probs_[t] = 0;  // rejected: the residual distribution excludes it
            }
            if (chosen < 0) {
                out.next = sample_from(probs_);
                return;
            }
        }
        out.accepted.push_back(chosen);
        row = chosen + 1;
    }
}

}  // namespace dare
