// Where dare finds its embedded defaults: the bundled model (extracted by
// scripts/setup.sh into the download cache) and the bundled dataset.
#pragma once

#include <string>

namespace dare {

// $DARE_MODEL, else <cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf where
// <cache> is $DARE_CACHE or ~/.cache/dare.
std::string default_model_path();

// $DARE_DATASET, else ./data/ml-latest-small if present, else the copy in the
// source tree dare was built from.
std::string default_dataset_path();

std::string cache_dir();

}  // namespace dare
