#!/usr/bin/env bash
# Pool-size sweep (docs/benchmarks.md): retrieval time per draft and the
# strict-replay tau of 20 held-out item texts as a pool grows from 1e3 to 1e7
# tokens (bench/items.sh's 200-movie knowledge first, then bigram filler),
# for the n-gram trie and the suffix automaton, default index budgets.
# No model run: only the tokenizer. Usage: bench/pool.sh   (after bench/items.sh or bench/peers.sh)
# Results: bench/results/<host>-<date>-pool-sweep.{json,md}
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
W=out/bench
STAMP="$(hostname -s 2>/dev/null || echo machine)-$(date -u +%Y-%m-%d)"
[ -f "$W/warm_knowledge.jsonl" ] || { echo "bench/pool.sh: run bench/items.sh or bench/peers.sh first" >&2; exit 1; }
"$DARE" bench-pool --corpus "$W/warm_knowledge.jsonl" --heldout 20 --sizes 1000,10000,100000,1000000,10000000 \
  --index trie,suffix --json "bench/results/$STAMP-pool-sweep.json" | tee "bench/results/$STAMP-pool-sweep.md"
