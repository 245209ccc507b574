#!/usr/bin/env bash
# What one KV stream per record (set_batched_context in
# include/dare/batched.h) costs or saves against one KV cache shared by all
# records, at --parallel 4 with strict verification and plain batching on the
# bundled Q4_1 model: `dare bench-batch` over 32 item prompts (movies 265-296
# by popularity) and 16 user prompts (users 110-125), 128 tokens, shared and
# per-record alternating, ROUNDS times. Per-record streams are what dare uses;
# --shared-kv is the alternative (its batched text is not exactly
# one-at-a-time text).
# Usage: bench/kv_streams.sh [THREADS=2] [ROUNDS=2]
# Results: bench/results/<host>-<date>-kvstreams-<set>-<shared|own>-<round>.{md,json}
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"; ROUNDS="${2:-2}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
W=out/bench
mkdir -p "$W" bench/results
STAMP="$(hostname -s 2>/dev/null || echo machine)-$(date -u +%Y-%m-%d)"
"$DARE" prompts --target items --limit 296 --out "$W/kv_all_items.jsonl" 2>/dev/null
tail -n 32 "$W/kv_all_items.jsonl" > "$W/kv_items.jsonl"
"$DARE" prompts --target users --limit 125 --out "$W/kv_all_users.jsonl" 2>/dev/null
tail -n 16 "$W/kv_all_users.jsonl" > "$W/kv_users.jsonl"
for SET in items users; do
  for ROUND in $(seq 1 "$ROUNDS"); do
    for CFG in shared own; do
      FLAG=(); [ "$CFG" = shared ] && FLAG=(--shared-kv)
      OUT="bench/results/$STAMP-kvstreams-$SET-$CFG-$ROUND"
      echo "== $SET $CFG round $ROUND" >&2
      "$DARE" bench-batch --prompts "$W/kv_$SET.jsonl" --parallel 4 --max-tokens 128 --threads "$THREADS" \
        --verify strict "${FLAG[@]}" --json "$OUT.json" > "$OUT.md"
      grep '^| 4 ' "$OUT.md" | sed "s/^/$SET $CFG $ROUND /"
    done
  done
done
