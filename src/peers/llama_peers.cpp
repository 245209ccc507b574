// llama.cpp's plain loop and its `common` draftless speculation, for
// side-by-side benchmarks (contract in include/dare/peers.h). With backend/,
// the only module that calls llama.cpp directly: it has to run llama.cpp's
// own code, not dare's.
#include "dare/peers.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "backend/handle.h"
#include "dare/error.h"
#include "dare/verify.h"
#include "llama.h"
#include "log.h"
#include "ngram-cache.h"
#include "speculative.h"

namespace dare {

namespace {

using clock_type = std::chrono::steady_clock;

const std::vector<std::string> & types() {
    static const std::vector<std::string> t = {"ngram-simple", "ngram-map-k", "ngram-map-k4v", "ngram-mod",
                                               "ngram-cache"};
    return t;
}

// "llama-ngram-mod:match=16:max=32" -> type "ngram-mod", {match:16, max:32}.
struct parsed_method {
    std::string type;  // "plain" or one of types()
    std::map<std::string, int> settings;
};

parsed_method parse(const std::string & method) {
    parsed_method p;
    const std::string body = method.substr(6);  // after "llama-"
    const auto colon = body.find(':');
    p.type = body.substr(0, colon);
    if (p.type != "plain" && std::find(types().begin(), types().end(), p.type) == types().end()) {
        std::string all = "llama-plain";
        for (const auto & t : types()) {
            all += ", llama-" + t;
        }
        throw error("unknown llama.cpp peer '" + method + "' (" + all + ")");
    }
    if (colon == std::string::npos) {
        return p;
    }
    std::string rest = body.substr(colon + 1);
    while (!rest.empty()) {
        const auto sep = rest.find(':');
        const std::string kv = rest.substr(0, sep);
        rest = sep == std::string::npos ? "" : rest.substr(sep + 1);
        const auto eq = kv.find('=');
        try {
            if (eq == std::string::npos) {
                throw std::invalid_argument(kv);
            }
            size_t used = 0;
            const int v = std::stoi(kv.substr(eq + 1), &used);
            if (used != kv.size() - eq - 1 || v < 0) {
                throw std::invalid_argument(kv);
            }
            p.settings[kv.substr(0, eq)] = v;
        } catch (const std::exception &) {
            throw error("peer '" + method + "': setting '" + kv + "' is not KEY=non-negative integer");
        }
    }
    return p;
}

// Takes a setting the type knows; anything left over is an error.
class settings_reader {
  public:
    settings_reader(const std::string & method, std::map<std::string, int> s) : method_(method), s_(std::move(s)) {}
    template <class T>
    void take(const char * key, T & field) {
        const auto it = s_.find(key);
        if (it != s_.end()) {
            field = static_cast<T>(it->second);
            s_.erase(it);
        }
    }
    void check_all_used() const {
        if (!s_.empty()) {
            throw error("peer '" + method_ + "': unknown setting '" + s_.begin()->first + "'");
        }
    }

  private:
    std::string method_;
    std::map<std::string, int> s_;
};

}  // namespace

bool is_llama_peer(const std::string & method) { return method.rfind("llama-", 0) == 0; }

std::vector<std::string> llama_peer_types() { return types(); }

struct llama_peer::impl {
    const model & m;
    std::string method;
    parsed_method pm;
    llama_context * ctx = nullptr;
    const llama_vocab * vocab = nullptr;
    llama_sampler * greedy = nullptr;  // llama-plain
    llama_batch lb{};                  // speculation: [last, draft...]
    bool has_batch = false;
    common_params_speculative sp;
    common_speculative * spec = nullptr;
    bool fresh_per_prompt = false;  // ngram-cache keeps per-sequence state that begin() does not reset
    std::string static_cache_path;
    int32_t n_batch = 0;

    impl(const model & mod, const std::string & name) : m(mod), method(name), pm(parse(name)) {}
    ~impl() {
        if (spec) {
            common_speculative_free(spec);
        }
        if (greedy) {
            llama_sampler_free(greedy);
        }
        if (has_batch) {
            llama_batch_free(lb);
        }
        if (ctx) {
            llama_free(ctx);
        }
        if (!static_cache_path.empty()) {
            std::error_code ec;
            std::filesystem::remove(static_cache_path, ec);
        }
    }

    void make_spec() {
        if (spec) {
            common_speculative_free(spec);
        }
        spec = common_speculative_init(sp, 1);
        if (!spec) {
            throw error("llama.cpp could not set up speculation '" + method + "'");
        }
    }

    // llama_decode, counted and timed into the record's stats.
    void decode_timed(const llama_batch & b, generation_stats & st) {
        const auto t0 = clock_type::now();
        if (llama_decode(ctx, b) != 0) {
            throw error("llama_decode failed in peer '" + method + "'");
        }
        st.decode_seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
        ++st.forward_passes;
    }

    generation_result plain(std::span<const token> prompt, const generation_options & g);
    generation_result speculate(std::span<const token> prompt, const generation_options & g);
};

llama_peer::llama_peer(const model & m, const std::string & method, int32_t threads, uint32_t n_ctx,
                       const std::vector<std::vector<token>> & corpus)
    : impl_(std::make_unique<impl>(m, method)) {
    auto & s = *impl_;
    // llama.cpp's common library logs its n-gram bookkeeping at info level;
    // a benchmark's output should not drown in it.
    common_log_set_verbosity_thold(-1);
    settings_reader rd(method, s.pm.settings);
    if (s.pm.type != "plain") {
        s.sp.types = {common_speculative_type_from_name(s.pm.type)};
        if (s.pm.type == "ngram-simple" || s.pm.type == "ngram-map-k" || s.pm.type == "ngram-map-k4v") {
            auto & nm = s.pm.type == "ngram-simple" ? s.sp.ngram_simple
                        : s.pm.type == "ngram-map-k" ? s.sp.ngram_map_k
                                                     : s.sp.ngram_map_k4v;
            rd.take("n", nm.size_n);
            rd.take("m", nm.size_m);
            rd.take("hits", nm.min_hits);
        } else if (s.pm.type == "ngram-mod") {
            rd.take("match", s.sp.ngram_mod.n_match);
            rd.take("max", s.sp.ngram_mod.n_max);
            rd.take("min", s.sp.ngram_mod.n_min);
        } else {  // ngram-cache
            int use_static = 0;
            rd.take("static", use_static);
            s.fresh_per_prompt = true;
            if (use_static) {
                if (corpus.empty()) {
                    throw error("peer '" + method + "': static=1 needs a corpus (dare bench --peer-corpus)");
                }
                // As llama-lookup-create builds its static cache: LLAMA_NGRAM_STATIC-grams of the corpus.
                common_ngram_cache cache;
                for (const auto & seq : corpus) {
                    std::vector<llama_token> t(seq.begin(), seq.end());
                    common_ngram_cache_update(cache, LLAMA_NGRAM_STATIC, LLAMA_NGRAM_STATIC, t,
                                              static_cast<int>(t.size()), false);
                }
                s.static_cache_path = (std::filesystem::temp_directory_path() /
                                       ("dare-ngram-cache-" + std::to_string(getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)) + ".bin"))
                                          .string();
                common_ngram_cache_save(cache, s.static_cache_path);
                s.sp.ngram_cache.lookup_cache_static = s.static_cache_path;
            }
        }
    }
    // fa=0: llama.cpp's attention without its flash-attention kernel, as
    // dare's --kv-layout plain runs (kv_layout::plain_attention).
    int flash_attn = 1;
    rd.take("fa", flash_attn);
    rd.check_all_used();

    llama_context_params cp = llama_context_default_params();
    if (!flash_attn) {
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    cp.n_ctx = n_ctx;
    cp.n_batch = std::min<uint32_t>(cp.n_batch, n_ctx);
    cp.n_ubatch = std::min(cp.n_ubatch, cp.n_batch);
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    s.ctx = llama_init_from_model(llama_model_handle(m), cp);
    if (!s.ctx) {
        throw error("llama.cpp could not create a context for peer '" + method + "'");
    }
    s.vocab = llama_model_get_vocab(llama_model_handle(m));
    s.n_batch = static_cast<int32_t>(llama_n_batch(s.ctx));
    if (s.pm.type == "plain") {
        s.greedy = llama_sampler_chain_init(llama_sampler_chain_default_params());
        llama_sampler_chain_add(s.greedy, llama_sampler_init_greedy());
    } else {
        s.lb = llama_batch_init(s.n_batch, 0, 1);
        s.has_batch = true;
        s.make_spec();
    }
}

llama_peer::~llama_peer() = default;

generation_result llama_peer::generate(std::span<const token> prompt, const generation_options & g) {
    if (prompt.size() < 2) {
        throw error("peer '" + impl_->method + "': prompt needs at least 2 tokens");
    }
    const size_t need = prompt.size() + static_cast<size_t>(g.max_tokens) + 1;
    if (need > llama_n_ctx(impl_->ctx)) {
        throw error("context too small for peer '" + impl_->method + "': needs " + std::to_string(need) + " tokens");
    }
    llama_memory_clear(llama_get_memory(impl_->ctx), true);
    auto r = impl_->pm.type == "plain" ? impl_->plain(prompt, g) : impl_->speculate(prompt, g);
    finish_result(impl_->m, r);
    return r;
}

generation_result llama_peer::impl::plain(std::span<const token> prompt, const generation_options & g) {
    generation_result r;
    r.stats.prompt_tokens = static_cast<int32_t>(prompt.size());
    std::vector<llama_token> inp(prompt.begin(), prompt.end());
    llama_sampler_reset(greedy);
    const auto t0 = clock_type::now();
    // The `simple` example's loop: decode, sample, feed the token back.
    llama_batch b = llama_batch_get_one(inp.data(), static_cast<int32_t>(inp.size()));
    llama_token t = 0;
    while (true) {
        decode_timed(b, r.stats);
        if (r.stats.forward_passes == 1) {
            r.stats.prefill_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        }
        t = llama_sampler_sample(greedy, ctx, -1);
        if (g.record_gaps) {
            r.gaps.push_back(top2_gap(std::span<const float>(llama_get_logits_ith(ctx, -1), static_cast<size_t>(m.n_vocab()))));
        }
        r.tokens.push_back(t);
        if (llama_vocab_is_eog(vocab, t) || static_cast<int32_t>(r.tokens.size()) >= g.max_tokens) {
            break;
        }
        b = llama_batch_get_one(&t, 1);
    }
    r.stats.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

generation_result llama_peer::impl::speculate(std::span<const token> prompt, const generation_options & g) {
    generation_result r;
    r.stats.prompt_tokens = static_cast<int32_t>(prompt.size());
    if (fresh_per_prompt) {
        make_spec();
    }
    const int32_t n_vocab = m.n_vocab();
    const int32_t n_ctx = static_cast<int32_t>(llama_n_ctx(ctx));
    const auto t0 = clock_type::now();

    auto add = [&](llama_token t, llama_pos pos, bool logits) {
        lb.token[lb.n_tokens] = t;
        lb.pos[lb.n_tokens] = pos;
        lb.n_seq_id[lb.n_tokens] = 1;
        lb.seq_id[lb.n_tokens][0] = 0;
        lb.logits[lb.n_tokens] = logits;
        ++lb.n_tokens;
    };
    auto decode = [&]() { decode_timed(lb, r.stats); };
    // Prefill all but the last prompt token; the last one goes first into
    // every verification batch (speculative-simple's layout).
    llama_tokens context(prompt.begin(), prompt.end() - 1);
    context.reserve(prompt.size() + static_cast<size_t>(g.max_tokens));
    for (size_t begin = 0; begin < context.size(); begin += static_cast<size_t>(n_batch)) {
        lb.n_tokens = 0;
        for (size_t i = begin; i < context.size() && i < begin + static_cast<size_t>(n_batch); ++i) {
            add(context[i], static_cast<llama_pos>(i), false);
        }
        decode();
    }
    r.stats.prefill_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    llama_token last = prompt.back();
    llama_pos n_past = static_cast<llama_pos>(context.size());
    common_speculative_begin(spec, 0, context);
    llama_tokens draft;
    bool done = false;
    while (!done) {
        const int32_t room = std::min(n_ctx - n_past - 2, g.max_tokens - static_cast<int32_t>(r.tokens.size()) - 1);
        draft.clear();
        if (room > 0) {
            const auto td = clock_type::now();
            common_speculative_get_draft_params(spec, 0) = {true, std::min(room, n_batch - 1), n_past, last, &context,
                                                            &draft};
            common_speculative_draft(spec);
            r.stats.retrieval_seconds += std::chrono::duration<double>(clock_type::now() - td).count();
        }
        lb.n_tokens = 0;
        add(last, n_past, true);
        for (size_t i = 0; i < draft.size(); ++i) {
            add(draft[i], n_past + 1 + static_cast<llama_pos>(i), true);
        }
        decode();
        r.stats.draft_tokens += static_cast<int32_t>(draft.size());
        // Greedy acceptance: row i's argmax is the next token; keep going while it matches the draft.
        size_t n_new = 0;
        while (true) {
            const std::span<const float> lg(llama_get_logits_ith(ctx, static_cast<int32_t>(n_new)),
                                            static_cast<size_t>(n_vocab));
            const token t = argmax(lg);
            if (g.record_gaps) {
                r.gaps.push_back(top2_gap(lg));
            }
            ++n_new;
            context.push_back(last);
            last = t;
            r.tokens.push_back(t);
            if (llama_vocab_is_eog(vocab, t) || static_cast<int32_t>(r.tokens.size()) >= g.max_tokens) {
                done = true;
                break;
            }
            if (n_new > draft.size() || draft[n_new - 1] != t) {
                break;
            }
        }
        r.stats.accepted_tokens += static_cast<int32_t>(n_new - 1);
        common_speculative_accept(spec, 0, static_cast<uint16_t>(n_new - 1));
        n_past += static_cast<llama_pos>(n_new);
        llama_memory_seq_rm(llama_get_memory(ctx), 0, n_past, -1);
    }
    r.stats.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

}  // namespace dare
