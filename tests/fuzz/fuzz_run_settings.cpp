// Fuzz target: a run folder's run.json (read when a run resumes, and by
// dare encode for the run's model).
#include "dare/error.h"
#include "dare/run_settings.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string path =
        dare_fuzz::write_scratch("run.json", std::string_view(reinterpret_cast<const char *>(data), size));
    static const nlohmann::json now = {{"mode", "dare"}, {"max_tokens", 128}, {"model", "m.gguf"}, {"seed", 1}};
    try {
        (void) dare::run_model_file(dare_fuzz::scratch());
        dare::check_run_settings(path, now, (size & 1) != 0);
    } catch (const dare::error &) {
    }
    return 0;
}
