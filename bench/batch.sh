#!/usr/bin/env bash
# Batched throughput (docs/benchmarks.md): continuous batching of KAR prompts
# at B = 1, 4, 16, 32 records in flight, without and with speculation (dare:
# pool + own context, relaxed; each record's draft chain sized for the whole
# batch from the measured step cost), Q4_0 requantization of the bundled
# model, --max-tokens 128. Items: movies 233-296 by popularity, pool from
# bench/items.sh's 200 other movies; users: the 78th-125th users, pool from
# bench/peers.sh's 64 other users.
# Usage: bench/batch.sh [THREADS=2] [PARALLEL=1,4,16,32]   (run bench/peers.sh first: it makes the pools)
# SETS (environment): "items users" by default; TAG (environment): a suffix
# for the result names, to keep an earlier run of the same day; REPEAT
# (environment, default 1): plain and speculative runs alternate this many
# times per B and the table shows medians (the VM drifts by 5-15% between
# back-to-back identical runs).
# Results: bench/results/<host>-<date>-batch-{items,users}${TAG}.{json,md};
# every decode step (rows by kind, tokens, ms) in out/bench/batch-{items,users}${TAG}-steps.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"; PARALLEL="${2:-1,4,16,32}"
. bench/lib.sh
q4_0_bench_env
for f in "$W/items.trie.pool" "$W/users.trie.pool"; do
  [ -f "$f" ] || { echo "bench/batch.sh: $f missing; run bench/peers.sh first" >&2; exit 1; }
done
# Records neither in the pools nor in bench/peers.sh's prompts.
"$DARE" prompts --target items --limit 296 --out "$W/all_items_296.jsonl" 2>/dev/null
tail -n 64 "$W/all_items_296.jsonl" > "$W/batch_items.jsonl"
"$DARE" prompts --target users --limit 125 --out "$W/all_users_125.jsonl" 2>/dev/null
tail -n 48 "$W/all_users_125.jsonl" > "$W/batch_users.jsonl"
for SET in ${SETS:-items users}; do
  echo "== $SET" >&2
  "$DARE" bench-batch --model "$MODEL" --prompts "$W/batch_$SET.jsonl" --pool "$W/$SET.trie.pool" \
    --parallel "$PARALLEL" --max-tokens 128 --threads "$THREADS" --verify relaxed --repeat "${REPEAT:-1}" \
    --json "bench/results/$STAMP-batch-$SET${TAG:-}.json" --step-log "$W/batch-$SET${TAG:-}-steps.tsv" | tee "bench/results/$STAMP-batch-$SET${TAG:-}.md"
done
