#!/usr/bin/env bash
# Instruction sets (docs/benchmarks.md "Instruction sets"): dare and llama.cpp
# built for the AVX2 baseline alone (-DDARE_CPU_DETECT=OFF, in build-avx2)
# against the default build (build: AVX2 plus the AVX-512 / AVX-VNNI
# extensions this machine reports, cmake/llama.cmake), taking turns, REPS
# times, on the default model build (Q8_0):
#  1. plain decoding of USERS user prompts, one at a time: prefill and decode
#     milliseconds per token (`dare generate --mode vanilla`, 64 tokens);
#  2. one decode of 1, 8, 16 and 64 rows at context depth 256 in the
#     batch-invariant layout (`dare calibrate`, each build's own curve);
#  3. the whole job: `dare run` with defaults over RECORDS items and RECORDS
#     users (wall time with model load, 128 tokens).
# Medians over the repetitions. Not a test; a timing measurement: run it
# alone on the machine. Result: bench/results/<host>-<date>-isa.md.
# Usage: bench/isa.sh [USERS=12] [RECORDS=20] [REPS=2] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS="${1:-12}"; RECORDS="${2:-20}"; REPS="${3:-2}"; THREADS="${4:-2}"
scripts/build.sh
DARE_BUILD_DIR=build-avx2 scripts/build.sh -DDARE_CPU_DETECT=OFF -DDARE_BUILD_TESTS=OFF
W=out/isa
mkdir -p "$W" bench/results
STAMP="$(hostname -s 2>/dev/null || echo machine)-$(date -u +%Y-%m-%d)"
build/tools/dare/dare prompts --target users --limit "$USERS" --out "$W/users.jsonl" 2>/dev/null
: > "$W/times.tsv"
for REP in $(seq 1 "$REPS"); do
  for B in build-avx2 build; do
    D="$B/tools/dare/dare"
    rm -f "$W/$B-r$REP.jsonl"
    "$D" generate --prompts "$W/users.jsonl" --mode vanilla --max-tokens 64 --threads "$THREADS" \
      --out "$W/$B-r$REP.jsonl" > /dev/null 2>&1
    "$D" calibrate --kv-layout invariant --threads "$THREADS" 2>/dev/null | grep '^| [0-9]' > "$W/$B-r$REP.curve"
    for KIND in items users; do
      rm -rf "$W/$B-r$REP-$KIND"
      T0="$(date +%s.%N)"
      "$D" run --out "$W/$B-r$REP-$KIND" --target "$KIND" --limit "$RECORDS" --max-tokens 128 --threads "$THREADS" \
        > /dev/null 2>&1
      printf '%s\t%s\t%s\t%.3f\n' "$B" "$REP" "$KIND" "$(echo "$(date +%s.%N) - $T0" | bc)" >> "$W/times.tsv"
    done
  done
done
python3 - "$W" "$REPS" <<'PY' | tee "bench/results/$STAMP-isa.md"
import json, statistics, subprocess, sys
w, reps = sys.argv[1], int(sys.argv[2])
times = [l.split("\t") for l in open(f"{w}/times.tsv").read().split("\n") if l]
print("| build | CPU features of llama.cpp | prefill ms/token | decode ms/token | 1 / 8 / 16 / 64 rows, ms | job: items s | users s |")
print("|---|---|---:|---:|---|---:|---:|")
for b in ("build-avx2", "build"):
    pre, dec, rows = [], [], {1: [], 8: [], 16: [], 64: []}
    for r in range(1, reps + 1):
        recs = [json.loads(l) for l in open(f"{w}/{b}-r{r}.jsonl")]
        pre.append(1000 * sum(x["prefill_seconds"] for x in recs) / sum(x["prompt_tokens"] for x in recs))
        dec.append(1000 * sum(x["seconds"] - x["prefill_seconds"] for x in recs) / sum(x["tokens"] - 1 for x in recs))
        for line in open(f"{w}/{b}-r{r}.curve"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if int(cells[0]) in rows:
                rows[int(cells[0])].append(float(cells[1]))
    sysinfo = subprocess.run([f"{b}/tools/dare/dare", "--version"], capture_output=True, text=True).stdout
    feats = [f.split("=")[0].strip() for f in sysinfo.split("system:")[1].split("|")
             if f.strip().endswith("= 1") and ("AVX" in f or "VNNI" in f or "AMX" in f)]
    job = {k: statistics.median(float(t[3]) for t in times if t[0] == b and t[2] == k) for k in ("items", "users")}
    med = statistics.median
    print(f"| {b} | {' '.join(feats)} | {med(pre):.2f} | {med(dec):.2f} | "
          f"{' / '.join(f'{med(v):.1f}' for v in rows.values())} | {job['items']:.1f} | {job['users']:.1f} |")
PY
