# Shared by the bench scripts (sourced; they set DARE, THREADS and W first).

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
