#!/usr/bin/env bash
# The main job on the embedded defaults: `dare run` with the bundled
# SmolLM2-135M-Instruct model over a sample of the bundled MovieLens dataset,
# items and users, DARE decoding (customized pools: genre groups for items,
# BPR + k-means groups for users; relaxed verification), then `dare report`.
# Outputs go to ${DARE_DEMO_OUT:-out/demo}. A rerun resumes the run folder:
# records already there are kept, not regenerated.
# Environment: DARE_DEMO_LIMIT (records, default 24), DARE_DEMO_TOKENS (per
# record, default 128), DARE_THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
DARE=./"${DARE_BUILD_DIR:-build}"/tools/dare/dare
OUT="${DARE_DEMO_OUT:-out/demo}"
THREADS="${DARE_THREADS:-$(nproc)}"
mkdir -p "$OUT"

"$DARE" run --out "$OUT/run" --target both --limit "${DARE_DEMO_LIMIT:-24}" \
  --max-tokens "${DARE_DEMO_TOKENS:-128}" --threads "$THREADS"
echo
"$DARE" report "$OUT/run"

python3 - "$OUT/run/knowledge.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for kind in ("item", "user"):
    r = next((r for r in recs if r["kind"] == kind), None)
    if r:
        t = r["text"]
        print(f"\nexample {kind} {r['id']} (group {r['group']}):\n{t[:500]}{'...' if len(t) > 500 else ''}")
PY
echo
echo "knowledge: $OUT/run/knowledge.jsonl; summary: $OUT/run/summary.json; chart: $OUT/run/report.html"
