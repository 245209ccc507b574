#!/usr/bin/env bash
# The downstream-quality experiment of docs/quality.md: knowledge for every
# user and the 500 most-rated movies of the bundled dataset (user prompts
# hold only ratings of those movies, and only the training part of each
# user's history: the last 10% that `dare eval ctr` tests on is left out),
# generated with strict verification (token-identical to greedy decoding),
# relaxed verification at DARE's reference setting (top-k 2, p > 0.1) and a
# more aggressive one (top-k 5, p > 0.02); then each run encoded, the texts
# compared with the strict run's, and the CTR model trained with and without
# each run's vectors. Vanilla decoding runs on a 100-record subset of the
# same records: its tokens/s, and its texts against strict's.
# Usage: bench/quality.sh [MAX_TOKENS=160] [THREADS=2]
# STEPS (environment) picks steps, default "strict relaxed aggressive vanilla
# eval". Every step resumes where it stopped (kill it and rerun); the eval
# step uses whichever runs are complete. Results: out/quality/*.md, *.json.
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS="${1:-160}"; THREADS="${2:-2}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"  # DARE_BIN: a fixed binary, e.g. while rebuilding
W=out/quality
mkdir -p "$W"
COMMON=(--top-items 500 --test-fraction 0.1 --warmup-fraction 0 --max-tokens "$TOKENS" --threads "$THREADS")
declare -A ARGS=(
  [strict]="--verify strict"
  [relaxed]="--verify relaxed --top-k 2 --min-prob 0.1"
  [aggressive]="--verify relaxed --top-k 5 --min-prob 0.02"
  [vanilla]="--mode vanilla --limit 100"
)
complete() { [ -f "$W/$1/summary.json" ] && [ "$W/$1/summary.json" -nt "$W/$1/knowledge.jsonl" ]; }
for STEP in ${STEPS:-strict relaxed aggressive vanilla eval}; do
  echo "== $STEP $(date -u +%FT%TZ)" >&2
  if [ "$STEP" != eval ]; then
    # shellcheck disable=SC2086
    "$DARE" run --out "$W/$STEP" "${COMMON[@]}" ${ARGS[$STEP]} > /dev/null
    continue
  fi
  RUNS=()
  for R in strict relaxed aggressive; do
    if complete "$R"; then
      "$DARE" encode "$W/$R" --threads "$THREADS"
      RUNS+=("$R")
    fi
  done
  [ "${#RUNS[@]}" -gt 0 ] || { echo "no complete run to evaluate" >&2; exit 1; }
  for R in "${RUNS[@]:1}" vanilla; do
    if complete "$R" && complete strict; then
      "$DARE" eval text "$W/strict" "$W/$R" > "$W/text-$R.md"
    fi
  done
  KNOW=()
  for R in "${RUNS[@]}"; do KNOW+=(--knowledge "$W/$R"); done
  "$DARE" eval ctr --dataset data/ml-latest-small --top-items 500 --test-fraction 0.1 "${KNOW[@]}" \
    --threads "$THREADS" --json "$W/ctr.json" | tee "$W/ctr.md"
  # Generation speed per run; the "(subset)" rows are the runs restricted to vanilla's records.
  python3 - "$W" "${RUNS[@]}" <<'PY' | tee "$W/speed.md"
import json, os, sys
w = sys.argv[1]
def load(run):
    path = os.path.join(w, run, "knowledge.jsonl")
    return [json.loads(l) for l in open(path, encoding="utf-8")] if os.path.exists(path) else []
def rate(rs):
    s = sum(r["seconds"] for r in rs)
    return sum(r["tokens"] for r in rs) / s if s else 0.0
def row(name, recs):
    t = sum(r["tokens"] for r in recs); p = sum(r["forward_passes"] for r in recs)
    print(f"| {name} | {len(recs)} | {t} | {t / max(p, 1):.2f} | {rate([r for r in recs if r['kind'] == 'item']):.1f} "
          f"| {rate([r for r in recs if r['kind'] == 'user']):.1f} | {rate(recs):.1f} |")
print("| run | records | tokens | tau | tokens/s (items) | tokens/s (users) | tokens/s (all) |")
print("|---|---|---|---|---|---|---|")
vanilla = load("vanilla")
subset = {(r["kind"], r["id"]) for r in vanilla}
for run in sys.argv[2:]:
    row(run, load(run))
if vanilla:
    row("vanilla", vanilla)
    for run in sys.argv[2:]:
        row(f"{run} (subset)", [r for r in load(run) if (r["kind"], r["id"]) in subset])
PY
done 2>&1 | tee -a "$W/log.txt"
