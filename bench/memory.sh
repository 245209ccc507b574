#!/usr/bin/env bash
# Peak resident memory of dare as the number of records grows (GNU time's
# maximum RSS; not a timing measurement, so it may share the machine):
#  1. planning (`dare run --dry-run`: dataset, grouping, sampling, prompts;
#     no model) on synthetic generic datasets (bench/synth_dataset.py) of
#     1k, 10k and 1M records (half items, half users, 10 interactions per user);
#  2. the whole `dare run` (model, pools, generation, outputs) on RECORDS
#     item records of the bundled dataset and on ten times fewer, MAX_TOKENS
#     tokens each (pools and outputs grow with the records, the rest does not).
# The pools' own budgets are measured by bench/pool.sh (docs/benchmarks.md).
# Usage: bench/memory.sh [RECORDS=1000] [MAX_TOKENS=16]. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000}"; TOKENS="${2:-16}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
W=out/memory
mkdir -p "$W"
peak() {  # prints the peak RSS in MiB of the command
  /usr/bin/time -f '%M' -o "$W/time.txt" "$@" > /dev/null 2> "$W/last.log" || { tail "$W/last.log" >&2; exit 1; }
  echo "$(( $(tail -n 1 "$W/time.txt") / 1024 ))"
}
echo "| what | records | peak RSS (MiB) |"
echo "|---|---:|---:|"
for N in 1000 10000 1000000; do
  D="$W/synth-$N"
  [ -d "$D" ] || { rm -rf "$D.tmp"; python3 bench/synth_dataset.py "$D" $((N / 2)) $((N / 2)); }
  echo "| plan (\`dare run --dry-run\`, synthetic generic) | $N | $(peak "$DARE" run --dry-run --out "$W/dry" --dataset "$D" --limit 0) |"
done
for N in $((RECORDS / 10)) "$RECORDS"; do
  rm -rf "$W/run-$N"
  echo "| \`dare run --target items --max-tokens $TOKENS\` (bundled) | $N | $(peak "$DARE" run --out "$W/run-$N" --target items --limit "$N" --max-tokens "$TOKENS" --threads 2) |"
done
