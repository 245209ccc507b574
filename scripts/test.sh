#!/usr/bin/env bash
# Builds dare with its tests and runs every test with CTest; then builds the
# model-free library and its tests with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (scripts/build-sanitized.sh) and runs them, with
# every fuzz target replaying its corpus (tests/fuzz); then installs the
# Python package with pip and runs its tests (python/tests), those of the
# Ray job on a local two-node cluster included. Exits non-zero
# on any failure. Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BUILD="${DARE_BUILD_DIR:-build}"
# One test at a time: each runs llama.cpp on all cores, and two OpenMP thread
# pools spinning on the same cores slow each other down by orders of magnitude.
(cd "$BUILD" && ctest --output-on-failure --timeout 900 -j1)
SANITIZED="$(scripts/build-sanitized.sh)"
(cd "$SANITIZED" && ctest --output-on-failure --timeout 300 -j"$(nproc)")
# The Python package, installed with pip into a virtual environment
# ($DARE_VENV, default .venv; its build folder build-python/ is kept, so a
# rebuild compiles only what changed), with Ray, and its tests against the
# CLI (python/tests/test_ray.py starts and stops its own local cluster).
VENV="${DARE_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q pytest==9.2.0 ray==2.60.0
"$VENV/bin/pip" install -q .
DARE_BIN="$(cd "$BUILD" && pwd)/tools/dare/dare" "$VENV/bin/python" -m pytest -q python/tests
