// Strict, relaxed and sampling acceptance of draft trees.
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

float top2_gap(std::span<const float> logits) {
    float a = -INFINITY, b = -INFINITY;
    for (float x : logits) {
        if (x > a) {
            b = a;
            a = x;
        } else if (x > b) {
            b = x;
        }
    }
    return a - b;
}

verifier::verifier(const verify_options & o, uint64_t seed) : opts_(o), rng_(seed) { opts_.validate(); }

double verifier::uniform() { return mix::uniform01(rng_); }

void verifier::softmax(std::span<const float> logits, float temperature, std::vector<float> & out) const {
    out.resize(logits.size());
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        out[i] = std::exp((logits[i] - mx) / temperature);
        sum += out[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (auto & p : out) {
        p *= inv;
    }
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
        if (opts_.mode != verify_mode::sample) {
            out.gaps.push_back(top2_gap(lg));
        }
        int32_t chosen = -1;
        if (opts_.mode == verify_mode::strict) {
            const token best = argmax(lg);
            for (int32_t c : kids) {
                if (tree.nodes[c].tok == best) {
                    chosen = c;
                    break;
                }
            }
            if (chosen < 0) {
                out.next = best;
                return;
            }
        } else if (opts_.mode == verify_mode::relaxed) {
            const token best = argmax(lg);
            if (!kids.empty()) {
                softmax(lg, 1.0f, probs_);
                // The k most probable tokens.
                topk_.clear();
                const int32_t k = std::min<int32_t>(opts_.top_k, static_cast<int32_t>(probs_.size()));
                for (int32_t t = 0; t < static_cast<int32_t>(probs_.size()); ++t) {
                    if (static_cast<int32_t>(topk_.size()) < k) {
                        topk_.push_back(t);
                        std::push_heap(topk_.begin(), topk_.end(),
                                       [&](int32_t a, int32_t b) { return probs_[a] > probs_[b]; });
                    } else if (probs_[t] > probs_[topk_.front()]) {
                        std::pop_heap(topk_.begin(), topk_.end(),
                                      [&](int32_t a, int32_t b) { return probs_[a] > probs_[b]; });
                        topk_.back() = t;
                        std::push_heap(topk_.begin(), topk_.end(),
                                       [&](int32_t a, int32_t b) { return probs_[a] > probs_[b]; });
                    }
                }
                bool any_clears = false;
                for (int32_t t : topk_) {
                    any_clears |= probs_[t] > opts_.min_prob;
                }
                float best_p = -1;
                for (int32_t c : kids) {
                    const token t = tree.nodes[c].tok;
                    bool ok;
                    if (any_clears) {
                        ok = probs_[t] > opts_.min_prob &&
                             std::find(topk_.begin(), topk_.end(), t) != topk_.end();
                    } else {
                        ok = t == best;
                    }
                    if (ok && probs_[t] > best_p) {
                        best_p = probs_[t];
                        chosen = c;
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
