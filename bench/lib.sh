# Shared by the bench scripts (sourced; they set DARE, THREADS and W first,
# or call q4_0_bench_env for the Q4_0 benchmarks).

# q4_0_bench_env: after cd to the repository root, builds dare and sets DARE
# (DARE_BIN or the build's binary), CACHE, MODEL (the Q4_0 requantization of
# the bundled model), W=out/bench and STAMP=<host>-<date> for result names.
q4_0_bench_env() {
  scripts/build.sh
  DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
  CACHE="${DARE_CACHE:-$HOME/.cache/dare}"
  MODEL="$CACHE/models/SmolLM2-135M-Instruct.Q4_0.gguf"
  W=out/bench
  mkdir -p "$W" bench/results
  STAMP="$(hostname -s 2>/dev/null || echo machine)-$(date -u +%Y-%m-%d)"
}

# result_stem NAME: bench/results/<host>-<date>-NAME, or -NAME-2, -3, ...
# when that machine and day already have NAME.md (earlier results are kept).
result_stem() {
  local stem k
  stem="bench/results/$(hostname -s 2>/dev/null || echo machine)-$(date -u +%Y-%m-%d)-$1"
  local base="$stem"
  for k in $(seq 2 99); do [ -e "$stem.md" ] || break; stem="$base-$k"; done
  echo "$stem"
}

# prepare_peer_sets: the item and user sets of bench/peers.sh (item prompts
# and warm pool as bench/items.sh's; 13 user prompts, 64 other users' knowledge
# for the user pool).
prepare_peer_sets() {
  prepare_set items 232 32 200 warm_knowledge.jsonl
  prepare_set users 77 13 64 warm_users_knowledge.jsonl
}

# build_pool CORPUS OUT INDEX: a pool file from a knowledge corpus, unless OUT
# is already newer than CORPUS.
build_pool() {
  [ -f "$2" ] && [ "$2" -nt "$1" ] || "$DARE" pool build --corpus "$1" --out "$2" --index "$3"
}

# prepare_set TARGET LIMIT N_BENCH N_WARM KNOWLEDGE: KAR prompts for the first LIMIT
# records of TARGET (items by popularity, users in dataset order) into
# $W/all_TARGET.jsonl; the first N_BENCH are the bench prompts
# ($W/bench_TARGET.jsonl), the last N_WARM are generated greedily (pld +
# strict, token-identical to vanilla; resumable) into $W/KNOWLEDGE and
# built into the trie pool $W/TARGET.trie.pool.
prepare_set() {
  local target="$1" limit="$2" n_bench="$3" n_warm="$4" knowledge="$W/$5"
  "$DARE" prompts --target "$target" --limit "$limit" --out "$W/all_$target.jsonl" 2>/dev/null
  head -n "$n_bench" "$W/all_$target.jsonl" > "$W/bench_$target.jsonl"
  tail -n "$n_warm" "$W/all_$target.jsonl" > "$W/warm_$target.jsonl"
  "$DARE" generate --prompts "$W/warm_$target.jsonl" --out "$knowledge" --max-tokens 256 \
    --threads "$THREADS" --mode pld --verify strict
  build_pool "$knowledge" "$W/$target.trie.pool" trie
}
