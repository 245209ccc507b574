#!/usr/bin/env bash
# Text health and whole-job time of several decoding configurations on the
# same records (docs/quality.md "Text health"): each configuration is a
# `dare run` over a seeded sample of the bundled dataset (half items, half
# users, no warm-up phase so every configuration gets the same prompts), and
# the rounds alternate the configurations (round r starts at configuration
# r, so none always runs first). Health is read from the first round (every
# mode here is deterministic); whole-job seconds (records' own seconds,
# prefill included) are medians over rounds.
# Usage: bench/health.sh [RECORDS=300] [MAX_TOKENS=128] [ROUNDS=1] [THREADS=2]
# CONFIGS (environment): configuration names, from the table below, default
# "plain default". TAG: suffix of the output folder out/health<TAG>.
# SPLIT=1 (environment): each configuration runs items and users apart
# (`--target items` and `--target users`, RECORDS/2 each) and the table's
# seconds are each run's wall time (model load included), the measure for
# configurations that decode records together, whose records' own seconds
# overlap; otherwise one `--target both` run and the records' own seconds.
# Prints the table (bench/health_table.py) and writes it to out/health<TAG>/health.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-300}"; TOKENS="${2:-128}"; ROUNDS="${3:-1}"; THREADS="${4:-2}"
scripts/build.sh
DARE="${DARE_BIN:-./${DARE_BUILD_DIR:-build}/tools/dare/dare}"
W="out/health${TAG:-}"
mkdir -p "$W"
OFF="--repetition-control off"
declare -A ARGS=(
  # plain decoding, without and with the default repetition rules
  # (every configuration but the default pins --parallel 1: one record at a time)
  [plain]="--mode vanilla $OFF --parallel 1"
  # the same on plain attention (--kv-layout plain): what the KV layout alone changes
  [plain-plainkv]="--mode vanilla $OFF --kv-layout plain --parallel 1"
  [plain-rep]="--mode vanilla --parallel 1"
  # relaxed verification (top-k 2, p > 0.1), no repetition rules, no guard: the rule variants
  [dare]="--relaxed-rule dare --health-guard false $OFF --parallel 1"
  [dare-plainkv]="--relaxed-rule dare --health-guard false $OFF --kv-layout plain --parallel 1"
  [dare-noself]="--relaxed-rule dare --health-guard false --self-draft false $OFF --parallel 1"
  [eog]="--relaxed-rule eog --health-guard false $OFF --parallel 1"
  [copy]="--relaxed-rule copy --health-guard false $OFF --parallel 1"
  [guarded]="--relaxed-rule guarded --health-guard false $OFF --parallel 1"
  [typical]="--relaxed-rule typical --health-guard false $OFF --parallel 1"
  # with the default repetition rules
  [dare-rep]="--relaxed-rule dare --health-guard false --parallel 1"
  [guarded-rep]="--relaxed-rule guarded --health-guard false --parallel 1"
  [strict-rep]="--verify strict --parallel 1"
  # plain decoding with the default rules, records decoded together (--parallel auto)
  [plain-rep-auto]="--mode vanilla"
  # the default configuration (everything as `dare run` sets it: --parallel auto)
  [default]=""
  # the default one record at a time
  [default-p1]="--parallel 1"
)
# EXTRA_<name> (environment) adds a configuration: EXTRA_ng4="--mode vanilla --no-repeat-ngram 4".
for v in $(compgen -v EXTRA_ || true); do ARGS[${v#EXTRA_}]="${!v}"; done
read -r -a NAMES <<< "${CONFIGS:-plain default}"
COMMON=(--max-tokens "$TOKENS" --threads "$THREADS" --warmup-fraction 0)
if [ "${SPLIT:-0}" = 1 ]; then RUNS=("items --limit $((RECORDS / 2))" "users --limit $((RECORDS / 2))")
else RUNS=("both --limit $RECORDS"); fi
n=${#NAMES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((k = 0; k < n; k++)); do
    name="${NAMES[$(((k + r - 1) % n))]}"
    [ -n "${ARGS[$name]+x}" ] || { echo "unknown configuration $name" >&2; exit 2; }
    for run in "${RUNS[@]}"; do
      out="$W/$name-r$r"
      if [ "${SPLIT:-0}" = 1 ]; then out="$out-${run%% *}"; rm -rf "$out"; fi  # a resumed run's wall time means nothing
      echo "== round $r $name ${run%% *} $(date -u +%FT%TZ)" >&2
      t0="$(date +%s.%N)"
      # shellcheck disable=SC2086
      "$DARE" run --out "$out" --target $run "${COMMON[@]}" ${ARGS[$name]} > /dev/null
      if [ "${SPLIT:-0}" = 1 ]; then echo "$(date +%s.%N) - $t0" | bc > "$out/wall_seconds"; fi
    done
  done
done
DIRS=()
for name in "${NAMES[@]}"; do DIRS+=("$name=$(ls -d "$W/$name"-r[0-9]* | tr '\n' ',' | sed 's/,$//')"); done
python3 bench/health_table.py "${DIRS[@]}" | tee "$W/health.md"
