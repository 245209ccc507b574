#!/usr/bin/env bash
# Model formats on this CPU (docs/benchmarks.md "Model formats"): the bundled
# Q4_1 model re-quantized by `dare quantize` to each format of FORMATS
# (default: q4_1 q4_0 iq4_nl q4_k_m q8_0; llama.cpp repacks Q4_0, IQ4_NL and
# Q4_K for AVX2 at load time), then for each:
#  1. file size and likelihood: `dare eval perplexity` on (a) the long
#     paragraphs of the bundled dataset's README (text no model wrote) and
#     (b) KNOWLEDGE (default: 50 items and 50 users of the quality
#     experiment's strict run, out/quality/strict, if present; written by the
#     Q4_1 model, so biased toward it);
#  2. batch cost: `dare calibrate` (one decode of 1, 8 and 64 tokens at
#     context depth 256, dare's batch-invariant layout; 64 tokens stand for
#     prefill);
#  3. whole job and text health, unless HEALTH_RECORDS=0: `SPLIT=1
#     bench/health.sh HEALTH_RECORDS` with `dare run` defaults and one
#     `--model` per format (items and users apart, wall time with model load).
# Not a test; a timing measurement: run it alone on the machine.
# Usage: bench/formats.sh [HEALTH_RECORDS=60] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-60}"; THREADS="${2:-2}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
C="${DARE_CACHE:-$HOME/.cache/dare}/models"
BUNDLED="$C/SmolLM2-135M-Instruct.Q4_1.gguf"
read -r -a FORMATS <<< "${FORMATS:-q4_1 q4_0 iq4_nl q4_k_m q8_0}"
W=out/formats
mkdir -p "$W"
model_of() { [ "$1" = q4_1 ] && echo "$BUNDLED" || echo "$C/SmolLM2-135M-Instruct.${1^^}.gguf"; }

python3 bench/readme_corpus.py "$W/readme.jsonl"
KNOWLEDGE="${KNOWLEDGE:-out/quality/strict/knowledge.jsonl}"
if [ -f "$KNOWLEDGE" ]; then
  python3 - "$KNOWLEDGE" "$W/knowledge.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
pick = [r for r in recs if r["kind"] == "item"][:50] + [r for r in recs if r["kind"] == "user"][:50]
with open(sys.argv[2], "w") as f:
    for r in pick:
        f.write(json.dumps({"prompt": r["prompt"], "text": r["text"]}) + "\n")
PY
fi

ppl() {  # MODEL CORPUS -> perplexity
  "$DARE" eval perplexity --model "$1" --corpus "$2" --threads "$THREADS" | sed -E 's/.*perplexity ([0-9.]+).*/\1/'
}
ms_at() {  # CALIBRATE_OUTPUT N -> ms of one decode of N tokens (batch-invariant layout)
  awk -v n="$2" '/^batch-invariant/ {on = 1} /^F16 keys/ {on = 0} on && $2 == n {print $4; exit}' "$1"
}
echo "| format | file (MiB) | perplexity, README | perplexity, knowledge | ms, 1 token | ms, 8 tokens | ms, 64 tokens |"
echo "|---|---:|---:|---:|---:|---:|---:|"
HEALTH_CONFIGS=()
for F in "${FORMATS[@]}"; do
  M="$(model_of "$F")"
  [ -f "$M" ] || "$DARE" quantize --model "$BUNDLED" --type "$F" --out "$M" --threads "$THREADS" > /dev/null
  "$DARE" calibrate --model "$M" --threads "$THREADS" --kv-layout invariant > "$W/calibrate-$F.md"
  K="-"; [ -f "$W/knowledge.jsonl" ] && K="$(ppl "$M" "$W/knowledge.jsonl")"
  echo "| $F | $(( $(stat -c %s "$M") / 1048576 )) | $(ppl "$M" "$W/readme.jsonl") | $K |" \
       "$(ms_at "$W/calibrate-$F.md" 1) | $(ms_at "$W/calibrate-$F.md" 8) | $(ms_at "$W/calibrate-$F.md" 64) |"
  export "EXTRA_$F=--model $M"
  HEALTH_CONFIGS+=("$F")
done
if [ "$RECORDS" -gt 0 ]; then
  echo
  SPLIT=1 TAG=-formats CONFIGS="${HEALTH_CONFIGS[*]}" DARE_NO_BUILD=1 DARE_BIN="$DARE" \
    bench/health.sh "$RECORDS" 128 1 "$THREADS"
fi
