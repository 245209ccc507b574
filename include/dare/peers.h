// llama.cpp's own decoding, run beside dare's methods in `dare bench`, so a
// user sees how dare compares with what they already have:
//   llama-plain             llama.cpp's plain loop as in its `simple` example
//                           (llama_batch_get_one, llama_decode, the greedy
//                           sampler), in a context with llama.cpp's default
//                           parameters (F16 KV cache, flash attention auto).
//   llama-<type>[:k=v...]   a draftless speculation mode of llama.cpp's
//                           `common` library (common_speculative), driven as
//                           its speculative-simple example drives it: draft
//                           from the tokens so far, decode [last, draft...]
//                           in one call, keep the longest prefix greedy
//                           decoding agrees with. Same default context.
// Types and settings, each as :KEY=VALUE (unset = llama.cpp's defaults):
//   ngram-simple, ngram-map-k, ngram-map-k4v   n (key n-gram size), m (draft
//                                              length), hits (min hits)
//   ngram-mod                                  match, max, min
//   ngram-cache                                static=1: also a static
//       n-gram cache built from the bench corpus, as llama-lookup-create does
// Statistics use dare's accounting (generation_stats): tokens include the
// end-of-generation token, every decode call (prefill included) is a forward
// pass, seconds cover the whole record.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dare/generate.h"

namespace dare {

// True for names this module runs ("llama-plain", "llama-ngram-mod:match=16:max=32", ...).
bool is_llama_peer(const std::string & method);

// The speculation types the vendored llama.cpp offers without a draft model.
std::vector<std::string> llama_peer_types();

class llama_peer {
  public:
    // corpus: token sequences for the static n-gram cache (ngram-cache:static=1).
    // Throws dare::error on an unknown type or setting.
    llama_peer(const model & m, const std::string & method, int32_t threads, uint32_t n_ctx,
               const std::vector<std::vector<token>> & corpus = {});
    ~llama_peer();
    llama_peer(const llama_peer &) = delete;
    llama_peer & operator=(const llama_peer &) = delete;

    // Greedy decoding of one prompt (temperature is ignored: peers are greedy).
    generation_result generate(std::span<const token> prompt, const generation_options & opts);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace dare
