// Fuzz target: the genre-to-group map JSON (--genre-groups).
#include "dare/error.h"
#include "dare/grouping.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string path =
        dare_fuzz::write_scratch("genres.json", std::string_view(reinterpret_cast<const char *>(data), size));
    try {
        (void) dare::load_genre_groups(path);
    } catch (const dare::error &) {
    }
    return 0;
}
