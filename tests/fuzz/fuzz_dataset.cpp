// Fuzz target: one dataset loader shape (DARE_FUZZ_SHAPE picks it at compile
// time: 0 MovieLens CSV, 1 '::' .dat, 2 ml-100k tab/pipe, 3 generic). The
// input is the shape's files separated by '\x1e'; its first byte chooses
// strict or lenient loading. A loaded dataset is then turned into prompts,
// histories and popularity, as dare run does with it.
#include "dare/dataset.h"
#include "dare/error.h"
#include "dare/prompts.h"
#include "fuzz_util.h"

namespace {
#if DARE_FUZZ_SHAPE == 0
const std::vector<std::string> kFiles = {"movies.csv", "ratings.csv", "tags.csv"};
#elif DARE_FUZZ_SHAPE == 1
const std::vector<std::string> kFiles = {"movies.dat", "ratings.dat", "users.dat"};
#elif DARE_FUZZ_SHAPE == 2
const std::vector<std::string> kFiles = {"u.item", "u.data", "u.user", "u.genre"};
#else
const std::vector<std::string> kFiles = {"items.jsonl", "interactions.csv", "users.jsonl"};
#endif
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (size < 1) {
        return 0;
    }
    dare_fuzz::clear_scratch();
    const auto parts = dare_fuzz::split_input(data + 1, size - 1, kFiles.size());
    for (size_t i = 0; i < parts.size(); ++i) {
        dare_fuzz::write_scratch(kFiles[i], parts[i]);
    }
    dare::load_options lo;
    lo.strict = (data[0] & 1) != 0;
    try {
        const dare::dataset d = dare::load_dataset(dare_fuzz::scratch(), lo);
        const auto t = dare::prompt_templates::kar_movies();
        (void) dare::items_by_popularity(d);
        for (size_t i = 0; i < d.items.size() && i < 4; ++i) {
            (void) dare::item_prompt(t, d.items[i]);
        }
        for (size_t u = 0; u < d.users.size() && u < 4; ++u) {
            (void) dare::user_prompt(t, d, static_cast<int32_t>(u), 8);
        }
    } catch (const dare::error &) {
    }
    return 0;
}
