// Default model and dataset locations.
#include "dare/paths.h"

#include <cstdlib>
#include <filesystem>

namespace dare {

std::string cache_dir() {
    if (const char * c = std::getenv("DARE_CACHE"); c && *c) {
        return c;
    }
    const char * home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.cache/dare";
}

std::string bundled_model_path() { return cache_dir() + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

std::string default_model_build_path() { return cache_dir() + "/models/SmolLM2-135M-Instruct.Q8_0.gguf"; }

std::string default_model_path() {
    if (const char * m = std::getenv("DARE_MODEL"); m && *m) {
        return m;
    }
    return default_model_build_path();
}

std::string default_dataset_path() {
    if (const char * d = std::getenv("DARE_DATASET"); d && *d) {
        return d;
    }
    std::error_code ec;
    if (std::filesystem::is_directory("data/ml-latest-small", ec)) {
        return "data/ml-latest-small";
    }
    return std::string(DARE_SOURCE_DIR) + "/data/ml-latest-small";
}

}  // namespace dare
