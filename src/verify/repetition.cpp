// Repetition rules on next-token logits (contract in include/dare/repetition.h).
#include "dare/repetition.h"

#include <algorithm>
#include <cmath>

#include "dare/error.h"
#include "util/mix.h"

namespace dare {

bool repetition_options::enabled() const {
    const auto & p = penalties;
    return no_repeat_ngram > 0 || no_copy_ngram > 0 || (p.dry_multiplier > 0 && p.dry_last_n > 0) ||
           (p.penalty_last_n > 0 && (p.repeat != 1.0f || p.frequency != 0 || p.presence != 0));
}

void repetition_options::validate() const {
    const auto & p = penalties;
    if (no_repeat_ngram < 0 || no_repeat_ngram == 1 || no_repeat_ngram > 64) {
        throw error("--no-repeat-ngram must be 0 (off) or in 2..64 (got " + std::to_string(no_repeat_ngram) + ")");
    }
    if (no_copy_ngram < 0 || no_copy_ngram == 1 || no_copy_ngram > 64) {
        throw error("--no-copy-ngram must be 0 (off) or in 2..64 (got " + std::to_string(no_copy_ngram) + ")");
    }
    if (!(p.dry_multiplier >= 0 && p.dry_multiplier <= 100)) {
        throw error("--dry-multiplier must be in [0, 100] (got " + std::to_string(p.dry_multiplier) + ")");
    }
    if (!(p.dry_base >= 1 && p.dry_base <= 10)) {
        throw error("--dry-base must be in [1, 10] (got " + std::to_string(p.dry_base) + ")");
    }
    if (p.dry_allowed_length < 1 || p.dry_allowed_length > 64) {
        throw error("--dry-allowed-length must be in 1..64 (got " + std::to_string(p.dry_allowed_length) + ")");
    }
    if (p.dry_last_n < 0 || p.penalty_last_n < 0) {
        throw error("--dry-last-n and --penalty-last-n must not be negative");
    }
    if (!(p.repeat > 0 && p.repeat <= 10) || !std::isfinite(p.frequency) || !std::isfinite(p.presence)) {
        throw error("--repeat-penalty must be in (0, 10], --frequency-penalty and --presence-penalty finite");
    }
}

bool repetition_options::operator==(const repetition_options & o) const {
    const auto & a = penalties;
    const auto & b = o.penalties;
    return no_repeat_ngram == o.no_repeat_ngram && no_copy_ngram == o.no_copy_ngram &&
           penalties_see_prompt == o.penalties_see_prompt &&
           a.dry_multiplier == b.dry_multiplier && a.dry_base == b.dry_base &&
           a.dry_allowed_length == b.dry_allowed_length && a.dry_last_n == b.dry_last_n && a.repeat == b.repeat &&
           a.frequency == b.frequency && a.presence == b.presence && a.penalty_last_n == b.penalty_last_n;
}

logit_processor::logit_processor(const model & m, const repetition_options & o) : o_(o), n_vocab_(m.n_vocab()) {
    o_.validate();
    penalties_ = std::make_unique<llama_penalties>(m, o_.penalties);
    stamp_.assign(static_cast<size_t>(n_vocab_), 0);
    repeats_.n = static_cast<size_t>(o_.no_repeat_ngram);
    copies_.n = static_cast<size_t>(o_.no_copy_ngram);
}

logit_processor::~logit_processor() = default;

namespace {
uint64_t hash_tokens(const token * t, size_t n) { return mix::fnv1a(mix::fnv_offset, t, n * sizeof(token)); }
}  // namespace

void logit_processor::ngram_rule::index(const std::vector<token> & h, size_t last) {
    next[hash_tokens(h.data() + last + 1 - n, n - 1)].push_back(static_cast<int32_t>(last));
}

void logit_processor::ngram_rule::ban_after(const std::vector<token> & h, std::vector<token> & out) const {
    const auto it = next.find(hash_tokens(h.data() + h.size() - (n - 1), n - 1));
    if (it == next.end()) {
        return;
    }
    for (int32_t at : it->second) {
        // Exact check: a hash collision must not ban anything.
        const auto a = h.begin() + at;
        if (std::equal(a - static_cast<std::ptrdiff_t>(n - 1), a, h.end() - static_cast<std::ptrdiff_t>(n - 1))) {
            out.push_back(*a);
        }
    }
}

bool logit_processor::ngram_rule::has(const std::vector<token> & h, std::span<const token> tail, token t) const {
    const auto it = next.find(hash_tokens(tail.data(), n - 1));
    if (it == next.end()) {
        return false;
    }
    for (int32_t at : it->second) {
        const auto a = h.begin() + at;
        if (*a == t && std::equal(a - static_cast<std::ptrdiff_t>(n - 1), a, tail.begin())) {
            return true;
        }
    }
    return false;
}

bool logit_processor::bans(std::span<const token> path, token t) {
    const size_t out = history_.size() - output_start_ + path.size();  // output tokens before t
    for (const ngram_rule * r : {&repeats_, &copies_}) {
        if (r->n < 2 || out < r->n - 1) {
            continue;
        }
        // The last n-1 tokens of history + path.
        const size_t need = r->n - 1;
        tail_.clear();
        const size_t from_path = std::min(path.size(), need);
        tail_.insert(tail_.end(), history_.end() - static_cast<std::ptrdiff_t>(need - from_path), history_.end());
        tail_.insert(tail_.end(), path.end() - static_cast<std::ptrdiff_t>(from_path), path.end());
        if (r->has(history_, tail_, t)) {
            return true;
        }
    }
    return false;
}

void logit_processor::begin(std::span<const token> prompt) {
    history_.assign(prompt.begin(), prompt.end());
    output_start_ = prompt.size();
    repeats_.clear();
    copies_.clear();
    penalties_->reset();
    for (size_t i = 0; i < prompt.size(); ++i) {
        if (o_.penalties_see_prompt) {
            penalties_->accept(prompt[i]);
        }
        if (copies_.n >= 2 && i + 1 >= copies_.n) {
            copies_.index(history_, i);
        }
    }
}

void logit_processor::accept(token t) {
    history_.push_back(t);
    penalties_->accept(t);
    if (repeats_.n >= 2 && history_.size() >= output_start_ + repeats_.n) {
        repeats_.index(history_, history_.size() - 1);
    }
}

std::span<const token> logit_processor::banned() {
    banned_.clear();
    const size_t out = history_.size() - output_start_;  // output tokens so far
    // Each rule looks at the output's last n-1 tokens only.
    for (const ngram_rule * r : {&repeats_, &copies_}) {
        if (r->n >= 2 && out >= r->n - 1) {
            r->ban_after(history_, banned_);
        }
    }
    return banned_;
}

std::span<const float> logit_processor::apply(std::span<const float> logits) {
    if (!enabled()) {
        return logits;
    }
    out_.assign(logits.begin(), logits.end());
    const auto & p = o_.penalties;
    const int32_t w = std::max(p.dry_multiplier > 0 ? p.dry_last_n : 0, p.penalty_last_n);
    if (w > 0) {
        window_.clear();
        if (++epoch_ == 0) {  // the stamps wrapped: start them over
            std::fill(stamp_.begin(), stamp_.end(), 0);
            epoch_ = 1;
        }
        const size_t first = o_.penalties_see_prompt ? 0 : output_start_;
        const size_t from = std::max(first, history_.size() > static_cast<size_t>(w) ? history_.size() - static_cast<size_t>(w) : 0);
        for (size_t i = from; i < history_.size(); ++i) {
            const token t = history_[i];
            if (t >= 0 && t < n_vocab_ && stamp_[static_cast<size_t>(t)] != epoch_) {
                stamp_[static_cast<size_t>(t)] = epoch_;
                window_.push_back(t);
            }
        }
        penalties_->apply(window_, out_);
    }
    for (token t : banned()) {
        out_[static_cast<size_t>(t)] = -INFINITY;
    }
    return out_;
}

repetition_options default_repetition() {
    repetition_options o;
    o.no_repeat_ngram = 6;
    o.no_copy_ngram = 6;
    return o;
}

logit_processor * processor_for(std::unique_ptr<logit_processor> & slot, const model & m, const repetition_options & o) {
    if (!o.enabled()) {
        return nullptr;
    }
    if (!slot || !(slot->options() == o)) {
        slot = std::make_unique<logit_processor>(m, o);
    }
    return slot.get();
}

}  // namespace dare
