#!/usr/bin/env bash
# Builds dare with its tests and runs every test with CTest. Exits non-zero on
# any failure. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BUILD="${DARE_BUILD_DIR:-build}"
cd "$BUILD"
# One test at a time: each runs llama.cpp on all cores, and two OpenMP thread
# pools spinning on the same cores slow each other down by orders of magnitude.
ctest --output-on-failure --timeout 900 -j1
