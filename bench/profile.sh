#!/usr/bin/env bash
# dare's relaxed methods against llama.cpp's best modes, with a step profile
# (docs/benchmarks.md, "Where the time goes"): the item and user prompts and pools of
# bench/peers.sh (16 and 12 counted prompts, one warm-up each), the Q4_0
# requantization of the bundled model, 256 tokens, methods alternated prompt
# by prompt in one `dare bench` per set (llama.cpp's modes also without flash
# attention, `fa=0`, as dare's relaxed methods run); then
# bench/step_profile.py against this machine's cost curve for the layout
# one-record relaxed decoding runs on (the batch-invariant one, layout_for in
# include/dare/verify.h; `dare calibrate` measures it once), prompts'
# prefill passes left out.
# Usage: bench/profile.sh [THREADS=2] [TAG=profile]
# Results: bench/results/<host>-<date>-TAG-{items,users}.{json,md} and
# -TAG-{items,users}-steps.md
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"; TAG="${2:-profile}"
. bench/lib.sh
q4_0_bench_env
prepare_peer_sets

# The cost curve of the relaxed layout for this model, thread count and build
# (the description ends with the CPU features of `dare --version`).
find_curve() {
  python3 - "$CACHE/calibration" "$MODEL" "$THREADS" "$("$DARE" --version | sed -n 's/^system: //p')" <<'PY'
import glob, json, os, sys
d, model, threads, system = sys.argv[1:]
for f in sorted(glob.glob(os.path.join(d, f"cost-kv3-*-t{threads}.json"))):
    desc = json.load(open(f)).get("description", "")
    if desc.startswith(model + ",") and desc.endswith(", " + system):
        print(f)
        break
PY
}
CURVE="$(find_curve)"
if [ -z "$CURVE" ]; then
  "$DARE" calibrate --model "$MODEL" --threads "$THREADS" > /dev/null
  CURVE="$(find_curve)"
fi
[ -n "$CURVE" ] || { echo "bench/profile.sh: no cost curve for $MODEL after dare calibrate" >&2; exit 1; }

BEST_ITEMS="llama-ngram-map-k:n=3:m=16,llama-ngram-mod:match=12:max=24:min=4"
BEST_USERS="llama-ngram-map-k:n=3:m=16,llama-ngram-mod:match=12:max=24:min=4,llama-ngram-map-k4v:n=3:m=16"
NO_FA="llama-plain:fa=0,llama-ngram-map-k:n=3:m=16:fa=0,llama-ngram-mod:match=12:max=24:min=4:fa=0"
for SET in items users; do
  if [ "$SET" = items ]; then N=17; POOL="$W/items.trie.pool"; CORPUS="$W/warm_knowledge.jsonl"
    METHODS="vanilla,pld,dare,hybrid,llama-plain,$BEST_ITEMS,$NO_FA"
  else N=13; POOL="$W/users.trie.pool"; CORPUS="$W/warm_users_knowledge.jsonl"
    METHODS="vanilla,pld,hybrid,$BEST_USERS,$NO_FA"; fi
  head -n "$N" "$W/bench_$SET.jsonl" > "$W/peers_$SET.jsonl"
  OUT="bench/results/$STAMP-$TAG-$SET"
  echo "== $SET" >&2
  "$DARE" bench --model "$MODEL" --prompts "$W/peers_$SET.jsonl" --pool "$POOL" --peer-corpus "$CORPUS" \
    --methods "$METHODS" --max-tokens 256 --threads "$THREADS" --warmup 1 --ctx 2048 \
    --json "$OUT.json" | tee "$OUT.md"
  python3 bench/step_profile.py "$OUT.json" "$CURVE" | tee "$OUT-steps.md"
done
