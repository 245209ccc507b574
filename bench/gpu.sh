#!/usr/bin/env bash
# The GPU benchmark (docs/benchmarks.md), for an NVIDIA H100/H200 (CUDA 13,
# sm_90) that can be reached only by copying files of at most 64 MiB per
# call and has no internet. Three stages, each one command:
#   bench/gpu.sh pack    here (CPU machine): builds llama.cpp's gguf-split,
#                        splits the Q4_0 model into pieces of at most 44 MiB
#                        (GGUF split files load as one model), packs the
#                        pinned llama.cpp source (without its docs, tests and
#                        examples), the nlohmann-json and CLI11 headers, the
#                        bench prompts and pools: .gpu1/ (source, headers,
#                        first model piece) and .gpu2/ (the other pieces,
#                        prompts, pools), each under 64 MiB with the repo.
#   bench/gpu.sh build   there, carrying .gpu1: unpacks into $DARE_CACHE and
#                        builds dare with -DDARE_CUDA=ON for sm_90 (build-cuda/).
#   bench/gpu.sh run     there, right after build (the machine keeps .gpu1 and
#                        build-cuda/ only while warm), carrying .gpu2: the
#                        method comparison (ours and llama.cpp's, 8 item
#                        prompts, 256 tokens) and the batch comparison at
#                        B = 1 and 16 (64 item prompts, 128 tokens), printed
#                        as tables and written to $OUT (or gpu-results/).
# Prerequisite for pack: bench/peers.sh has run (it makes the pools).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE="${1:-}"
CACHE="${DARE_CACHE:-$HOME/.cache/dare}"
LLAMA_VERSION=0.3.36
W=out/bench

pack() {
  scripts/build.sh
  cmake --build build --target llama-gguf-split -j"$(nproc)" > /dev/null
  for f in "$W/items.trie.pool" "$W/warm_knowledge.jsonl" "$W/bench_items.jsonl"; do
    [ -f "$f" ] || { echo "bench/gpu.sh pack: $f missing; run bench/peers.sh first" >&2; exit 1; }
  done
  rm -rf .gpu1 .gpu2 && mkdir -p .gpu1/deps/include .gpu1/deps/share/cmake .gpu2/model
  local split
  split="$(find build -name llama-gguf-split -type f -perm -u+x | head -n 1)"
  "$split" --split --split-max-size 44M "$CACHE/models/SmolLM2-135M-Instruct.Q4_0.gguf" .gpu2/model/smollm2-q4_0 > /dev/null
  mv .gpu2/model/smollm2-q4_0-00001-of-*.gguf .gpu1/
  tar -C "$CACHE" -cJf .gpu1/llama.tar.xz --exclude='*/docs' --exclude='*/examples' --exclude='*/tests' \
    --exclude='*/models' --exclude='*/media' --exclude='*/gguf-py' --exclude='*/app' --exclude='*/.git*' \
    --exclude='*/ggml/src/ggml-vulkan' --exclude='*/ggml/src/ggml-sycl' --exclude='*/ggml/src/ggml-metal' \
    --exclude='*/ggml/src/ggml-opencl' --exclude='*/ggml/src/ggml-cann' --exclude='*/ggml/src/ggml-musa' \
    "llama.cpp-$LLAMA_VERSION"
  cp -r /usr/include/nlohmann /usr/include/CLI .gpu1/deps/include/
  cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 .gpu1/deps/share/cmake/
  head -n 9 "$W/bench_items.jsonl" > .gpu2/bench_items.jsonl
  "${DARE_BIN:-./build/tools/dare/dare}" prompts --target items --limit 296 --out .gpu2/all_items.jsonl 2>/dev/null
  tail -n 64 .gpu2/all_items.jsonl > .gpu2/batch_items.jsonl && rm .gpu2/all_items.jsonl
  cp "$W/items.trie.pool" "$W/warm_knowledge.jsonl" .gpu2/
  du -sh .gpu1 .gpu2
  echo "next, on the GPU machine: bench/gpu.sh build (carry .gpu1), then at once bench/gpu.sh run (carry .gpu2)"
}

build() {
  [ -d .gpu1 ] || { echo "bench/gpu.sh build: .gpu1 missing (carry it)" >&2; exit 1; }
  mkdir -p "$CACHE/models"
  [ -d "$CACHE/llama.cpp-$LLAMA_VERSION" ] || tar -C "$CACHE" -xJf .gpu1/llama.tar.xz
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DDARE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DDARE_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH="$PWD/.gpu1/deps" -DCMAKE_CXX_FLAGS="-I$PWD/.gpu1/deps/include" > build-cuda.log 2>&1 ||
    { tail -n 40 build-cuda.log; exit 1; }
  cmake --build build-cuda --target dare -j"$(nproc)" >> build-cuda.log 2>&1 || { tail -n 60 build-cuda.log; exit 1; }
  echo "built build-cuda/tools/dare/dare"
}

run() {
  [ -x build-cuda/tools/dare/dare ] || { echo "bench/gpu.sh run: build first (same warm machine)" >&2; exit 1; }
  [ -d .gpu2 ] || { echo "bench/gpu.sh run: .gpu2 missing (carry it)" >&2; exit 1; }
  local D=build-cuda/tools/dare/dare R="${OUT:-gpu-results}"
  mkdir -p "$R"
  cp .gpu1/smollm2-q4_0-00001-of-*.gguf .gpu2/model/
  local M
  M="$(ls .gpu2/model/smollm2-q4_0-00001-of-*.gguf)"
  local GPU
  GPU="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
  echo "GPU: $GPU"
  "$D" calibrate --model "$M" --threads 8 | tee "$R/cost.md"
  "$D" bench --model "$M" --prompts .gpu2/bench_items.jsonl --pool .gpu2/items.trie.pool \
    --peer-corpus .gpu2/warm_knowledge.jsonl --threads 8 --max-tokens 256 --warmup 1 \
    --methods vanilla,pld,resd,dare,hybrid,hybrid-strict,llama-plain,llama-ngram-simple,llama-ngram-map-k,llama-ngram-map-k4v,llama-ngram-mod,llama-ngram-cache,llama-ngram-cache:static=1 \
    --json "$R/gpu-peers-items.json" | tee "$R/gpu-peers-items.md"
  "$D" bench-batch --model "$M" --prompts .gpu2/batch_items.jsonl --pool .gpu2/items.trie.pool --parallel 1,16 \
    --max-tokens 128 --threads 8 --verify relaxed --json "$R/gpu-batch-items.json" | tee "$R/gpu-batch-items.md"
}

case "$STAGE" in
  pack) pack ;;
  build) build ;;
  run) run ;;
  *) echo "usage: bench/gpu.sh pack|build|run (see the comment at the top)" >&2; exit 2 ;;
esac
