#!/usr/bin/env bash
# dare against llama.cpp's own decoding, side by side (docs/benchmarks.md):
# the same model (the Q4_0 requantization of the bundled model), the same
# prompts, one process per prompt set, methods alternated prompt by prompt.
#   ours:      vanilla, pld, resd (one pool, strict), dare (pool, relaxed),
#              hybrid (pool + the record's own context, relaxed), hybrid-strict
#   llama.cpp: llama-plain (its plain loop, default context), and every
#              draftless mode of its common library with default settings
#              and with the best settings of a small grid (stage 1)
# Stage 1 (tune): each llama.cpp mode over a grid of settings on 6 item
# prompts; the fastest setting of each mode goes into stage 2.
# Stage 2: items (16 KAR item prompts, pool from 200 other movies' knowledge,
# bench/items.sh's) and users (12 KAR user prompts, pool from 64 other users'
# knowledge), --max-tokens 256, one warm-up prompt each.
# Usage: bench/peers.sh [THREADS=2]
# Results: bench/results/<host>-<date>-peers-{tune,items,users}.{json,md}
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"
. bench/lib.sh
q4_0_bench_env
prepare_peer_sets

# Stage 1: settings grid for each llama.cpp mode (defaults first).
GRID="llama-ngram-simple,llama-ngram-simple:n=2:m=8,llama-ngram-simple:n=3:m=16,llama-ngram-simple:n=4:m=8"
GRID="$GRID,llama-ngram-map-k,llama-ngram-map-k:n=2:m=8,llama-ngram-map-k:n=3:m=16,llama-ngram-map-k:n=4:m=8"
GRID="$GRID,llama-ngram-map-k4v,llama-ngram-map-k4v:n=2:m=8,llama-ngram-map-k4v:n=3:m=16"
GRID="$GRID,llama-ngram-mod,llama-ngram-mod:match=8:max=16:min=2,llama-ngram-mod:match=12:max=24:min=4"
GRID="$GRID,llama-ngram-cache,llama-ngram-cache:static=1"
head -n 7 "$W/bench_items.jsonl" > "$W/tune_items.jsonl"
"$DARE" bench --model "$MODEL" --prompts "$W/tune_items.jsonl" --methods "vanilla,$GRID" \
  --peer-corpus "$W/warm_knowledge.jsonl" --max-tokens 256 --threads "$THREADS" --warmup 1 \
  --json "bench/results/$STAMP-peers-tune.json" | tee "bench/results/$STAMP-peers-tune.md"
BEST="$(python3 - "bench/results/$STAMP-peers-tune.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["methods"]
best = {}
for r in rows:
    if not r["method"].startswith("llama-"):
        continue
    t = r["method"].split(":")[0]
    if t not in best or r["tokens_per_second"] > best[t]["tokens_per_second"]:
        best[t] = r
print(",".join(sorted({b["method"] for b in best.values()} - {t for t in best})))
PY
)"
echo "best non-default settings: ${BEST:-none}" >&2

# Stage 2: everything, items then users.
PEERS="llama-plain,llama-ngram-simple,llama-ngram-map-k,llama-ngram-map-k4v,llama-ngram-mod,llama-ngram-cache"
OURS="vanilla,pld,resd,dare,hybrid,hybrid-strict"
for SET in items users; do
  if [ "$SET" = items ]; then PROMPTS="$W/bench_items.jsonl"; N=17; POOL="$W/items.trie.pool"; CORPUS="$W/warm_knowledge.jsonl"
  else PROMPTS="$W/bench_users.jsonl"; N=13; POOL="$W/users.trie.pool"; CORPUS="$W/warm_users_knowledge.jsonl"; fi
  head -n "$N" "$PROMPTS" > "$W/peers_$SET.jsonl"
  echo "== $SET" >&2
  "$DARE" bench --model "$MODEL" --prompts "$W/peers_$SET.jsonl" --pool "$POOL" --peer-corpus "$CORPUS" \
    --methods "$OURS,$PEERS${BEST:+,$BEST}" --max-tokens 256 --threads "$THREADS" --warmup 1 --ctx 2048 \
    --json "bench/results/$STAMP-peers-$SET.json" | tee "bench/results/$STAMP-peers-$SET.md"
done
python3 bench/chart.py "bench/results/$STAMP-peers-items.json" "bench/results/$STAMP-peers-users.json" \
  > "bench/results/$STAMP-peers.svg"
echo "chart: bench/results/$STAMP-peers.svg" >&2
