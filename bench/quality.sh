#!/usr/bin/env bash
# The downstream-quality experiment of docs/quality.md: knowledge for every
# user and the 500 most-rated movies of the bundled dataset (user prompts
# hold only ratings of those movies, and only the training part of each
# user's history: the last 10% that `dare eval ctr` tests on is left out),
# generated three ways: strict verification with the default repetition
# rules (token-identical to plain decoding with them: the exact reference),
# the default configuration of `dare run` (relaxed verification, guarded
# rule, repetition rules, health guard), and plain decoding without any
# repetition rule. The strict and plain runs decode 4 records at a time
# (--parallel 4 writes exactly the texts of one at a time:
# tests/test_batched.cpp, tests/test_pipeline.cpp); the default run is
# dare run's default (--parallel auto). Then each run is encoded, its text compared with the
# strict run's (ROUGE-L, text health), and the CTR model trained with and
# without each run's vectors (paired AUC differences against strict).
# Usage: bench/quality.sh [MAX_TOKENS=128] [THREADS=2]
# STEPS (environment) picks steps, default "strict default plain eval";
# default-ifirst is the default configuration with the KAR wording's
# instructions first (bench/templates/instructions-first.json). Every
# step resumes where it stopped (kill it and rerun); the eval step uses
# whichever runs of EVAL (default "strict default plain"; the first is the
# reference of the paired differences) are complete. QUALITY_DIR: the
# folder, default out/quality. Results: QUALITY_DIR/*.md, *.json.
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS="${1:-128}"; THREADS="${2:-2}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"  # DARE_BIN: a fixed binary, e.g. while rebuilding
W="${QUALITY_DIR:-out/quality}"
mkdir -p "$W"
COMMON=(--top-items 500 --test-fraction 0.1 --warmup-fraction 0 --max-tokens "$TOKENS" --threads "$THREADS")
declare -A ARGS=(
  [strict]="--verify strict --parallel 4"
  [default]=""
  [plain]="--mode vanilla --repetition-control off --parallel 4"
  [default-ifirst]="--templates bench/templates/instructions-first.json"
)
complete() { [ -f "$W/$1/summary.json" ] && [ "$W/$1/summary.json" -nt "$W/$1/knowledge.jsonl" ]; }
for STEP in ${STEPS:-strict default plain eval}; do
  echo "== $STEP $(date -u +%FT%TZ)" >&2
  if [ "$STEP" != eval ]; then
    # shellcheck disable=SC2086
    "$DARE" run --out "$W/$STEP" "${COMMON[@]}" ${ARGS[$STEP]} > /dev/null
    continue
  fi
  RUNS=()
  for R in ${EVAL:-strict default plain}; do
    if complete "$R"; then
      "$DARE" encode "$W/$R" --threads "$THREADS"
      RUNS+=("$R")
    fi
  done
  [ "${#RUNS[@]}" -gt 0 ] || { echo "no complete run to evaluate" >&2; exit 1; }
  for R in "${RUNS[@]:1}"; do
    "$DARE" eval text "$W/${RUNS[0]}" "$W/$R" > "$W/text-$R.md"
  done
  KNOW=()
  for R in "${RUNS[@]}"; do KNOW+=(--knowledge "$W/$R"); done
  "$DARE" eval ctr --dataset data/ml-latest-small --top-items 500 --test-fraction 0.1 "${KNOW[@]}" \
    --threads "$THREADS" --json "$W/ctr.json" | tee "$W/ctr.md"
  # Health and generation time per run and kind (records' own seconds, prefill included).
  DIRS=()
  for R in "${RUNS[@]}"; do DIRS+=("$R=$W/$R"); done
  python3 bench/health_table.py "${DIRS[@]}" | tee "$W/health.md"
done 2>&1 | tee -a "$W/log.txt"
