#!/usr/bin/env bash
# The pipeline measurement of docs/pipeline.md: `dare run` on a sample of the
# bundled dataset (LIMIT records: half items, half users), once per grouping
# (customized = genre groups for items, BPR + k-means for users; none = one
# global pool; random = as many random groups) and verification rule
# (relaxed, strict), plus plain decoding of the same records as the baseline,
# then one table of tau and tokens/s per kind and phase.
# Usage: bench/pipeline.sh [LIMIT=400] [MAX_TOKENS=128] [THREADS=2] [extra dare run args...]
# RUNS (environment) picks runs, default "vanilla customized-relaxed none-relaxed
# random-relaxed customized-strict none-strict random-strict".
# Resumable: each run folder ($PIPELINE_OUT/<grouping>-<verify>; PIPELINE_OUT defaults
# to out/pipeline) continues.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${1:-400}"; TOKENS="${2:-128}"; THREADS="${3:-2}"; shift $(( $# < 3 ? $# : 3 ))
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"  # DARE_BIN: a fixed binary, e.g. while rebuilding
W="${PIPELINE_OUT:-out/pipeline}"  # another folder for a variant, e.g. --parallel 4
mkdir -p "$W"
RUNS="${RUNS:-vanilla customized-relaxed none-relaxed random-relaxed customized-strict none-strict random-strict}"
for RUN in $RUNS; do
  echo "== $RUN" >&2
  if [ "$RUN" = vanilla ]; then
    # The baseline: the same records, plain decoding.
    "$DARE" run --out "$W/vanilla" --limit "$LIMIT" --max-tokens "$TOKENS" --threads "$THREADS" --mode vanilla "$@" > /dev/null
  else
    "$DARE" run --out "$W/$RUN" --limit "$LIMIT" --max-tokens "$TOKENS" --threads "$THREADS" \
      --grouping "${RUN%-*}" --verify "${RUN#*-}" "$@" > /dev/null
  fi
done
python3 - "$W" $RUNS <<'PY'
import json, os, sys
w = sys.argv[1]
print("| grouping | verify | kind | groups | records | tau (all) | tokens/s (all) | speedup (all) | tau (main) | tokens/s (main) | speedup (main) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
runs = [("vanilla", "-", "vanilla") if r == "vanilla" else (r.rsplit("-", 1)[0], r.rsplit("-", 1)[1], r) for r in sys.argv[2:]]
base = {}
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
            if folder == "vanilla":
                base[kind] = {r["id"]: r for r in rs}
            # Speedup against plain decoding of the same records (time per token).
            def speedup(x):
                b = base.get(kind, {})
                xs = [r for r in x if r["id"] in b]
                if not xs:
                    return float("nan")
                bt = sum(b[r["id"]]["seconds"] for r in xs) / sum(b[r["id"]]["tokens"] for r in xs)
                return bt / (sum(r["seconds"] for r in xs) / sum(r["tokens"] for r in xs))
            print(f"| {g} | {v} | {kind} | {groups} | {len(rs)} | {ta:.2f} | {sa:.1f} | {speedup(rs):.2f}x | {tm:.2f} | {sm:.1f} | {speedup(main):.2f}x |")
PY
