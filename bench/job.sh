#!/usr/bin/env bash
# Whole-job benchmark (docs/benchmarks.md, "Whole job"): the same records,
# items and users apart, through `dare run` in several configurations and
# through llama.cpp's own server (parallel slots, with and without its n-gram
# speculation) driven by bench/llama_client.py, alternating configurations
# (order reversed every other repetition), REPS times. Wall time of each
# job includes loading the model (and starting the server). Text health of
# every configuration beside its time (llama.cpp's texts measured by
# `dare eval health` with the same definitions and grounding).
# Usage: bench/job.sh [RECORDS=200] [REPS=2] [THREADS=2] [MAX_TOKENS=128]
# CONFIGS (environment) picks configurations; default: all below. Those
# ending in -q8 run on the Q8_0 file, the others on $DARE_MODEL (default: the
# default model build, which is the Q8_0 file too). Those ending in -ifirst
# use bench/templates/instructions-first.json (llama.cpp's take their prompts
# from vanilla-seq-ifirst's run of the first repetition, the others' from
# vanilla-seq's: list that configuration before them).
# Results: bench/results/<host>-<date>-job.{md,tsv} (-2, -3, ... when that
# day already has one; the .md opens with the command and commit); run
# folders in out/job/.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RECORDS="${1:-200}"; REPS="${2:-2}"; THREADS="${3:-2}"; TOKENS="${4:-128}"
HALF=$((RECORDS / 2))
DARE_BUILD_DIR="${DARE_BUILD_DIR:-build-server}" scripts/build.sh -DDARE_LLAMA_SERVER=ON -DDARE_BUILD_TESTS=OFF
B="${DARE_BUILD_DIR:-build-server}"
cmake --build "$B" --target llama-server -j"$(nproc)" >/dev/null
DARE="$B/tools/dare/dare"
SERVER="$B/bin/llama-server"
MODEL="${DARE_MODEL:-$("$DARE" --version | sed -n 's/^default model: //p')}"  # the default model build
W=out/job
mkdir -p "$W" bench/results
TIMES="$W/times.tsv"
: > "$TIMES"
Q8="${DARE_CACHE:-$HOME/.cache/dare}/models/SmolLM2-135M-Instruct.Q8_0.gguf"
declare -A MODEL_OF=(  # configurations on another model file than the default build
  [vanilla-seq-q8]="$Q8"
  [default-q8]="$Q8"
  [llama-np16-q8]="$Q8"
)
declare -A DARE_ARGS=(
  [vanilla-seq]="--mode vanilla --parallel 1"
  [vanilla-seq-q8]="--mode vanilla --parallel 1"
  [default-q8]=""
  [vanilla-p4]="--mode vanilla --parallel 4"
  [vanilla-p8]="--mode vanilla --parallel 8"
  [default]=""
  [default-p4]="--parallel 4"
  [default-p8]="--parallel 8"
  # the KAR prompts with their instructions before the movie or history
  # (bench/templates/instructions-first.json), so that every prompt of a
  # kind opens with the same text, which a sequence keeps between records
  [vanilla-seq-ifirst]="--mode vanilla --parallel 1 --templates bench/templates/instructions-first.json"
  [default-ifirst]="--templates bench/templates/instructions-first.json"
)
declare -A LLAMA_ARGS=(  # server flags | client requests in flight
  [llama-np4]="-np 4|4"
  [llama-np8]="-np 8|8"
  [llama-np16]="-np 16|16"
  [llama-np32]="-np 32|32"
  [llama-np64]="-np 64|64"
  [llama-np16-q8]="-np 16|16"
  [llama-np16-ifirst]="-np 16|16"
  [llama-np1-ngram]="-np 1 --spec-type ngram-mod --spec-ngram-mod-n-match 12 --spec-ngram-mod-n-max 24 --spec-ngram-mod-n-min 4 -fa off|1"
  [llama-np4-ngram]="-np 4 --spec-type ngram-mod --spec-ngram-mod-n-match 12 --spec-ngram-mod-n-max 24 --spec-ngram-mod-n-min 4 -fa off|4"
)
CONFIGS="${CONFIGS:-vanilla-seq vanilla-p4 default default-p4 llama-np4 llama-np8 llama-np1-ngram llama-np4-ngram}"
PORT=18431
now() { date +%s.%N; }

run_dare() {  # CONFIG REP KIND
  local dir="$W/$1-r$2-$3" t0
  rm -rf "$dir"
  t0="$(now)"
  # shellcheck disable=SC2086
  "$DARE" run --model "${MODEL_OF[$1]:-$MODEL}" --out "$dir" --target "$3" --limit "$HALF" --max-tokens "$TOKENS" --threads "$THREADS" \
    ${DARE_ARGS[$1]} > /dev/null 2> "$dir.log"
  printf '%s\t%s\t%s\t%.3f\n' "$1" "$2" "$3" "$(echo "$(now) - $t0" | bc)" >> "$TIMES"
}

run_llama() {  # CONFIG REP KIND: server start to last answer
  local dir="$W/$1-r$2-$3" src="$W/vanilla-seq${1#"${1%-ifirst}"}-r1-$3" t0 pid flags conc
  flags="${LLAMA_ARGS[$1]%|*}"; conc="${LLAMA_ARGS[$1]#*|}"
  rm -rf "$dir"
  t0="$(now)"
  # shellcheck disable=SC2086
  "$SERVER" -m "${MODEL_OF[$1]:-$MODEL}" -t "$THREADS" -c $((2048 * conc)) --host 127.0.0.1 --port "$PORT" $flags \
    > "$dir.server.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "llama-server failed: $dir.server.log" >&2; exit 1; }
    sleep 0.05
  done
  python3 bench/llama_client.py "http://127.0.0.1:$PORT" "$src" "$dir" "${3%s}" "$TOKENS" "$conc" > /dev/null
  printf '%s\t%s\t%s\t%.3f\n' "$1" "$2" "$3" "$(echo "$(now) - $t0" | bc)" >> "$TIMES"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  "$DARE" eval health "$dir" --write > /dev/null
}

for REP in $(seq 1 "$REPS"); do
  ORDER="$CONFIGS"
  [ $((REP % 2)) -eq 0 ] && ORDER="$(echo "$CONFIGS" | tr ' ' '\n' | tac | tr '\n' ' ')"
  for KIND in items users; do
    # vanilla-seq of repetition 1 first: its prompts feed the llama.cpp client.
    KIND_ORDER="$ORDER"
    if [ "$REP" -eq 1 ]; then
      case " $CONFIGS " in
        *" vanilla-seq "*) KIND_ORDER="vanilla-seq $(echo " $ORDER " | sed 's/ vanilla-seq / /')" ;;
        *) run_dare vanilla-seq 1 "$KIND" ;;
      esac
    fi
    for C in $KIND_ORDER; do
      echo "== rep $REP $KIND $C $(date -u +%T)" >&2
      if [ -n "${LLAMA_ARGS[$C]+x}" ]; then run_llama "$C" "$REP" "$KIND"; else run_dare "$C" "$REP" "$KIND"; fi
    done
  done
done
OUTF="$(result_stem job)"
{
  echo "# CONFIGS=\"$CONFIGS\" bench/job.sh $RECORDS $REPS $THREADS $TOKENS at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d)"
  python3 bench/job_table.py "$W" "$TIMES" $CONFIGS
} | tee "$OUTF.md"
cp "$TIMES" "$OUTF.tsv"
