// `dare encode RUNDIR`: every knowledge text of a run becomes one vector, in
// files a recommender pipeline reads directly. Per kind (item, user):
//   <out>/<kind>.npy       float32, shape (records, dim), C order (NumPy
//                          format 1.0), row i = the i-th id of
//   <out>/<kind>_ids.txt   one record id per line
//   <out>/encode.json      encoder, dim, pooling, rows per kind
// <out> defaults to RUNDIR/embeddings. The encoder is a GGUF model run by
// llama.cpp in embedding mode with mean pooling over the text's tokens
// (default: the run's own model, found by its file name in dare's model
// cache). Texts are encoded `batch` at a time; rows are appended and flushed
// to <out>/.<kind>.rows (+ .ids) as they come, so a killed encode resumes
// where it stopped; the .npy files are written (atomically) at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dare {

struct encode_options {
    std::string rundir;
    std::string out;          // default RUNDIR/embeddings
    std::string encoder;      // GGUF; default: the run's model
    int32_t batch = 16;       // texts per decode call
    int32_t max_text_tokens = 512;  // longer texts are cut (their first tokens kept)
    int32_t threads = 0;
};

struct encode_summary {
    std::string encoder;
    int32_t dim = 0;
    int64_t encoded = 0;   // by this invocation
    int64_t resumed = 0;   // already there
    int64_t items = 0, users = 0;
};

encode_summary run_encode(const encode_options & o);

// Writes a float32 (rows, dim) array as a NumPy .npy file (atomically).
void write_npy_f32(const std::string & path, const std::vector<float> & data, int64_t rows, int32_t dim);

}  // namespace dare
