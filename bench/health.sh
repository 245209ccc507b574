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
  [plain]="--mode vanilla $OFF"
  # the same on plain attention (--kv-layout plain): what the KV layout alone changes
  [plain-plainkv]="--mode vanilla $OFF --kv-layout plain"
  [plain-rep]="--mode vanilla"
  # relaxed verification (top-k 2, p > 0.1), no repetition rules, no guard: the rule variants
  [dare]="--relaxed-rule dare --health-guard false $OFF"
  [dare-plainkv]="--relaxed-rule dare --health-guard false $OFF --kv-layout plain"
  [dare-noself]="--relaxed-rule dare --health-guard false --self-draft false $OFF"
  [eog]="--relaxed-rule eog --health-guard false $OFF"
  [copy]="--relaxed-rule copy --health-guard false $OFF"
  [guarded]="--relaxed-rule guarded --health-guard false $OFF"
  [typical]="--relaxed-rule typical --health-guard false $OFF"
  # with the default repetition rules
  [dare-rep]="--relaxed-rule dare --health-guard false"
  [guarded-rep]="--relaxed-rule guarded --health-guard false"
  [strict-rep]="--verify strict"
  # the default configuration (everything as `dare run` sets it)
  [default]=""
)
# EXTRA_<name> (environment) adds a configuration: EXTRA_ng4="--mode vanilla --no-repeat-ngram 4".
for v in $(compgen -v EXTRA_ || true); do ARGS[${v#EXTRA_}]="${!v}"; done
read -r -a NAMES <<< "${CONFIGS:-plain default}"
COMMON=(--target both --limit "$RECORDS" --max-tokens "$TOKENS" --threads "$THREADS" --warmup-fraction 0)
n=${#NAMES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  for ((k = 0; k < n; k++)); do
    name="${NAMES[$(((k + r - 1) % n))]}"
    [ -n "${ARGS[$name]+x}" ] || { echo "unknown configuration $name" >&2; exit 2; }
    echo "== round $r $name $(date -u +%FT%TZ)" >&2
    # shellcheck disable=SC2086
    "$DARE" run --out "$W/$name-r$r" "${COMMON[@]}" ${ARGS[$name]} > /dev/null
  done
done
DIRS=()
for name in "${NAMES[@]}"; do DIRS+=("$name=$(ls -d "$W/$name"-r[0-9]* | tr '\n' ',' | sed 's/,$//')"); done
python3 bench/health_table.py "${DIRS[@]}" | tee "$W/health.md"
