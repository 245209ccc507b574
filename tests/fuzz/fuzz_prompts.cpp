// Fuzz target: the prompts JSONL reader (dare generate --prompts).
#include "dare/error.h"
#include "dare/jsonl.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string path =
        dare_fuzz::write_scratch("prompts.jsonl", std::string_view(reinterpret_cast<const char *>(data), size));
    try {
        for (const auto & p : dare::read_prompts_jsonl(path)) {
            (void) dare::id_text(p.id_json);
        }
    } catch (const dare::error &) {
    }
    return 0;
}
