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

relaxed_rule parse_relaxed_rule(const std::string & s) {
    for (relaxed_rule r : {relaxed_rule::dare, relaxed_rule::eog, relaxed_rule::copy, relaxed_rule::guarded,
                           relaxed_rule::typical}) {
        if (s == relaxed_rule_name(r)) {
            return r;
        }
    }
    throw error("--relaxed-rule must be dare, eog, copy, guarded or typical (got '" + s + "')");
}

const char * relaxed_rule_name(relaxed_rule r) {
    switch (r) {
        case relaxed_rule::dare: return "dare";
        case relaxed_rule::eog: return "eog";
        case relaxed_rule::copy: return "copy";
        case relaxed_rule::guarded: return "guarded";
        case relaxed_rule::typical: return "typical";
    }
    return "?";
}

namespace {
uint64_t gram_hash(const token * t, size_t n) { return mix::fnv1a(mix::fnv_offset, t, n * sizeof(token)); }
}  // namespace

void prompt_copies::build(std::span<const token> prompt) {
    grams_.clear();
    for (size_t i = 0; i + kCopyNgram <= prompt.size(); ++i) {
        grams_.push_back(gram_hash(prompt.data() + i, kCopyNgram));
    }
    std::sort(grams_.begin(), grams_.end());
    grams_.erase(std::unique(grams_.begin(), grams_.end()), grams_.end());
}

bool prompt_copies::in_copy(std::span<const token> tail, token t) const {
    auto known = [&](const token * g) { return std::binary_search(grams_.begin(), grams_.end(), gram_hash(g, kCopyNgram)); };
    if (tail.size() >= kCopyNgram && known(tail.data() + tail.size() - kCopyNgram)) {
        return true;
    }
    if (tail.size() < kCopyNgram - 1) {
        return false;
    }
    token g[kCopyNgram];
    std::copy(tail.end() - static_cast<std::ptrdiff_t>(kCopyNgram - 1), tail.end(), g);
    g[kCopyNgram - 1] = t;
    return known(g);
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
    if (!(typical_alpha > 0.0f && typical_alpha <= 1.0f)) {
        throw error("--typical-alpha must be in (0, 1] (got " + std::to_string(typical_alpha) + ")");
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

void verifier::verify(const draft_tree & tree, const logits_fn & logits, verify_result & out,
                      const verify_context & vc) {
    out.accepted.clear();
    out.gaps.clear();
    out.off_argmax = out.off_argmax_copies = out.off_argmax_eog = out.refused = 0;
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
    // Each row's logits after the repetition rules; each emitted token goes
    // into the rules' history before the next row is looked at.
    auto row_logits = [&](int32_t r) { return vc.processor ? vc.processor->apply(logits(r)) : logits(r); };
    auto finish = [&](token t) {
        out.next = t;
        if (vc.processor) {
            vc.processor->accept(t);
        }
    };
    // The tokens just before a row (context, then the accepted path): what
    // a candidate there would continue.
    auto tail_before = [&]() -> std::span<const token> {
        const size_t need = prompt_copies::kCopyNgram;
        tail_.clear();
        const size_t from_ctx = out.accepted.size() >= need ? 0 : std::min(vc.context.size(), need - out.accepted.size());
        tail_.insert(tail_.end(), vc.context.end() - static_cast<std::ptrdiff_t>(from_ctx), vc.context.end());
        const size_t from_path = std::min(out.accepted.size(), need);
        for (size_t k = out.accepted.size() - from_path; k < out.accepted.size(); ++k) {
            tail_.push_back(tree.nodes[out.accepted[k]].tok);
        }
        return tail_;
    };

    int32_t row = 0;  // current node's row (0 = root)
    while (true) {
        const auto lg = row_logits(row);
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
                finish(t2.best);
                return;
            }
        } else if (opts_.mode == verify_mode::relaxed) {
            if (kids.empty()) {
                const top2_result t2 = top2(lg);
                out.gaps.push_back(t2.gap);
                finish(t2.best);
                return;
            }
            select_top_k(lg, opts_.top_k);
            const token best = topk_[0];
            out.gaps.push_back(topk_.size() > 1 ? lg[best] - lg[topk_[1]] : top2_gap(lg));
            // The most probable child in the top-k (the first on ties). The
            // argmax is always acceptable; another child needs p above the
            // threshold (then the top token clears it too, as DARE's rule
            // asks) and must pass the rule's guards. On a failure only the
            // argmax may be taken, which is then a child only on an exact
            // tie of logits.
            float best_logit = -INFINITY;
            for (int32_t c : kids) {
                const token t = tree.nodes[c].tok;
                if (lg[t] > best_logit && std::find(topk_.begin(), topk_.end(), t) != topk_.end()) {
                    best_logit = lg[t];
                    chosen = c;
                }
            }
            if (chosen >= 0 && tree.nodes[chosen].tok != best) {
                const token t = tree.nodes[chosen].tok;
                // p = exp(l - max) / sum exp(l' - max)
                probs_.resize(lg.size());
                Eigen::Map<Eigen::ArrayXf> e(probs_.data(), static_cast<Eigen::Index>(probs_.size()));
                e = (as_array(lg) - lg[best]).exp();
                const float z = e.sum();
                float threshold = opts_.min_prob;
                if (opts_.rule == relaxed_rule::typical) {
                    // entropy = log z - sum(e * (l - max)) / z
                    const float s = (e * (as_array(lg) - lg[best]).cwiseMax(-1e30f)).sum();
                    const float entropy = std::log(z) - s / z;
                    threshold = std::min(threshold, opts_.typical_alpha * std::exp(-entropy));
                }
                bool ok = std::exp(best_logit - lg[best]) / z > threshold;
                const bool copy = vc.copies && vc.copies->in_copy(tail_before(), t);
                const bool eog = vc.is_eog && vc.is_eog(t);
                if (ok && ((eog && opts_.eog_as_argmax_only()) || (copy && opts_.copies_as_argmax_only()))) {
                    ok = false;
                    ++out.refused;
                }
                if (ok) {
                    ++out.off_argmax;
                    out.off_argmax_copies += copy;
                    out.off_argmax_eog += eog;
                } else {
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
                finish(best);
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
                finish(sample_from(probs_));
                return;
            }
        }
        out.accepted.push_back(chosen);
        if (vc.processor) {
            vc.processor->accept(tree.nodes[chosen].tok);
        }
        row = chosen + 1;
    }
}

}  // namespace dare
