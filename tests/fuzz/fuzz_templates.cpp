// Fuzz target: prompt-template JSON (--templates), then rendering it for an
// item and a user as dare run does.
#include "dare/dataset.h"
#include "dare/error.h"
#include "dare/prompts.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string path =
        dare_fuzz::write_scratch("templates.json", std::string_view(reinterpret_cast<const char *>(data), size));
    try {
        const auto t = dare::prompt_templates::load(path);
        dare::dataset d;
        d.items.push_back({"1", "Toy Story (1995)", {"Animation", "Comedy"}, {"pixar"}});
        d.users.push_back({"7", "F", "25", "artist"});
        d.interactions.push_back({0, 0, 4.5f, 100});
        (void) dare::item_prompt(t, d.items[0]);
        (void) dare::user_prompt(t, d, 0, 8);
    } catch (const dare::error &) {
    }
    return 0;
}
