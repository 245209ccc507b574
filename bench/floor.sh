#!/usr/bin/env bash
# The kernel floor of a whole job (docs/benchmarks.md, "Whole job"): the
# least time llama.cpp's own kernels need on this machine for a job's
# prompts and tokens, with every record of a kind in one batch and nothing
# else: its prompts prefilled one at a time at llama-bench's prompt speed
# (a single prompt of the job's mean length: the cheapest prefill row there
# is), and its tokens decoded as one row per record per step, all records
# together (llama-batched-bench, one KV stream per record, flash attention:
# the layout `dare run` batches on), at the job's mean prompt and output
# lengths.
# A draft token is a row too (a record's few rows each take the
# flash-attention row kernel): drafts remove steps, not rows, so at most they
# save each removed step's cost beyond its rows; the table estimates that
# part from two batch sizes (all records, and SMALL=64, dare's --parallel
# auto here) and bounds what drafts can save at B = SMALL.
# Usage: [SMALL=64] bench/floor.sh [JOBDIR=out/job] [THREADS=2]
# Reads the records of JOBDIR/vanilla-seq-r1-{items,users}/knowledge.jsonl
# (bench/job.sh makes them) for each kind's count and mean prompt and output
# tokens, and JOBDIR/times.tsv, when there, for the job's wall times beside
# the floor. Model: $DARE_MODEL or the default model build.
# Result: bench/results/<host>-<date>-floor.md (-2, -3, ... when that day
# already has one).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
JOB="${1:-out/job}"; THREADS="${2:-2}"; SMALL="${SMALL:-64}"
DARE_BUILD_DIR="${DARE_BUILD_DIR:-build-server}" scripts/build.sh -DDARE_LLAMA_SERVER=ON -DDARE_BUILD_TESTS=OFF
B="${DARE_BUILD_DIR:-build-server}"
cmake --build "$B" --target llama-bench llama-batched-bench -j"$(nproc)" >/dev/null
DARE="$B/tools/dare/dare"
MODEL="${DARE_MODEL:-$("$DARE" --version | sed -n 's/^default model: //p')}"
ROWS=()
for KIND in items users; do
  F="$JOB/vanilla-seq-r1-$KIND/knowledge.jsonl"
  [ -f "$F" ] || { echo "floor.sh: $F not found (run bench/job.sh first)" >&2; exit 1; }
  read -r N P T < <(python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(len(rs), round(sum(r["prompt_tokens"] for r in rs) / len(rs)), round(sum(r["tokens"] for r in rs) / len(rs)))' "$F")
  echo "== $KIND: $N records, $P prompt tokens, $T tokens $(date -u +%T)" >&2
  PP="$("$B/bin/llama-bench" -m "$MODEL" -t "$THREADS" -p "$P" -n 0 -fa 1 -r 3 -o json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["avg_ts"])')"
  CELLS=$(( (P + T + 1 + 255) / 256 * 256 ))
  # Decode seconds of all N records in one batch, and of SMALL (dare's
  # --parallel on this machine) in one batch: a step's cost split into a
  # part per row and a fixed part (what a step costs beyond its rows).
  read -r TG TG_SMALL < <("$B/bin/llama-batched-bench" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -fa on \
    -c $((N * CELLS)) -b 2048 -ub 512 -npp "$P" -ntg "$T" -npl "$N$([ "$N" -gt "$SMALL" ] && echo ",$SMALL")" 2>&1 |
    awk -F'|' '$2 ~ /^ *[0-9]+ *$/ {gsub(/ /, "", $8); printf "%s ", $8} END {print ""}')
  [ -n "$TG" ] || { echo "floor.sh: llama-batched-bench gave no result" >&2; exit 1; }
  TG_SMALL="${TG_SMALL:-$TG}"  # N <= SMALL: the job is one batch of SMALL or fewer
  ROWS+=("$KIND $N $P $T $PP $TG $TG_SMALL")
done
OUTF="$(result_stem floor)"
{
  echo "# bench/floor.sh $JOB $THREADS at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), model $(basename "$MODEL"), $(date -u +%Y-%m-%d)"
  echo
  python3 - "$JOB/times.tsv" "$SMALL" "${ROWS[@]}" <<'EOF'
import statistics, sys
times = {}
try:
    for line in open(sys.argv[1]):
        c, rep, kind, s = line.split("\t")
        times.setdefault((c, kind), []).append(float(s))
except FileNotFoundError:
    pass
small = int(sys.argv[2])
med = {k: statistics.median(v) for k, v in times.items()}
configs = sorted({c for c, _ in med}, key=lambda c: (c != "vanilla-seq", c != "default", c))
print("| kind | records | prompt tokens | tokens | prefill s | decode s | floor s | ms/prompt token "
      f"| ms/token, batch of all | ms/token, batch of {small} | ms per step beyond its rows "
      f"| what drafts can save at B = {small}, s |" + "".join(f" {c} s | {c} / floor |" for c in configs))
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(configs))
tot = [0.0, 0.0, 0.0]
jobs = {c: 0.0 for c in configs}
for row in sys.argv[3:]:
    kind, n, p, t, pp_ts, tg_s, tg_small = row.split()
    n, p, t, pp_ts, tg_s, tg_small = int(n), int(p), int(t), float(pp_ts), float(tg_s), float(tg_small)
    prefill = n * p / pp_ts
    # step(rows) = fixed + rows * per_row, from the two batch sizes' steps
    step_n, step_small = tg_s / t, tg_small / t
    # (n <= small: one batch size measured, no split; the bound is left out)
    per_row = (step_n - step_small) / (n - small) if n > small else float("nan")
    fixed = max(0.0, step_small - small * per_row) if n > small else 0.0
    steps = n * t / min(n, small)  # steps of a job of n records decoded `small` at a time
    save = fixed * steps   # a draft removes a step, not a row: at most every step's fixed part
    tot[0] += prefill
    tot[1] += tg_s
    tot[2] += save
    cells = ""
    for c in configs:
        w = med.get((c, kind), float("nan"))
        jobs[c] += w
        cells += f" {w:.1f} | {w / (prefill + tg_s):.2f} |"
    print(f"| {kind} | {n} | {p} | {t} | {prefill:.1f} | {tg_s:.1f} | {prefill + tg_s:.1f} | "
          f"{1e3 / pp_ts:.2f} | {1e3 * step_n / n:.2f} | {1e3 * step_small / min(n, small):.2f} | {1e3 * fixed:.1f} | "
          f"{save:.1f} |" + cells)
floor = tot[0] + tot[1]
print(f"| both | | | | {tot[0]:.1f} | {tot[1]:.1f} | {floor:.1f} | | | | | {tot[2]:.1f} |"
      + "".join(f" {jobs[c]:.1f} | {jobs[c] / floor:.2f} |" for c in configs))
if jobs.get("vanilla-seq"):
    print(f"\nvanilla-seq / floor, both kinds: {jobs['vanilla-seq'] / floor:.2f}x: the most an engine on these "
          "kernels gains over plain decoding one record at a time on this job, give or take what drafts can save.")
EOF
} | tee "$OUTF.md"
