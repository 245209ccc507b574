#!/usr/bin/env bash
# The main job on the embedded defaults: knowledge generation with the
# bundled SmolLM2-135M-Instruct model for 8 movies of the bundled MovieLens
# dataset, with the KAR item prompt. Outputs go to ${DARE_DEMO_OUT:-out/demo}.
# A rerun resumes: records already there are kept, not regenerated.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
DARE=./"${DARE_BUILD_DIR:-build}"/tools/dare/dare
OUT="${DARE_DEMO_OUT:-out/demo}"
THREADS="${DARE_THREADS:-$(nproc)}"
mkdir -p "$OUT"

"$DARE" prompts --target items --limit 8 --out "$OUT/item_prompts.jsonl"
"$DARE" generate --mode vanilla --prompts "$OUT/item_prompts.jsonl" --out "$OUT/item_knowledge.jsonl" \
  --max-tokens 256 --threads "$THREADS"

python3 - "$OUT/item_knowledge.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
tok = sum(r["tokens"] for r in recs); sec = sum(r["seconds"] for r in recs)
print(f"\n{len(recs)} knowledge records, {tok} tokens, {tok/sec:.1f} tokens/s")
first = recs[0]
print(f"\nfirst record (id {first['id']}):\n{first['text'][:600]}{'...' if len(first['text']) > 600 else ''}\n")
PY
echo "knowledge written to $OUT/item_knowledge.jsonl (prompts: $OUT/item_prompts.jsonl)"
