// Index factory and the versioned pool file format.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "binio.h"
#include "dare/error.h"
#include "dare/jsonl.h"
#include "dare/pool.h"
#include "ngram_trie.h"
#include "suffix_automaton.h"
#include "util/mix.h"

namespace dare {

namespace {
constexpr char kMagic[8] = {'D', 'A', 'R', 'E', 'P', 'O', 'O', 'L'};
constexpr uint32_t kVersion = 1;

uint64_t checksum(const std::string & s) { return mix::fnv1a(mix::fnv_offset, s.data(), s.size()); }
}  // namespace

const char * index_kind_name(index_kind k) { return k == index_kind::ngram_trie ? "trie" : "suffix"; }

index_kind parse_index_kind(const std::string & s) {
    if (s == "trie") {
        return index_kind::ngram_trie;
    }
    if (s == "suffix") {
        return index_kind::suffix;
    }
    throw error("unknown index kind '" + s + "' (expected trie or suffix)");
}

std::unique_ptr<token_index> make_index(index_kind k, const index_options & o) {
    if (o.branch_len < 1 || o.branch_len > 64) {
        throw error("branch length must be in 1..64");
    }
    if (o.max_suffix < 1 || o.max_suffix > 256) {
        throw error("max suffix must be in 1..256");
    }
    if (k == index_kind::ngram_trie) {
        return std::make_unique<ngram_trie>(o);
    }
    return std::make_unique<suffix_automaton>(o);
}

std::string pool_bytes(const token_index & idx, uint64_t vocab_fingerprint) {
    std::ostringstream body;
    idx.save_body(body);
    const std::string b = body.str();
    std::ostringstream file;
    file.write(kMagic, sizeof kMagic);
    binio::put(file, kVersion);
    binio::put(file, static_cast<uint8_t>(idx.kind()));
    binio::put(file, idx.options());
    binio::put(file, vocab_fingerprint);
    binio::put<uint64_t>(file, b.size());
    file.write(b.data(), static_cast<std::streamsize>(b.size()));
    binio::put(file, checksum(b));
    return file.str();
}

void save_pool(const std::string & path, const token_index & idx, uint64_t vocab_fingerprint) {
    write_file_atomically(path, pool_bytes(idx, vocab_fingerprint));
}

namespace {

std::unique_ptr<token_index> read_pool(std::istream & in, uint64_t expected_vocab_fingerprint) {
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) {
        throw error("not a dare pool file");
    }
    const auto version = binio::get<uint32_t>(in);
    if (version != kVersion) {
        throw error("pool format version " + std::to_string(version) + ", this dare reads version " +
                    std::to_string(kVersion) + "; rebuild the pool");
    }
    const auto kind = binio::get<uint8_t>(in);
    if (kind != static_cast<uint8_t>(index_kind::ngram_trie) && kind != static_cast<uint8_t>(index_kind::suffix)) {
        throw error("unknown index kind " + std::to_string(kind));
    }
    const auto opts = binio::get<index_options>(in);
    const auto fp = binio::get<uint64_t>(in);
    if (fp != expected_vocab_fingerprint) {
        throw error("built with a different tokenizer vocabulary than this model's; rebuild it with this model");
    }
    const auto n = binio::get<uint64_t>(in);
    if (n > binio::remaining_bytes(in)) {
        throw error("pool file is truncated (its header promises a longer body)");
    }
    std::string body(n, '\0');
    if (!in.read(body.data(), static_cast<std::streamsize>(n))) {
        throw error("pool file is truncated");
    }
    if (binio::get<uint64_t>(in) != checksum(body)) {
        throw error("checksum mismatch: the file is corrupt");
    }
    auto idx = make_index(static_cast<index_kind>(kind), opts);
    std::istringstream bs(body);
    idx->load_body(bs);
    return idx;
}

}  // namespace

std::unique_ptr<token_index> load_pool(const std::string & path, uint64_t expected_vocab_fingerprint) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot open pool file");
    }
    try {
        return read_pool(in, expected_vocab_fingerprint);
    } catch (const error & e) {
        throw error(path + ": " + e.what());
    }
}

std::unique_ptr<token_index> pool_from_bytes(const std::string & bytes, uint64_t expected_vocab_fingerprint,
                                             const std::string & name) {
    std::istringstream in(bytes);
    try {
        return read_pool(in, expected_vocab_fingerprint);
    } catch (const error & e) {
        throw error(name + ": " + e.what());
    }
}

}  // namespace dare
