// Fuzz target: pool files (dare pool build output, a run's pools/). Even first
// byte: the input is the whole file. Odd: the input is an index body, wrapped
// in a valid header (kind from the second byte) and checksum, so the body
// decoders are reached past the checksum. A pool that loads is then drafted
// from and appended to, as a run does. Seeds: real pools (both kinds).
#include <cstring>
#include <sstream>

#include "binio.h"
#include "dare/draft.h"
#include "dare/error.h"
#include "dare/pool.h"
#include "fuzz_util.h"
#include "util/mix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (size < 2) {
        return 0;
    }
    const std::string_view rest(reinterpret_cast<const char *>(data + 2), size - 2);
    std::string file;
    if ((data[0] & 1) == 0) {
        file.assign(reinterpret_cast<const char *>(data), size);
    } else {
        std::ostringstream f;
        f.write("DAREPOOL", 8);
        dare::binio::put<uint32_t>(f, 1);  // pool format version (src/pool/pool_file.cpp)
        dare::binio::put<uint8_t>(f, (data[1] & 1) ? 2 : 1);
        dare::binio::put(f, dare::index_options{});
        dare::binio::put<uint64_t>(f, 0);  // vocabulary fingerprint
        dare::binio::put<uint64_t>(f, rest.size());
        f.write(rest.data(), static_cast<std::streamsize>(rest.size()));
        dare::binio::put(f, dare::mix::fnv1a(dare::mix::fnv_offset, rest.data(), rest.size()));
        file = f.str();
    }
    // The fingerprint the file says, so that real pools get past that check.
    const size_t fp_at = 8 + 4 + 1 + sizeof(dare::index_options);
    uint64_t fp = 0;
    if (file.size() >= fp_at + sizeof fp) {
        std::memcpy(&fp, file.data() + fp_at, sizeof fp);
    }
    const std::string path = dare_fuzz::write_scratch("pool.bin", file);
    try {
        auto idx = dare::load_pool(path, fp);
        std::vector<dare::token> ctx;
        for (size_t i = 0; i < rest.size() && i < 16; ++i) {
            ctx.push_back(static_cast<dare::token>(static_cast<uint8_t>(rest[i])));
        }
        dare::draft_tree tree;
        idx->draft(ctx, dare::draft_limits{}, tree);
        idx->insert(ctx, dare::token_source::output);
        idx->draft(ctx, dare::draft_limits{}, tree);
        (void) idx->memory_bytes();
    } catch (const dare::error &) {
    }
    return 0;
}
