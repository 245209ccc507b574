#!/usr/bin/env bash
# Measures plain (vanilla) greedy decoding speed of a model on this machine:
# KAR item prompts for the N most-rated movies of the bundled dataset,
# --max-tokens 256, THREADS threads. Prints tokens/s over whole records
# (prefill included) and over decoding alone (prefill excluded).
# Usage: bench/vanilla.sh [N=16] [THREADS=2] [MODEL=bundled]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-16}"; THREADS="${2:-2}"; MODEL="${3:-}"
scripts/build.sh
DARE=./"${DARE_BUILD_DIR:-build}"/tools/dare/dare
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
"$DARE" prompts --target items --limit "$N" --out "$OUT/prompts.jsonl" 2>/dev/null
"$DARE" generate --mode vanilla --prompts "$OUT/prompts.jsonl" --out "$OUT/out.jsonl" --max-tokens 256 \
  --threads "$THREADS" ${MODEL:+--model "$MODEL"} 2>/dev/null
python3 - "$OUT/out.jsonl" "$THREADS" <<'PY'
import json, sys, platform
recs = [json.loads(l) for l in open(sys.argv[1])]
tok = sum(r["tokens"] for r in recs)
sec = sum(r["seconds"] for r in recs)
dec_tok = sum(r["tokens"] - 1 for r in recs)
dec_sec = sum(r["seconds"] - r["prefill_seconds"] for r in recs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {sys.argv[2]} threads; model: {recs[0]['model']}")
print(f"records {len(recs)}, tokens {tok}, prompt tokens {sum(r['prompt_tokens'] for r in recs)}")
print(f"vanilla: {tok/sec:.1f} tokens/s per record (prefill included), {dec_tok/dec_sec:.1f} tokens/s decoding alone")
PY
