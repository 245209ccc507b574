#!/usr/bin/env bash
# Builds the model-free library (libdare_core), its tests and the libFuzzer
# targets of tests/fuzz with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (-DDARE_FUZZ=ON) in ${DARE_SANITIZED_DIR:-build-sanitized},
# without llama.cpp. Prints the build folder. Used by scripts/test.sh (which
# runs its tests and corpus replays) and bench/fuzz.sh (the campaigns).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
BUILD="${DARE_SANITIZED_DIR:-build-sanitized}"
mkdir -p "$BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DDARE_FUZZ=ON >"$BUILD/configure.log" 2>&1; then
    rm -f "$BUILD/CMakeCache.txt"  # so that the next call configures again
    tail -n 40 "$BUILD/configure.log" >&2
    echo "[build-sanitized] configure failed; full log: $BUILD/configure.log" >&2
    exit 1
  fi
fi
if ! cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1; then
  grep -E 'error|Error' "$BUILD/build.log" | head -n 40 >&2 || true
  echo "[build-sanitized] build failed; full log: $BUILD/build.log" >&2
  exit 1
fi
echo "$BUILD"
