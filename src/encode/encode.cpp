// Knowledge texts to vectors (contract in include/dare/encode.h).
#include "dare/encode.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "dare/backend.h"
#include "dare/error.h"
#include "dare/jsonl.h"
#include "dare/paths.h"
#include "dare/progress.h"
#include "dare/row_store.h"
#include "dare/run_settings.h"
#include "dare/signals.h"

namespace fs = std::filesystem;

namespace dare {

void write_npy_f32(const std::string & path, const std::vector<float> & data, int64_t rows, int32_t dim) {
    if (static_cast<int64_t>(data.size()) != rows * dim) {
        throw error("internal: " + path + ": " + std::to_string(data.size()) + " floats for a (" +
                    std::to_string(rows) + ", " + std::to_string(dim) + ") array");
    }
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                         std::to_string(dim) + "), }";
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header.push_back('\n');
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(header.size() & 0xff));
    out.push_back(static_cast<char>(header.size() >> 8));
    out += header;
    // x86-64 and ARM64 are little-endian, as '<f4' says.
    out.append(reinterpret_cast<const char *>(data.data()), data.size() * sizeof(float));
    write_file_atomically(path, out);
}

namespace {

struct text_rec {
    std::string kind, id;
    std::string text;
};

}  // namespace

encode_summary run_encode(const encode_options & o) {
    if (o.batch < 1) {
        throw error("--batch must be at least 1");
    }
    const std::string knowledge = (fs::path(o.rundir) / "knowledge.jsonl").string();
    if (!fs::exists(knowledge)) {
        throw error(o.rundir + ": no knowledge.jsonl (is it a dare run folder?)");
    }
    std::vector<text_rec> recs;
    std::set<std::string> seen;
    for_each_jsonl_object(knowledge, "knowledge file", [&](const json & j, long line) {
        if (!j.contains("text") || !j["text"].is_string() || !j.contains("id")) {
            throw error(knowledge + ":" + std::to_string(line) + ": expected a record with \"id\" and a string \"text\"");
        }
        text_rec r;
        r.kind = j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "record";
        r.id = id_text(j["id"]);
        r.text = j["text"].get<std::string>();
        if (!seen.insert(r.kind + ":" + r.id).second) {
            throw error(knowledge + ":" + std::to_string(line) + ": duplicate record " + r.kind + ":" + r.id);
        }
        recs.push_back(std::move(r));
    });

    encode_summary sum;
    sum.encoder = o.encoder;
    if (sum.encoder.empty()) {
        const std::string file = run_model_file(o.rundir);
        sum.encoder = file.empty() ? default_model_path() : (fs::path(cache_dir()) / "models" / file).string();
        if (!fs::exists(sum.encoder)) {
            throw error("the run's model " + sum.encoder + " is not in dare's model cache; pass --encoder MODEL.gguf");
        }
    }
    const std::string out = o.out.empty() ? (fs::path(o.rundir) / "embeddings").string() : o.out;
    fs::create_directories(out);
    const output_lock lock(out + "/encode.json");  // one encoder per output folder
    const model m(sum.encoder);
    sum.dim = m.info().n_embd;
    const std::string manifest = out + "/encode.json";
    if (fs::exists(manifest)) {
        std::ifstream in(manifest);
        const json j = json::parse(in, nullptr, false);
        if (!j.is_object() || j.value("encoder", "") != fs::path(sum.encoder).filename().string() ||
            j.value("dim", 0) != sum.dim) {
            throw error(manifest + ": encoded with another encoder; use another --out or remove " + out);
        }
    }
    write_file_atomically(manifest, json{{"encoder", fs::path(sum.encoder).filename().string()},
                                         {"dim", sum.dim},
                                         {"pooling", "mean"},
                                         {"state", "in progress"}}
                                        .dump(2) +
                                        "\n");

    context_options co;
    co.embeddings = true;
    co.layout = kv_layout::llama_default;
    co.n_threads = o.threads;
    co.n_seq_max = static_cast<uint32_t>(o.batch);
    co.n_ctx = static_cast<uint32_t>(o.batch * (o.max_text_tokens + 1));
    co.n_batch = co.n_ctx;  // a batch of sequences goes through in one call (pooling needs whole sequences)
    context ctx(m, co);

    std::map<std::string, std::unique_ptr<row_store>> stores;
    for (const auto & r : recs) {
        if (!stores.count(r.kind)) {
            stores[r.kind] = std::make_unique<row_store>(out, r.kind, sum.dim);
        }
    }
    std::set<std::string> done;
    for (const auto & [kind, st] : stores) {
        for (const auto & id : st->ids()) {
            done.insert(kind + ":" + id);
        }
    }
    std::vector<const text_rec *> todo;
    for (const auto & r : recs) {
        if (!done.count(r.kind + ":" + r.id)) {
            todo.push_back(&r);
        }
    }
    sum.resumed = static_cast<int64_t>(recs.size() - todo.size());
    progress prog("encode", static_cast<int64_t>(recs.size()), sum.resumed);
    batch b;
    for (size_t begin = 0; begin < todo.size(); begin += static_cast<size_t>(o.batch)) {
        throw_if_stopped();
        const size_t end = std::min(todo.size(), begin + static_cast<size_t>(o.batch));
        ctx.clear();
        b.clear();
        int64_t tokens = 0;
        for (size_t k = begin; k < end; ++k) {
            auto t = m.tokenize(todo[k]->text.empty() ? std::string(" ") : todo[k]->text, true, false);
            t.resize(std::min<size_t>(t.size(), static_cast<size_t>(o.max_text_tokens)));
            for (size_t p = 0; p < t.size(); ++p) {
                b.add(t[p], static_cast<pos_t>(p), static_cast<seq_id>(k - begin), p + 1 == t.size());
            }
            tokens += static_cast<int64_t>(t.size());
        }
        ctx.decode(b);
        for (size_t k = begin; k < end; ++k) {
            stores[todo[k]->kind]->append(todo[k]->id, ctx.embedding(static_cast<seq_id>(k - begin)));
            prog.record_done(tokens / static_cast<int64_t>(end - begin), 0);  // text tokens read; no tau
            ++sum.encoded;
        }
    }
    prog.finish();
    json rows = json::object();
    for (const auto & [kind, st] : stores) {
        write_npy_f32(out + "/" + kind + ".npy", st->all_rows(), static_cast<int64_t>(st->ids().size()), sum.dim);
        std::string ids;
        for (const auto & id : st->ids()) {
            ids += id + "\n";
        }
        write_file_atomically(out + "/" + kind + "_ids.txt", ids);
        rows[kind] = st->ids().size();
        if (kind == "item") {
            sum.items = static_cast<int64_t>(st->ids().size());
        } else if (kind == "user") {
            sum.users = static_cast<int64_t>(st->ids().size());
        }
    }
    write_file_atomically(manifest, json{{"encoder", fs::path(sum.encoder).filename().string()},
                                         {"dim", sum.dim},
                                         {"pooling", "mean"},
                                         {"rows", rows},
                                         {"state", "complete"}}
                                        .dump(2) +
                                        "\n");
    return sum;
}

}  // namespace dare
