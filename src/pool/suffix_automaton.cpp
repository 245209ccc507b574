// Suffix automaton index: online construction (one state per class of equal
// end-position sets), with per-state occurrence counts kept up to date by
// walking the suffix-link path of each new end position.
#include "suffix_automaton.h"

#include <algorithm>

#include "binio.h"

namespace dare {

suffix_automaton::suffix_automaton(const index_options & o) : token_index(o) { reset(); }

void suffix_automaton::reset() {
    states_.clear();
    edges_.clear();
    edge_index_.clear();
    states_.push_back({0, -1, -1, {0, 0}});
    last_ = 0;
    stream_.clear();
    sources_.clear();
    sequences_ = 0;
}

int32_t suffix_automaton::go(int32_t s, token t) const {
    auto it = edge_index_.find(edge_key(s, t));
    return it == edge_index_.end() ? -1 : edges_[it->second].to;
}

void suffix_automaton::add_edge(int32_t from, token t, int32_t to) {
    edges_.push_back({t, to, states_[from].first_edge});
    states_[from].first_edge = static_cast<int32_t>(edges_.size() - 1);
    edge_index_[edge_key(from, t)] = states_[from].first_edge;
}

void suffix_automaton::extend(token t, token_source src) {
    const int32_t cur = static_cast<int32_t>(states_.size());
    states_.push_back({states_[last_].len + 1, -1, -1, {0, 0}});
    int32_t p = last_;
    while (p >= 0 && go(p, t) < 0) {
        add_edge(p, t, cur);
        p = states_[p].link;
    }
    if (p < 0) {
        states_[cur].link = 0;
    } else {
        const int32_t q = go(p, t);
        if (states_[p].len + 1 == states_[q].len) {
            states_[cur].link = q;
        } else {
            const int32_t clone = static_cast<int32_t>(states_.size());
            states_.push_back({states_[p].len + 1, states_[q].link, -1, {states_[q].count[0], states_[q].count[1]}});
            for (int32_t e = states_[q].first_edge; e >= 0; e = edges_[e].next) {
                add_edge(clone, edges_[e].tok, edges_[e].to);
            }
            while (p >= 0) {
                auto it = edge_index_.find(edge_key(p, t));
                if (it == edge_index_.end() || edges_[it->second].to != q) {
                    break;
                }
                edges_[it->second].to = clone;
                p = states_[p].link;
            }
            states_[q].link = clone;
            states_[cur].link = clone;
        }
    }
    last_ = cur;
    // The new end position belongs to every state on cur's suffix-link path.
    if (t != separator) {
        const int s = static_cast<int>(src);
        for (int32_t v = cur; v > 0; v = states_[v].link) {
            ++states_[v].count[s];
        }
    }
}

void suffix_automaton::begin_sequence(token_source src) {
    if (!stream_.empty() && stream_.back() != separator) {
        stream_.push_back(separator);
        sources_.push_back(static_cast<uint8_t>(src_));
        extend(separator, src_);
    }
    src_ = src;
    if (stored_tokens() > opts_.max_tokens) {
        rebuild_from_recent();
    }
}

void suffix_automaton::append(token t) {
    if (t < 0) {
        throw error("suffix index: negative token id");
    }
    if (stream_.empty() || stream_.back() == separator) {
        ++sequences_;
    }
    stream_.push_back(t);
    sources_.push_back(static_cast<uint8_t>(src_));
    extend(t, src_);
}

// Keeps the most recent whole sequences, up to half the budget, rebuilding
// the automaton from them: old knowledge ages out, memory stays bounded.
void suffix_automaton::rebuild_from_recent() {
    const uint64_t keep = opts_.max_tokens / 2;
    size_t start = stream_.size();
    uint64_t kept = 0;
    for (size_t i = stream_.size(); i > 0;) {
        size_t end = i;
        if (stream_[end - 1] == separator) {
            --end;
        }
        size_t a = end;
        while (a > 0 && stream_[a - 1] != separator) {
            --a;
        }
        if (kept > 0 && kept + (end - a) > keep) {
            break;
        }
        kept += end - a;
        start = a;
        i = a;
    }
    std::vector<token> stream(stream_.begin() + static_cast<long>(start), stream_.end());
    std::vector<uint8_t> sources(sources_.begin() + static_cast<long>(start), sources_.end());
    const token_source cur = src_;
    replay(stream, sources);
    src_ = cur;
}

void suffix_automaton::replay(const std::vector<token> & stream, const std::vector<uint8_t> & sources) {
    reset();
    for (size_t i = 0; i < stream.size(); ++i) {
        if (stream[i] == separator) {
            continue;
        }
        if (stream[i] < 0 || sources[i] > 1) {
            throw error("pool file is corrupt (bad token or source)");
        }
        if (i == 0 || stream[i - 1] == separator) {
            begin_sequence(static_cast<token_source>(sources[i]));
        }
        append(stream[i]);
    }
}

std::pair<int32_t, int32_t> suffix_automaton::match(std::span<const token> context) const {
    const size_t n = std::min<size_t>(context.size(), static_cast<size_t>(std::max(opts_.max_suffix, 0)));
    int32_t s = 0;
    int32_t len = 0;
    for (token t : context.subspan(context.size() - n)) {
        while (s > 0 && go(s, t) < 0) {
            s = states_[s].link;
            len = states_[s].len;
        }
        const int32_t nx = go(s, t);
        if (nx >= 0) {
            s = nx;
            ++len;
        } else {
            s = 0;
            len = 0;
        }
    }
    // Shorten the match until some occurrence is followed by a real token.
    auto has_continuation = [this](int32_t st) {
        for (int32_t e = states_[st].first_edge; e >= 0; e = edges_[e].next) {
            if (edges_[e].tok != separator) {
                return true;
            }
        }
        return false;
    };
    while (s > 0 && !has_continuation(s)) {
        s = states_[s].link;
        len = states_[s].len;
    }
    return {s, len};
}

int32_t suffix_automaton::match_length(std::span<const token> context) const { return match(context).second; }

void suffix_automaton::draft(std::span<const token> context, const draft_limits & lim, draft_tree & out) {
    out.clear();
    const auto [s, len] = match(context);
    if (len == 0) {
        return;
    }
    builder_.build(
        s, lim,
        [this](int64_t h, std::vector<draft_candidate> & kids) {
            for (int32_t e = states_[h].first_edge; e >= 0; e = edges_[e].next) {
                if (edges_[e].tok == separator) {
                    continue;
                }
                const auto & st = states_[edges_[e].to];
                kids.push_back(
                    {edges_[e].tok, mix(static_cast<float>(st.count[0]), static_cast<float>(st.count[1])), edges_[e].to});
            }
        },
        out);
    out.root_score = mix(static_cast<float>(states_[s].count[0]), static_cast<float>(states_[s].count[1]));
}

uint64_t suffix_automaton::memory_bytes() const {
    return states_.capacity() * sizeof(state) + edges_.capacity() * sizeof(edge) +
           edge_index_.bucket_count() * sizeof(void *) +
           edge_index_.size() * (sizeof(std::pair<const uint64_t, int32_t>) + 2 * sizeof(void *)) +
           stream_.capacity() * sizeof(token) + sources_.capacity();
}

void suffix_automaton::save_body(std::ostream & out) const {
    binio::put_vec(out, stream_);
    binio::put_vec(out, sources_);
}

void suffix_automaton::load_body(std::istream & in) {
    std::vector<token> stream;
    std::vector<uint8_t> sources;
    binio::get_vec(in, stream, 1ull << 34);
    binio::get_vec(in, sources, stream.size());
    if (sources.size() != stream.size()) {
        throw error("pool file is corrupt (stream and sources differ in length)");
    }
    replay(stream, sources);
}

}  // namespace dare
