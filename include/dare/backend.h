// The only door to llama.cpp. Everything else in dare speaks in our own
// tokens, batches and logit spans, so drafting and verification can be tested
// without a model. Errors from llama.cpp become dare::error with a clear cause
// (missing file, not a GGUF, unsupported architecture, context too small).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dare {

using token = int32_t;
using seq_id = int32_t;
using pos_t = int32_t;

// Facts about a loaded model, as llama.cpp reports them.
struct model_info {
    std::string path;
    std::string description;   // e.g. "llama ?B Q4_1"
    std::string architecture;  // general.architecture
    std::string name;          // general.name (may be empty)
    uint64_t n_params = 0;
    uint64_t size_bytes = 0;   // tensor bytes
    int32_t n_layer = 0;
    int32_t n_embd = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t n_ctx_train = 0;
    int32_t n_vocab = 0;
    uint64_t vocab_fingerprint = 0;  // hash of every token's text: pools refuse other vocabularies
    // Weights stored as floats (general.file_type F32, F16 or BF16). llama.cpp's
    // CPU matrix kernel for those (llamafile's tinyBLAS) takes only products
    // of 2+ rows and leaves one row to ggml's vector dot product, which sums
    // in another order; context::decode pads micro-batches of one row (or one
    // row of logits) for them.
    bool float_weights = false;
};

struct chat_message {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

struct model_options {
    int32_t n_gpu_layers = -1;  // layers offloaded to a GPU backend when one is built in and found (-1 = all)
    bool verbose = false;      // pass llama.cpp's own log through to stderr
    // How prompts are framed (--chat-template): "auto" (the GGUF's own
    // template), "none" (prompts as raw text, for base models), or a
    // template file or one of llama.cpp's built-in template names.
    std::string chat_template = "auto";
};

// A loaded GGUF model and its vocabulary. Thread-compatible (const methods may
// run concurrently).
class model {
  public:
    // Throws dare::error naming the cause.
    explicit model(const std::string & path, const model_options & opts = {});
    ~model();
    model(const model &) = delete;
    model & operator=(const model &) = delete;

    const model_info & info() const { return info_; }
    bool on_gpu() const;  // layers were offloaded to a GPU backend
    int32_t n_vocab() const { return info_.n_vocab; }

    // add_special: BOS etc. as the model wants; parse_special: "<|im_start|>"
    // in the text becomes the control token.
    std::vector<token> tokenize(const std::string & text, bool add_special, bool parse_special) const;
    // Text of a token sequence; special tokens are not rendered.
    std::string detokenize(std::span<const token> tokens) const;
    // Text of one token (appendable piece).
    std::string token_piece(token t) const;
    bool is_eog(token t) const;

    // Formats messages with the chat template model_options chose; add_assistant
    // appends the assistant-turn opener. Throws dare::error when there is
    // none (a model without one under "auto": the message names the flag).
    std::string apply_chat_template(const std::vector<chat_message> & messages, bool add_assistant) const;
    // A user prompt's tokens as every command feeds them to the model: through
    // the chat template, or as raw text under --chat-template none.
    std::vector<token> prompt_tokens(const std::string & user_text) const;
    // Prompt openings that every engine decodes as a prompt chunk of their
    // own (prompt_chunk_end), so that a sequence keeps their KV cells from
    // one prompt to the next (context::begin_prompt): the chat template's
    // own opening, and those add_prompt_head() registers. A prompt's
    // opening is the longest registered one it starts with and goes on
    // past; 0 when none.
    size_t prompt_head_in(std::span<const token> prompt) const;
    // Registers the tokens that every prompt_tokens(text) with `text`
    // starting with `text_start` begins with (a prompt template's text
    // before its first placeholder, within the chat framing), when they are
    // at least kMinPromptHead tokens; returns their count, 0 when not
    // registered. Register before decoding: every engine has to cut a
    // prompt the same way. The constructor registers the chat template's
    // opening (text_start ""): SmolLM2-Instruct's, "<|im_start|>user\n", is 3
    // tokens, too few to be worth a chunk.
    size_t add_prompt_head(const std::string & text_start);
    static constexpr size_t kMinPromptHead = 8;

    struct impl;
    impl & get() const { return *impl_; }

  private:
    std::unique_ptr<impl> impl_;
    model_info info_;
    std::vector<std::vector<token>> heads_;
};

// One decode call's worth of tokens, each at a position and in one or more
// sequences; `logits` marks the rows whose next-token logits are wanted.
// Plain vectors reused across steps, so a hot loop allocates nothing once the
// capacity is reached.
struct batch {
    std::vector<token> tokens;
    std::vector<pos_t> positions;
    std::vector<int32_t> seq_offsets;  // seq ids of row i: seq_ids[seq_offsets[i] .. seq_offsets[i+1])
    std::vector<seq_id> seq_ids;
    std::vector<int8_t> logits;

    batch() { seq_offsets.push_back(0); }
    void clear();
    // Adds a row in one sequence; returns its row index.
    int32_t add(token t, pos_t pos, seq_id seq, bool want_logits);
    // Adds a row shared by several sequences (tree nodes visible to many leaves).
    int32_t add(token t, pos_t pos, std::span<const seq_id> seqs, bool want_logits);
    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    bool empty() const { return tokens.empty(); }
};

// How a context lays out its KV cache and computes attention (CPU only:
// with the model on a GPU a context keeps llama.cpp's default layout).
enum class kv_layout {
    // F16 keys and values, flash attention, and every generated row (decode,
    // draft and verification rows) on ggml's reference kernels. llama.cpp's
    // CPU flash attention has three kernels: a single query over 512+ cells
    // is split across threads and the partial sums merged, 64+ queries of
    // one sequence are tiled, everything else runs one query row at a time,
    // and the three round differently, so a token's logits would depend on
    // the size of the batch it is in (Backend.BatchInvariant... in
    // tests/test_backend.cpp: 344 of 500 rows differ between one-at-a-time
    // and 8-at-a-time decoding with llama.cpp's default layout, 500 of 500
    // without flash attention, 0 with this). With the reference kernels on
    // (ggml_backend_cpu_set_use_ref) every generated row takes the row
    // kernel and its logits are bit-identical in any batch; strict
    // verification and vanilla decoding rely on it. Prompt rows
    // (context::decode_prompt) keep the fast kernels, the tiled one above
    // all (user prompts: 1.49 against 1.87 ms per prompt token on the row
    // kernel, docs/benchmarks.md "Whole job"), and stay identical in every
    // engine because every engine cuts a prompt into the same chunks
    // (prompt_chunk_end).
    batch_invariant,
    // llama.cpp's default: F16 keys and values, flash attention. The row
    // kernel skips masked cells, which suits many records in one cache
    // (batched decoding).
    llama_default,
    // F16 keys and values, attention as matrix products and a softmax. The
    // row kernel above recomputes exponentials cell by cell for each query
    // row, so a tree of 8-24 rows over 600-900 cells costs 8-30% less this
    // way on the Xeon VMs of docs/benchmarks.md (`dare calibrate --shapes`);
    // at the shallower depths and small trees of knowledge records it is
    // slower (docs/quality.md), so it is an option (--kv-layout plain), not
    // a default.
    plain_attention,
};
const char * to_string(kv_layout l);
// "invariant", "default" or "plain" (the --kv-layout names); throws dare::error.
kv_layout parse_kv_layout(const std::string & s);

struct context_options {
    uint32_t n_ctx = 4096;     // total KV cells across all sequences
    uint32_t n_batch = 512;    // most tokens one decode call takes
    uint32_t n_seq_max = 1;    // distinct sequences (tree branches, parallel records)
    int32_t n_threads = 0;     // 0 = hardware threads
    bool kv_unified = true;    // one KV buffer shared by all sequences (needed for trees);
                               // false: one stream per sequence (batched records)
    bool embeddings = false;   // embedding mode (mean pooling), for encoders
    kv_layout layout = kv_layout::batch_invariant;
};

// A llama.cpp context: KV cache plus compute state. Not thread-safe.
class context {
  public:
    context(const model & m, const context_options & opts);
    ~context();
    context(const context &) = delete;
    context & operator=(const context &) = delete;

    // Runs the model over the batch (split internally if larger than n_batch).
    // Throws dare::error if the KV cache is full or llama.cpp fails.
    void decode(const batch & b);
    // The same for one chunk of one prompt: the rows [begin,
    // prompt_chunk_end(head, begin, n)) of a prompt of n tokens, in one
    // sequence. In the batch-invariant layout they run on the fast kernels,
    // so a prompt's cells (and its last row's logits) depend on how it is
    // cut: every engine cuts it the same way.
    static constexpr int32_t prompt_chunk = 512;
    void decode_prompt(const batch & b);
    // Readies sequence `s` for `prompt`, whose first `head` tokens are its
    // opening (model::prompt_head_in): keeps the leading KV cells the
    // sequence holds from an earlier prompt's chunks (decode_prompt after a
    // begin_prompt) that this prompt would decode the same way (the same
    // head, whole chunks, the same tokens, never its last token, whose
    // logits are wanted), removes the rest, and returns how many it kept;
    // the caller decodes the prompt's chunks from there. Kept cells are the
    // ones a fresh prefill writes: a cell depends only on the tokens up to
    // it and the chunk it was decoded in, and the kept cells stay first in
    // the cache, in position order. Any other change to those cells
    // (seq_rm, seq_cp into the sequence, clear, a generated row among them)
    // forgets them.
    size_t begin_prompt(seq_id s, std::span<const token> prompt, size_t head);
    // Wall seconds spent inside llama_decode since the context was made (the
    // step profile of `dare bench`). On a GPU this is mostly the launch: the
    // wait for the result falls into the first logits() read.
    double decode_seconds() const;
    // Next-token logits of the row `row` of the last decoded batch (marked with
    // want_logits); n_vocab floats.
    std::span<const float> logits(int32_t row) const;
    // Embedding mode: the mean-pooled embedding of sequence `s` from the last
    // decode (n_embd floats). A sequence must be decoded in one call.
    std::span<const float> embedding(seq_id s) const;

    // KV cache bookkeeping per sequence; p1 < 0 means "to the end".
    void seq_rm(seq_id s, pos_t p0, pos_t p1 = -1);
    void seq_cp(seq_id src, seq_id dst, pos_t p0 = 0, pos_t p1 = -1);
    void seq_keep(seq_id s);
    // Highest position stored for the sequence, -1 when empty.
    pos_t seq_pos_max(seq_id s) const;
    void clear();

    uint32_t n_ctx() const;
    // KV cells one sequence can hold: n_ctx in a unified cache, else its own
    // stream's share (n_ctx / n_seq_max, which llama.cpp rounds up to 256).
    uint32_t n_ctx_seq() const;
    uint32_t n_seq_max() const;
    uint32_t n_batch() const;  // rows one llama.cpp decode call takes; decode() splits larger batches
    const model & get_model() const { return model_; }

  private:
    void run(const batch & b);
    int32_t row_to_pad(const batch & b);
    const model & model_;
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Where the prompt chunk that starts at position `begin` of a prompt of `n`
// tokens ends, for a prompt whose first `head` tokens are its opening
// (model::prompt_head_in; 0 for none): chunks are [0, head), then [head,
// head + 512), [head + 512, head + 1024), ... (context::prompt_chunk), so a
// prompt resumed at a chunk boundary is cut as a whole prompt is, and every
// prompt's opening is a chunk that another prompt can keep.
inline size_t prompt_chunk_end(size_t head, size_t begin, size_t n) {
    if (begin < head) {
        return std::min(n, head);
    }
    const size_t c = static_cast<size_t>(context::prompt_chunk);
    return std::min(n, head + ((begin - head) / c + 1) * c);
}

// llama.cpp's repetition samplers over one token history (what a record's
// repetition rules see, repetition.h): DRY, which lowers the logit of a token
// that would extend a sequence already in the history by multiplier *
// base^(length - allowed_length), and the repeat / frequency / presence
// penalties over the last `penalty_last_n` tokens. Both only ever change the
// logits of tokens in their window, so apply() takes those tokens and patches
// just their logits: O(window) per row, not O(vocabulary).
struct llama_penalty_options {
    float dry_multiplier = 0;  // 0 = DRY off
    float dry_base = 1.75f;
    int32_t dry_allowed_length = 2;
    int32_t dry_last_n = 256;  // tokens of history DRY looks at
    float repeat = 1.0f;       // 1 = off
    float frequency = 0;
    float presence = 0;
    int32_t penalty_last_n = 64;
};

class llama_penalties {
  public:
    // DRY's sequence breakers are llama.cpp's defaults (newline, colon,
    // double quote, asterisk), tokenized with the model's vocabulary.
    llama_penalties(const model & m, const llama_penalty_options & o);
    ~llama_penalties();
    llama_penalties(const llama_penalties &) = delete;
    llama_penalties & operator=(const llama_penalties &) = delete;
    void reset();
    void accept(token t);
    // Applies both samplers to logits[t] for every t in `window_tokens`
    // (distinct tokens of the history window), in place.
    void apply(std::span<const token> window_tokens, std::span<float> logits);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Re-quantizes a GGUF model (requantization of already quantized weights
// allowed) to `type`: q4_0, q4_1, q8_0, q4_k_m or iq4_nl. Writes OUT.tmp, then renames.
void quantize_model(const std::string & in, const std::string & out, const std::string & type, int32_t n_threads);

// `dare --version`: dare's version, the llama.cpp it was built with (the
// llama-cpp-python source release that carries it, and its ggml version),
// the backends compiled in, and the CPU features llama.cpp uses.
std::string version_text();

// The CPU features llama.cpp was built with and uses here (llama.cpp's
// system info line, e.g. "CPU : ... AVX2 = 1 | AVX512 = 1 | ..."): what a
// measured cost on this machine depends on besides the model.
std::string system_info();

// Index of the largest value (first one on ties).
token argmax(std::span<const float> logits);

}  // namespace dare
