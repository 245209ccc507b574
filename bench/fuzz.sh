#!/usr/bin/env bash
# Fuzzing campaign over every reader of outside input: each libFuzzer target
# of tests/fuzz (built by scripts/build-sanitized.sh, with AddressSanitizer and
# UndefinedBehaviorSanitizer) runs SECONDS (default 600) on one core, starting
# from its seed corpus; FUZZ_JOBS targets (default 1) run at a time. New inputs
# are kept in out/fuzz/corpus/NAME (copy the ones worth keeping into
# tests/fuzz/corpus/NAME, where scripts/test.sh replays them), findings in
# out/fuzz/crashes/. Prints a Markdown table: target, seconds, inputs run,
# coverage, corpus, findings; exits non-zero if any target found something.
# Usage: [FUZZ_JOBS=N] bench/fuzz.sh [SECONDS=600] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-600}"
shift || true
JOBS="${FUZZ_JOBS:-1}"
B="$(scripts/build-sanitized.sh)"
W=out/fuzz
mkdir -p "$W/crashes"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  for D in tests/fuzz/corpus/*/; do TARGETS+=("$(basename "$D")"); done
fi

# One target's campaign; writes its table row to $W/$T.row.
fuzz_one() {
  local T="$1" RC=0
  mkdir -p "$W/corpus/$T"
  touch "$W/.started-$T"
  "$B/tests/fuzz/$T" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$W/crashes/$T-" "$W/corpus/$T" "tests/fuzz/corpus/$T" >"$W/$T.log" 2>&1 || RC=$?
  local RUNS LAST COV CORP N
  RUNS="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$W/$T.log" | grep -o '[0-9]*$' || echo ?)"
  LAST="$(grep -E '^#[0-9]+' "$W/$T.log" | tail -n 1)"
  COV="$(grep -o 'cov: [0-9]*' <<<"$LAST" | grep -o '[0-9]*' || echo ?)"
  CORP="$(grep -o 'corp: [0-9]*' <<<"$LAST" | grep -o '[0-9]*' || echo ?)"
  N="$(find "$W/crashes" -name "$T-*" -newer "$W/.started-$T" | wc -l)"
  echo "| $T | $SECS | $RUNS | $COV | $CORP | $N$([ "$RC" -ne 0 ] && echo " (exit $RC, see $W/$T.log)") |" >"$W/$T.row"
}

for T in "${TARGETS[@]}"; do
  rm -f "$W/$T.row"
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  fuzz_one "$T" &
done
wait
echo "| target | seconds | inputs run | coverage (edges) | corpus | findings |"
echo "|---|---:|---:|---:|---:|---:|"
FOUND=0
for T in "${TARGETS[@]}"; do
  if [ -f "$W/$T.row" ]; then cat "$W/$T.row"; else echo "| $T | $SECS | ? | ? | ? | no result |"; FOUND=1; fi
  grep -q '| 0 |$' "$W/$T.row" 2>/dev/null || FOUND=1
done
exit "$FOUND"
