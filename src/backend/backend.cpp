// llama.cpp wrapper: model loading with diagnosable errors, tokenization,
// chat templates, batched decode and per-sequence KV bookkeeping.
#include "dare/backend.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "backend/handle.h"
#include "dare/error.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "ggml-backend.h"
#include "llama-context.h"  // llama.cpp's own header (not its public API): the context's CPU backend, below
#include "llama.h"
#include "util/mix.h"

namespace dare {
namespace {

// llama.cpp logs through one global callback. We keep its recent warnings and
// errors so a failed load can say *why*, and only echo them when asked.
std::atomic<bool> g_verbose{false};
std::mutex g_log_mutex;
std::deque<std::string> g_log_tail;

void log_callback(ggml_log_level level, const char * text, void *) {
    if (g_verbose.load()) {
        std::fputs(text, stderr);
    }
    if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_WARN) {
        return;
    }
    std::lock_guard lock(g_log_mutex);
    g_log_tail.emplace_back(text);
    while (g_log_tail.size() > 32) {
        g_log_tail.pop_front();
    }
}

void backend_init_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        llama_log_set(log_callback, nullptr);
        llama_backend_init();
    });
}

std::vector<std::string> take_log_tail() {
    std::lock_guard lock(g_log_mutex);
    std::vector<std::string> out(g_log_tail.begin(), g_log_tail.end());
    g_log_tail.clear();
    return out;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
        s.pop_back();
    }
    return s;
}

// Turns a failed llama_model_load_from_file into the cause a user can act on.
std::string explain_load_failure(const std::string & path) {
    const auto tail = take_log_tail();
    for (const auto & line : tail) {
        auto at = line.find("unknown model architecture");
        if (at != std::string::npos) {
            return path + ": unsupported model architecture (" + trim(line.substr(at)) +
                   "); this build of llama.cpp cannot run it";
        }
    }
    std::string last;
    for (const auto & line : tail) {
        last += "\n  llama.cpp: " + trim(line);
    }
    return path + ": llama.cpp could not load this GGUF model" + (last.empty() ? "" : last);
}

// The default model build (paths.h) is made from the bundled model the first
// time it is asked for; quantize_model writes it under a temporary name, so
// two processes doing this at once each rename a complete file into place.
void make_default_model_if_missing(const std::string & path) {
    std::error_code ec;
    if (path != default_model_build_path() || std::filesystem::exists(path, ec)) {
        return;
    }
    const std::string bundled = bundled_model_path();
    if (!std::filesystem::exists(bundled, ec)) {
        throw error("model file not found: " + path + " (it is made from the bundled model " + bundled +
                    ", which is missing too: run scripts/setup.sh)");
    }
    std::fprintf(stderr, "[dare] making the default model %s from the bundled %s (Q8_0, once)\n", path.c_str(),
                 bundled.c_str());
    quantize_model(bundled, path, "q8_0", 0);
}

void check_gguf_file(const std::string & path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        throw error("model file not found: " + path);
    }
    if (!fs::is_regular_file(path, ec)) {
        throw error("model path is not a regular file: " + path);
    }
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    if (!in || std::memcmp(magic, "GGUF", 4) != 0) {
        throw error(path + ": not a GGUF model file (it does not start with the GGUF magic bytes)");
    }
}

std::string meta_string(const llama_model * m, const char * key) {
    char buf[512];
    int32_t n = llama_model_meta_val_str(m, key, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, std::min<size_t>(n, sizeof buf - 1));
}

// llama.cpp's built-in chat template names.
std::vector<std::string> builtin_chat_template_names() {
    std::vector<const char *> names(static_cast<size_t>(std::max<int32_t>(llama_chat_builtin_templates(nullptr, 0), 0)));
    llama_chat_builtin_templates(names.data(), names.size());
    return {names.begin(), names.end()};
}

std::string builtin_chat_templates() {
    std::string out;
    for (const auto & n : builtin_chat_template_names()) {
        out += (out.empty() ? "" : ", ") + n;
    }
    return out;
}

// --chat-template FILE|NAME: a file's text, else a built-in name.
std::string resolve_chat_template(const std::string & spec) {
    if (std::filesystem::is_regular_file(spec)) {
        const std::string text = read_file_bytes(spec);
        if (text.empty()) {
            throw error("--chat-template " + spec + ": the file is empty");
        }
        return text;
    }
    const auto names = builtin_chat_template_names();
    if (std::find(names.begin(), names.end(), spec) != names.end()) {
        return spec;
    }
    throw error("--chat-template " + spec + ": no such file, and not auto, none or one of llama.cpp's built-in "
                "templates (" + builtin_chat_templates() + ")");
}

}  // namespace

struct model::impl {
    llama_model * m = nullptr;
    bool on_gpu = false;
    const llama_vocab * vocab = nullptr;
    std::string chat_template;  // what llama_chat_apply_template gets: a template text or a built-in name
    bool raw_prompts = false;   // --chat-template none
    ~impl() {
        if (m) {
            llama_model_free(m);
        }
    }
};

llama_model * llama_model_handle(const model & m) { return m.get().m; }

bool model::on_gpu() const { return impl_->on_gpu; }

model::model(const std::string & path, const model_options & opts) : impl_(std::make_unique<impl>()) {
    backend_init_once();
    g_verbose.store(opts.verbose);
    make_default_model_if_missing(path);
    check_gguf_file(path);
    take_log_tail();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = opts.n_gpu_layers;
    impl_->m = llama_model_load_from_file(path.c_str(), mp);
    if (!impl_->m) {
        throw error(explain_load_failure(path));
    }
    if (!llama_model_has_decoder(impl_->m) || llama_model_has_encoder(impl_->m)) {
        throw error(path + ": unsupported model: dare needs a decoder-only model");
    }
    impl_->vocab = llama_model_get_vocab(impl_->m);
    impl_->on_gpu = opts.n_gpu_layers != 0 && llama_supports_gpu_offload();  // a GPU device was found

    info_.path = path;
    char desc[256];
    llama_model_desc(impl_->m, desc, sizeof desc);
    info_.description = desc;
    info_.architecture = meta_string(impl_->m, "general.architecture");
    info_.name = meta_string(impl_->m, "general.name");
    info_.n_params = llama_model_n_params(impl_->m);
    info_.size_bytes = llama_model_size(impl_->m);
    info_.n_layer = llama_model_n_layer(impl_->m);
    info_.n_embd = llama_model_n_embd(impl_->m);
    info_.n_head = llama_model_n_head(impl_->m);
    info_.n_head_kv = llama_model_n_head_kv(impl_->m);
    info_.n_ctx_train = llama_model_n_ctx_train(impl_->m);
    info_.n_vocab = llama_vocab_n_tokens(impl_->vocab);

    uint64_t h = mix::fnv1a(mix::fnv_offset, &info_.n_vocab, sizeof info_.n_vocab);
    for (int32_t t = 0; t < info_.n_vocab; ++t) {
        const char * s = llama_vocab_get_text(impl_->vocab, t);
        h = mix::fnv1a(h, s, std::strlen(s) + 1);
    }
    info_.vocab_fingerprint = h;
    const std::string file_type = meta_string(impl_->m, "general.file_type");
    info_.float_weights = file_type == std::to_string(LLAMA_FTYPE_ALL_F32) ||
                          file_type == std::to_string(LLAMA_FTYPE_MOSTLY_F16) ||
                          file_type == std::to_string(LLAMA_FTYPE_MOSTLY_BF16);

    impl_->raw_prompts = opts.chat_template == "none";
    if (opts.chat_template == "auto") {
        const char * tmpl = llama_model_chat_template(impl_->m, nullptr);
        impl_->chat_template = tmpl ? tmpl : "";
    } else if (!impl_->raw_prompts) {
        impl_->chat_template = resolve_chat_template(opts.chat_template);
        const std::vector<llama_chat_message> probe = {{"user", "x"}};
        char buf[1];
        if (llama_chat_apply_template(impl_->chat_template.c_str(), probe.data(), probe.size(), true, buf, 0) < 0) {
            throw error("--chat-template " + opts.chat_template +
                        ": llama.cpp cannot apply this template (it applies its built-in formats, recognised from "
                        "the template's text or named: " + builtin_chat_templates() + ")");
        }
    }
    add_prompt_head("");
}

size_t model::add_prompt_head(const std::string & text_start) {
    std::vector<token> a, b;
    try {
        a = prompt_tokens(text_start + "Alpha");
        b = prompt_tokens(text_start + "42");
    } catch (const error &) {
        return 0;  // no chat template to apply: prompts fail later, with the reason
    }
    // What two unlike continuations' prompts start with.
    const auto n = static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
    if (n < kMinPromptHead) {
        return 0;
    }
    a.resize(n);
    if (std::find(heads_.begin(), heads_.end(), a) == heads_.end()) {
        heads_.push_back(std::move(a));
    }
    return n;
}

size_t model::prompt_head_in(std::span<const token> prompt) const {
    size_t best = 0;
    for (const auto & h : heads_) {
        if (h.size() > best && prompt.size() > h.size() && std::equal(h.begin(), h.end(), prompt.begin())) {
            best = h.size();
        }
    }
    return best;
}

model::~model() = default;

std::vector<token> model::tokenize(const std::string & text, bool add_special, bool parse_special) const {
    std::vector<token> out(text.size() + 8);
    int32_t n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                               static_cast<int32_t>(out.size()), add_special, parse_special);
    if (n < 0) {
        if (n == INT32_MIN) {
            throw error("text too long to tokenize");
        }
        out.resize(-n);
        n = llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                           static_cast<int32_t>(out.size()), add_special, parse_special);
    }
    out.resize(std::max(n, 0));
    return out;
}

std::string model::detokenize(std::span<const token> tokens) const {
    std::string out(tokens.size() * 8 + 16, '\0');
    int32_t n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                                 static_cast<int32_t>(out.size()), false, false);
    if (n < 0) {
        out.resize(-n);
        n = llama_detokenize(impl_->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), out.data(),
                             static_cast<int32_t>(out.size()), false, false);
    }
    out.resize(std::max(n, 0));
    return out;
}

std::string model::token_piece(token t) const {
    char buf[256];
    int32_t n = llama_token_to_piece(impl_->vocab, t, buf, sizeof buf, 0, false);
    if (n < 0) {
        std::string big(-n, '\0');
        n = llama_token_to_piece(impl_->vocab, t, big.data(), static_cast<int32_t>(big.size()), 0, false);
        big.resize(std::max(n, 0));
        return big;
    }
    return std::string(buf, n);
}

bool model::is_eog(token t) const { return llama_vocab_is_eog(impl_->vocab, t); }

std::vector<token> model::prompt_tokens(const std::string & user_text) const {
    return impl_->raw_prompts ? tokenize(user_text, true, false)
                              : tokenize(apply_chat_template({{"user", user_text}}, true), true, true);
}

std::string model::apply_chat_template(const std::vector<chat_message> & messages, bool add_assistant) const {
    if (impl_->raw_prompts) {
        throw error("internal: no chat template under --chat-template none");
    }
    if (impl_->chat_template.empty()) {
        throw error(info_.path +
                    ": the model has no chat template (tokenizer.chat_template is missing); for a base model pass "
                    "--chat-template none (prompts as raw text), or --chat-template FILE|NAME to supply one");
    }
    std::vector<llama_chat_message> msgs;
    size_t total = 0;
    for (const auto & m : messages) {
        msgs.push_back({m.role.c_str(), m.content.c_str()});
        total += m.role.size() + m.content.size();
    }
    std::string out(2 * total + 256, '\0');
    int32_t n = llama_chat_apply_template(impl_->chat_template.c_str(), msgs.data(), msgs.size(), add_assistant,
                                          out.data(), static_cast<int32_t>(out.size()));
    if (n > static_cast<int32_t>(out.size())) {
        out.resize(n);
        n = llama_chat_apply_template(impl_->chat_template.c_str(), msgs.data(), msgs.size(), add_assistant,
                                      out.data(), static_cast<int32_t>(out.size()));
    }
    if (n < 0) {
        throw error(info_.path + ": the model's chat template is not one llama.cpp can apply");
    }
    out.resize(n);
    return out;
}

// ---------------------------------------------------------------------------

void batch::clear() {
    tokens.clear();
    positions.clear();
    seq_offsets.resize(1);
    seq_ids.clear();
    logits.clear();
}

int32_t batch::add(token t, pos_t pos, seq_id seq, bool want_logits) {
    return add(t, pos, std::span<const seq_id>(&seq, 1), want_logits);
}

int32_t batch::add(token t, pos_t pos, std::span<const seq_id> seqs, bool want_logits) {
    tokens.push_back(t);
    positions.push_back(pos);
    seq_ids.insert(seq_ids.end(), seqs.begin(), seqs.end());
    seq_offsets.push_back(static_cast<int32_t>(seq_ids.size()));
    logits.push_back(want_logits ? 1 : 0);
    return size() - 1;
}

// ---------------------------------------------------------------------------

struct context::impl {
    llama_context * ctx = nullptr;
    int32_t n_vocab = 0;
    uint32_t n_batch = 0;
    int32_t last_chunk_begin = 0;  // rows before this were decoded in an earlier chunk
    int32_t last_chunk_end = 0;
    double decode_seconds = 0;  // inside llama_decode, cumulative
    // Batch-invariant layout on the CPU: ggml's switch between its fast and
    // its reference kernels on the context's CPU backend, and where it stands.
    void (*set_use_ref)(ggml_backend_t, bool) = nullptr;
    ggml_backend_t cpu = nullptr;
    bool use_ref = false;
    // Float weights in the batch-invariant layout: a micro-batch of one row,
    // or of one row of logits, gets a copy of it beside (context::decode).
    bool pad_lone_output = false;
    uint32_t n_stream = 1;  // KV streams: n_seq_max when not unified
    // Scratch for that, reused across calls.
    batch padded;
    std::vector<std::pair<seq_id, pos_t>> pads;
    std::vector<seq_id> pad_seqs, row_seq;
    std::vector<int32_t> ub_rows;
    std::vector<uint8_t> ub_used;
    void reference_kernels(bool on) {
        if (set_use_ref && on != use_ref) {
            set_use_ref(cpu, on);
            use_ref = on;
        }
    }
    // Scratch for the llama_batch view, reused across calls.
    std::vector<int32_t> n_seq_id;
    std::vector<llama_seq_id *> seq_ptrs;
    // Per sequence: the tokens of its first cells, decoded as the chunks of
    // a prompt cut with `head` (context::begin_prompt); `open` while the
    // next chunk of that prompt may extend them.
    struct prompt_cells {
        std::vector<token> tokens;
        size_t head = 0;
        bool open = false;
    };
    std::vector<prompt_cells> prompts;
    prompt_cells * cells_of(seq_id s) {
        return s >= 0 && static_cast<size_t>(s) < prompts.size() ? &prompts[static_cast<size_t>(s)] : nullptr;
    }
    // Cells from position p0 on changed: what was kept ends there.
    void forget_from(seq_id s, pos_t p0) {
        if (s < 0) {
            for (size_t q = 0; q < prompts.size(); ++q) {
                forget_from(static_cast<seq_id>(q), p0);
            }
            return;
        }
        prompt_cells * c = cells_of(s);
        if (c && static_cast<size_t>(std::max<pos_t>(p0, 0)) < c->tokens.size()) {
            c->tokens.resize(static_cast<size_t>(std::max<pos_t>(p0, 0)));
            c->open = false;
        }
    }
    ~impl() {
        if (ctx) {
            llama_free(ctx);
        }
    }
};

const char * to_string(kv_layout l) {
    switch (l) {
        case kv_layout::batch_invariant:
            return "batch-invariant KV layout (F16 keys and values, flash attention, generated rows on the row kernel)";
        case kv_layout::llama_default: return "llama.cpp's default KV layout (F16 keys and values, flash attention)";
        case kv_layout::plain_attention: return "F16 keys and values, attention without flash attention";
    }
    return "?";
}

kv_layout parse_kv_layout(const std::string & s) {
    if (s == "invariant") return kv_layout::batch_invariant;
    if (s == "default") return kv_layout::llama_default;
    if (s == "plain") return kv_layout::plain_attention;
    throw error("--kv-layout must be invariant, default or plain (got '" + s + "')");
}

context::context(const model & m, const context_options & opts) : model_(m), impl_(std::make_unique<impl>()) {
    if (opts.n_ctx < 16) {
        throw error("context too small: --ctx must be at least 16 tokens (got " + std::to_string(opts.n_ctx) + ")");
    }
    if (opts.n_seq_max < 1) {
        throw error("n_seq_max must be at least 1");
    }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = opts.n_ctx;
    cp.n_batch = std::min(opts.n_batch, opts.n_ctx);
    cp.n_ubatch = cp.n_batch;
    cp.n_seq_max = opts.n_seq_max;
    int32_t threads = opts.n_threads > 0 ? opts.n_threads : static_cast<int32_t>(std::thread::hardware_concurrency());
    cp.n_threads = std::max(threads, 1);
    cp.n_threads_batch = cp.n_threads;
    cp.kv_unified = opts.kv_unified;
    // On a GPU (CUDA's attention kernels want equal K and V types) every
    // layout is llama.cpp's default.
    const bool invariant = opts.layout == kv_layout::batch_invariant && !m.on_gpu();
    if (invariant) {
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
        cp.type_k = GGML_TYPE_F16;
        cp.type_v = GGML_TYPE_F16;
    } else if (opts.layout == kv_layout::plain_attention && !m.on_gpu()) {
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    cp.no_perf = true;
    cp.embeddings = opts.embeddings;
    if (opts.embeddings) {
        cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    }
    take_log_tail();
    impl_->ctx = llama_init_from_model(m.get().m, cp);
    if (!impl_->ctx) {
        std::string why;
        for (const auto & line : take_log_tail()) {
            why += "\n  llama.cpp: " + trim(line);
        }
        throw error("could not create a llama.cpp context (n_ctx=" + std::to_string(opts.n_ctx) + ")" + why);
    }
    impl_->n_vocab = m.n_vocab();
    impl_->n_batch = llama_n_batch(impl_->ctx);
    impl_->prompts.resize(opts.n_seq_max);
    if (invariant) {
        // The CPU backend llama.cpp made for this context, and ggml's switch
        // to its reference kernels there (ggml-cpu.h), looked up through the
        // backend registry. With it on, flash attention runs every query row
        // on the row kernel (kv_layout::batch_invariant); it also turns off
        // ggml's operator fusion and its tiled K-quant matrix kernel, which
        // batches of 8+ rows of a K-quant model (Q4_K_M) would otherwise take.
        ggml_backend_sched_t sched = impl_->ctx->get_sched();
        for (int i = 0; i < ggml_backend_sched_get_n_backends(sched); ++i) {
            ggml_backend_t be = ggml_backend_sched_get_backend(sched, i);
            ggml_backend_dev_t dev = ggml_backend_get_device(be);
            if (dev && ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) {
                impl_->cpu = be;
                impl_->set_use_ref = reinterpret_cast<void (*)(ggml_backend_t, bool)>(
                    ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), "ggml_backend_cpu_set_use_ref"));
            }
        }
        if (!impl_->cpu || !impl_->set_use_ref) {
            throw error("internal: the batch-invariant KV layout needs llama.cpp's CPU backend and its reference "
                        "kernel switch (ggml_backend_cpu_set_use_ref), and this build has none");
        }
        impl_->reference_kernels(true);
        impl_->pad_lone_output = m.info().float_weights && !opts.embeddings;
        impl_->n_stream = opts.kv_unified ? 1 : opts.n_seq_max;
    }
}

context::~context() = default;

namespace {
// The llama.cpp decode call's split of a batch into micro-batches, rows as
// indices into it: with one KV stream per sequence (n_stream > 1) llama.cpp
// takes a run of consecutive sequence ids, in the order their first unused
// rows come, and the same number of rows from each (llama_batch_allocr::
// split_equal, sequential); with one stream, the whole batch (it fits in one
// micro-batch). `row_seq` is each row's first sequence; rows of one sequence
// are taken in batch order. Calls `f(rows)` for each micro-batch.
template <class F>
void for_each_micro_batch(std::span<const seq_id> row_seq, uint32_t n_stream, std::vector<int32_t> & rows,
                          std::vector<uint8_t> & used, F && f) {
    const int32_t n = static_cast<int32_t>(row_seq.size());
    if (n_stream <= 1) {
        rows.resize(n);
        for (int32_t i = 0; i < n; ++i) {
            rows[i] = i;
        }
        f(std::span<const int32_t>(rows));
        return;
    }
    used.assign(n, 0);
    for (int32_t left = n; left > 0;) {
        // the run of consecutive sequences, and the rows each has left
        seq_id first = -1, last = -1;
        for (int32_t i = 0; i < n; ++i) {
            if (!used[i] && (first < 0 || row_seq[i] == last + 1)) {
                if (first < 0) {
                    first = row_seq[i];
                }
                last = std::max(last, row_seq[i]);
            }
        }
        int32_t k = n;
        for (seq_id s = first; s <= last; ++s) {
            int32_t c = 0;
            for (int32_t i = 0; i < n; ++i) {
                c += !used[i] && row_seq[i] == s;
            }
            k = std::min(k, c);
        }
        rows.clear();
        for (seq_id s = first; s <= last; ++s) {
            int32_t taken = 0;
            for (int32_t i = 0; i < n && taken < k; ++i) {
                if (!used[i] && row_seq[i] == s) {
                    used[i] = 1;
                    rows.push_back(i);
                    ++taken;
                }
            }
        }
        left -= static_cast<int32_t>(rows.size());
        f(std::span<const int32_t>(rows));
    }
}
}  // namespace

// A micro-batch of the decode call with one row, or one row of logits, takes
// other kernels than it would beside other rows (model_info::float_weights);
// find one and return the row to copy beside it (its row of logits, else
// its row), or -1 when there is none, or when a copy at the row's next
// position would not fit: that position must be free in the batch and in
// the cache (the row extends its sequences) and within the sequence's cells.
int32_t context::row_to_pad(const batch & b) {
    auto & s = *impl_;
    const int32_t n = b.size();
    s.row_seq.resize(n);
    for (int32_t i = 0; i < n; ++i) {
        s.row_seq[i] = b.seq_ids[b.seq_offsets[i]];
    }
    int32_t pick = -1;
    for_each_micro_batch(std::span<const seq_id>(s.row_seq), s.n_stream, s.ub_rows, s.ub_used,
                         [&](std::span<const int32_t> rows) {
                             int32_t outputs = 0, out_row = -1;
                             for (const int32_t r : rows) {
                                 if (b.logits[r]) {
                                     ++outputs;
                                     out_row = r;
                                 }
                             }
                             if (pick < 0 && (rows.size() == 1 || outputs == 1)) {
                                 pick = outputs == 1 ? out_row : rows[0];
                             }
                         });
    if (pick < 0 || n + 1 > static_cast<int32_t>(s.n_batch) ||
        b.positions[pick] + 1 >= static_cast<pos_t>(n_ctx_seq())) {
        return -1;
    }
    for (int32_t k = b.seq_offsets[pick]; k < b.seq_offsets[pick + 1]; ++k) {
        const seq_id q = b.seq_ids[k];
        if (seq_pos_max(q) > b.positions[pick]) {
            return -1;
        }
        for (int32_t i = 0; i < n; ++i) {
            if (b.positions[i] > b.positions[pick] &&
                std::find(b.seq_ids.begin() + b.seq_offsets[i], b.seq_ids.begin() + b.seq_offsets[i + 1], q) !=
                    b.seq_ids.begin() + b.seq_offsets[i + 1]) {
                return -1;
            }
        }
    }
    return pick;
}

// With float weights, llama.cpp's CPU backend multiplies one row of
// activations by another kernel than two or more (model_info::float_weights),
// and a micro-batch's last layer and output matrix see only its rows with
// logits. So that a record's row gets the same logits alone as beside other
// records' rows, a micro-batch with one row (or one row of logits) is
// decoded with a copy of that row at the next position of its sequences
// (logits on, removed from the cache after): the row's attention masks the
// copy's later cell out, and the freed cell is where the sequence's next
// token goes. A batch gets up to 4 such copies.
void context::decode(const batch & b) {
    // A generated row ends the prompt its sequence was decoding. (It never
    // lands among the prompt's cells: llama.cpp takes a sequence's rows only
    // right after its last cell, and seq_rm forgets what it removes.)
    for (const seq_id q : b.seq_ids) {
        if (impl::prompt_cells * c = impl_->cells_of(q)) {
            c->open = false;
        }
    }
    impl_->reference_kernels(true);
    int32_t row = impl_->pad_lone_output ? row_to_pad(b) : -1;
    if (row < 0) {
        run(b);
        return;
    }
    batch & p = impl_->padded;
    p = b;
    auto & pads = impl_->pads;
    pads.clear();
    for (; row >= 0 && pads.size() < 4; row = row_to_pad(p)) {
        const pos_t next = p.positions[row] + 1;
        std::vector<seq_id> & seqs = impl_->pad_seqs;
        seqs.assign(p.seq_ids.begin() + p.seq_offsets[row], p.seq_ids.begin() + p.seq_offsets[row + 1]);
        p.add(p.tokens[row], next, std::span<const seq_id>(seqs), true);
        for (const seq_id q : seqs) {
            pads.emplace_back(q, next);
        }
    }
    run(p);
    for (const auto & [q, pos] : pads) {
        seq_rm(q, pos);
    }
}

void context::decode_prompt(const batch & b) {
    if (b.size() > prompt_chunk || b.size() > static_cast<int32_t>(impl_->n_batch)) {
        throw error("internal: a prompt chunk of " + std::to_string(b.size()) + " rows (at most " +
                    std::to_string(std::min<int32_t>(prompt_chunk, static_cast<int32_t>(impl_->n_batch))) + ")");
    }
    impl_->reference_kernels(false);
    run(b);
    // The chunk extends the prompt its sequence's first cells hold when it
    // starts where they end.
    if (b.empty() || b.seq_offsets[1] != 1) {
        return;
    }
    impl::prompt_cells * c = impl_->cells_of(b.seq_ids[0]);
    if (!c || !c->open || static_cast<size_t>(b.positions[0]) != c->tokens.size()) {
        return;
    }
    for (int32_t i = 0; i < b.size(); ++i) {
        if (b.seq_offsets[i + 1] - b.seq_offsets[i] != 1 || b.seq_ids[b.seq_offsets[i]] != b.seq_ids[0] ||
            static_cast<size_t>(b.positions[i]) != c->tokens.size()) {
            c->open = false;  // not one prompt's chunk: nothing after the cells so far is kept
            return;
        }
        c->tokens.push_back(b.tokens[i]);
    }
}

size_t context::begin_prompt(seq_id s, std::span<const token> prompt, size_t head) {
    impl::prompt_cells * c = impl_->cells_of(s);
    if (!c) {
        throw error("internal: begin_prompt for sequence " + std::to_string(s) + " of " +
                    std::to_string(impl_->prompts.size()));
    }
    size_t keep = 0;
    if (c->head == head && !prompt.empty()) {
        const size_t most = std::min(prompt.size() - 1, c->tokens.size());
        const size_t same = static_cast<size_t>(
            std::mismatch(prompt.begin(), prompt.begin() + static_cast<long>(most), c->tokens.begin()).first -
            prompt.begin());
        for (size_t e = prompt_chunk_end(head, 0, prompt.size()); e <= same;
             e = prompt_chunk_end(head, e, prompt.size())) {
            keep = e;
        }
    }
    seq_rm(s, static_cast<pos_t>(keep), -1);
    c->tokens.resize(keep);
    c->head = head;
    c->open = true;
    return keep;
}

void context::run(const batch & b) {
    const int32_t n = b.size();
    auto & s = *impl_;
    s.n_seq_id.resize(n);
    s.seq_ptrs.resize(n);
    for (int32_t i = 0; i < n; ++i) {
        s.n_seq_id[i] = b.seq_offsets[i + 1] - b.seq_offsets[i];
        s.seq_ptrs[i] = const_cast<llama_seq_id *>(b.seq_ids.data() + b.seq_offsets[i]);
    }
    for (int32_t begin = 0; begin < n; begin += static_cast<int32_t>(s.n_batch)) {
        const int32_t len = std::min<int32_t>(static_cast<int32_t>(s.n_batch), n - begin);
        llama_batch lb{};
        lb.n_tokens = len;
        lb.token = const_cast<llama_token *>(b.tokens.data() + begin);
        lb.pos = const_cast<llama_pos *>(b.positions.data() + begin);
        lb.n_seq_id = s.n_seq_id.data() + begin;
        lb.seq_id = s.seq_ptrs.data() + begin;
        lb.logits = const_cast<int8_t *>(b.logits.data() + begin);
        const auto t0 = std::chrono::steady_clock::now();
        const int32_t rc = llama_decode(s.ctx, lb);
        s.decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (rc == 1) {
            throw error("context too small: the KV cache is full (n_ctx=" + std::to_string(n_ctx()) +
                        " tokens); raise --ctx or lower --max-tokens");
        }
        if (rc != 0) {
            std::string why;
            for (const auto & line : take_log_tail()) {
                why += "\n  llama.cpp: " + trim(line);
            }
            throw error("llama_decode failed with code " + std::to_string(rc) + why);
        }
        s.last_chunk_begin = begin;
        s.last_chunk_end = begin + len;
    }
}

std::span<const float> context::logits(int32_t row) const {
    if (row < impl_->last_chunk_begin || row >= impl_->last_chunk_end) {
        throw error("internal: logits requested for a row outside the last decoded chunk");
    }
    const float * p = llama_get_logits_ith(impl_->ctx, row - impl_->last_chunk_begin);
    if (!p) {
        throw error("internal: no logits for batch row " + std::to_string(row) + " (not marked for output)");
    }
    return {p, static_cast<size_t>(impl_->n_vocab)};
}

std::span<const float> context::embedding(seq_id s) const {
    const float * p = llama_get_embeddings_seq(impl_->ctx, s);
    if (!p) {
        throw error("internal: no pooled embedding for sequence " + std::to_string(s) +
                    " (the context needs embeddings on, the sequence in the last batch)");
    }
    return {p, static_cast<size_t>(llama_model_n_embd(llama_get_model(impl_->ctx)))};
}

void context::seq_rm(seq_id s, pos_t p0, pos_t p1) {
    impl_->forget_from(s, p0);
    if (!llama_memory_seq_rm(llama_get_memory(impl_->ctx), s, p0, p1)) {
        throw error("internal: KV cache removal failed for sequence " + std::to_string(s));
    }
}

void context::seq_cp(seq_id src, seq_id dst, pos_t p0, pos_t p1) {
    impl_->forget_from(dst, p0);
    llama_memory_seq_cp(llama_get_memory(impl_->ctx), src, dst, p0, p1);
}

void context::seq_keep(seq_id s) {
    for (size_t q = 0; q < impl_->prompts.size(); ++q) {
        if (static_cast<seq_id>(q) != s) {
            impl_->forget_from(static_cast<seq_id>(q), 0);
        }
    }
    llama_memory_seq_keep(llama_get_memory(impl_->ctx), s);
}

pos_t context::seq_pos_max(seq_id s) const { return llama_memory_seq_pos_max(llama_get_memory(impl_->ctx), s); }

void context::clear() {
    impl_->forget_from(-1, 0);
    llama_memory_clear(llama_get_memory(impl_->ctx), true);
}

double context::decode_seconds() const { return impl_->decode_seconds; }

uint32_t context::n_ctx() const { return llama_n_ctx(impl_->ctx); }

uint32_t context::n_ctx_seq() const { return llama_n_ctx_seq(impl_->ctx); }

uint32_t context::n_seq_max() const { return llama_n_seq_max(impl_->ctx); }

uint32_t context::n_batch() const { return impl_->n_batch; }

std::string version_text() {
    backend_init_once();
    std::string backends;
    for (size_t i = 0; i < ggml_backend_reg_count(); ++i) {
        backends += (i ? ", " : "") + std::string(ggml_backend_reg_name(ggml_backend_reg_get(i)));
    }
    return std::string("dare ") + DARE_VERSION + "\nllama.cpp from llama-cpp-python " + DARE_LLAMA_VERSION +
           " (ggml " + ggml_version() + ")\nbackends: " + backends + "\nsystem: " + system_info() +
           "\ndefault model: " + default_model_build_path();
}

std::string system_info() {
    backend_init_once();
    return trim(llama_print_system_info());
}

void quantize_model(const std::string & in, const std::string & out, const std::string & type, int32_t n_threads) {
    backend_init_once();
    check_gguf_file(in);
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    if (type == "q4_0") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q4_0;
    } else if (type == "q4_1") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q4_1;
    } else if (type == "q8_0") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q8_0;
    } else if (type == "q4_k_m") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_Q4_K_M;
    } else if (type == "iq4_nl") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_IQ4_NL;
    } else if (type == "bf16") {
        qp.ftype = LLAMA_FTYPE_MOSTLY_BF16;
    } else {
        throw error("unknown quantization type '" + type + "' (expected q4_0, q4_1, q8_0, q4_k_m, iq4_nl or bf16)");
    }
    qp.allow_requantize = true;
    qp.nthread = n_threads;
    const std::string tmp = out + ".tmp." + std::to_string(::getpid());
    take_log_tail();
    if (llama_model_quantize(in.c_str(), tmp.c_str(), &qp) != 0) {
        std::remove(tmp.c_str());
        std::string why;
        for (const auto & line : take_log_tail()) {
            why += "\n  llama.cpp: " + trim(line);
        }
        throw error(in + ": quantization to " + type + " failed" + why);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, out, ec);
    if (ec) {
        throw error(out + ": cannot rename into place: " + ec.message());
    }
}

struct llama_penalties::impl {
    llama_sampler * dry = nullptr;
    llama_sampler * penalties = nullptr;
    std::vector<llama_token_data> cur;
    ~impl() {
        for (llama_sampler * s : {dry, penalties}) {
            if (s) {
                llama_sampler_free(s);
            }
        }
    }
};

llama_penalties::llama_penalties(const model & m, const llama_penalty_options & o) : impl_(std::make_unique<impl>()) {
    if (o.dry_multiplier > 0 && o.dry_last_n > 0) {
        static const char * breakers[] = {"\n", ":", "\"", "*"};
        impl_->dry = llama_sampler_init_dry(m.get().vocab, o.dry_multiplier, o.dry_base, o.dry_allowed_length,
                                            o.dry_last_n, breakers, std::size(breakers));
    }
    if (o.penalty_last_n > 0 && (o.repeat != 1.0f || o.frequency != 0 || o.presence != 0)) {
        impl_->penalties = llama_sampler_init_penalties(m.n_vocab(), o.penalty_last_n, o.repeat, o.frequency, o.presence);
    }
}

llama_penalties::~llama_penalties() = default;

void llama_penalties::reset() {
    for (llama_sampler * s : {impl_->dry, impl_->penalties}) {
        if (s) {
            llama_sampler_reset(s);
        }
    }
}

void llama_penalties::accept(token t) {
    for (llama_sampler * s : {impl_->dry, impl_->penalties}) {
        if (s) {
            llama_sampler_accept(s, t);
        }
    }
}

void llama_penalties::apply(std::span<const token> window_tokens, std::span<float> logits) {
    if (!impl_->dry && !impl_->penalties) {
        return;
    }
    auto & cur = impl_->cur;
    cur.clear();
    for (token t : window_tokens) {
        cur.push_back({t, logits[static_cast<size_t>(t)], 0.0f});
    }
    llama_token_data_array arr{cur.data(), cur.size(), -1, false};
    for (llama_sampler * s : {impl_->dry, impl_->penalties}) {
        if (s) {
            llama_sampler_apply(s, &arr);
        }
    }
    for (size_t i = 0; i < arr.size; ++i) {
        logits[static_cast<size_t>(arr.data[i].id)] = arr.data[i].logit;
    }
}

token argmax(std::span<const float> logits) {
    return static_cast<token>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace dare
