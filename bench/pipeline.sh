#!/usr/bin/env bash
# The pipeline measurement of docs/pipeline.md: `dare run` on a sample of the
# bundled dataset (LIMIT records: half items, half users), once per grouping
# (customized = genre groups for items, BPR + k-means for users; none = one
# global pool; random = as many random groups) and verification rule
# (relaxed, strict), plus plain decoding of the same records as the baseline,
# then one table of tau and tokens/s per kind and phase.
# Usage: bench/pipeline.sh [LIMIT=400] [MAX_TOKENS=128] [THREADS=2] [extra dare run args...]
# Resumable: each run folder (out/pipeline/<grouping>-<verify>) continues.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${1:-400}"; TOKENS="${2:-128}"; THREADS="${3:-2}"; shift $(( $# < 3 ? $# : 3 ))
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"  # DARE_BIN: a fixed binary, e.g. while rebuilding
W=out/pipeline
mkdir -p "$W"
echo "== vanilla (the baseline: the same records, plain decoding)" >&2
"$DARE" run --out "$W/vanilla" --limit "$LIMIT" --max-tokens "$TOKENS" --threads "$THREADS" --mode vanilla "$@" > /dev/null
for V in relaxed strict; do
  for G in customized none random; do
    echo "== grouping $G, verify $V" >&2
    "$DARE" run --out "$W/$G-$V" --limit "$LIMIT" --max-tokens "$TOKENS" --threads "$THREADS" \
      --grouping "$G" --verify "$V" "$@" > /dev/null
  done
done
python3 - "$W" <<'PY'
import json, os, sys
w = sys.argv[1]
print("| grouping | verify | kind | groups | records | tau (all) | tokens/s (all) | tau (main) | tokens/s (main) |")
print("|---|---|---|---|---|---|---|---|---|")
runs = [("vanilla", "-", "vanilla")] + [(g, v, f"{g}-{v}") for v in ("relaxed", "strict") for g in ("customized", "none", "random")]
for g, v, folder in runs:
        recs = [json.loads(l) for l in open(os.path.join(w, folder, "knowledge.jsonl"), encoding="utf-8")]
        for kind in ("item", "user"):
            rs = [r for r in recs if r["kind"] == kind]
            main = [r for r in rs if r["phase"] == "main"]
            def agg(x):
                t = sum(r["tokens"] for r in x); p = sum(r["forward_passes"] for r in x); s = sum(r["seconds"] for r in x)
                return t / max(p, 1), t / max(s, 1e-9)
            ta, sa = agg(rs); tm, sm = agg(main)
            groups = len({r["group"] for r in rs})
            print(f"| {g} | {v} | {kind} | {groups} | {len(rs)} | {ta:.2f} | {sa:.1f} | {tm:.2f} | {sm:.1f} |")
PY
