#!/usr/bin/env python3
"""Where a batched run's time goes, from `dare bench-batch --step-log` (written
by bench/batch.sh to out/bench/batch-<set><tag>-steps.tsv): for every run
(B, with or without speculation, repeat) the decode steps split into steps
with prompt rows (a new record's prefill, other records decoding beside it)
and decode-only steps, the latter by whether drafts were kept; per class the
steps, time inside decode, tokens emitted, rows by kind and tokens per
second of that class's time.
Usage: bench/batch_steps.py STEPS.tsv
"""
import csv
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if None in r.values():
                continue  # a line still being written (the run goes on)
            runs[(int(r["parallel"]), r["speculate"] == "1", int(r["repeat"]))].append(r)
    print("| B | speculation | repeat | steps | class | share of decode time | ms | tokens | prompt rows "
          "| decode rows | draft rows | tokens/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    classes = [
        ("with prompt rows", lambda r: int(r["prefill_rows"]) > 0),
        ("decode-only, drafts", lambda r: int(r["prefill_rows"]) == 0 and int(r["draft_rows"]) > 0),
        ("decode-only, none", lambda r: int(r["prefill_rows"]) == 0 and int(r["draft_rows"]) == 0),
    ]
    for (b, spec, rep), steps in sorted(runs.items()):
        total_ms = sum(float(r["ms"]) for r in steps)
        for name, sel in classes:
            sub = [r for r in steps if sel(r)]
            if not sub:
                continue
            ms = sum(float(r["ms"]) for r in sub)
            tok = sum(int(r["tokens"]) for r in sub)
            rows = [sum(int(r[k]) for r in sub) for k in ("prefill_rows", "decode_rows", "draft_rows")]
            print(f"| {b} | {'yes' if spec else 'no'} | {rep} | {len(sub)} | {name} | {ms / total_ms:.2f} | "
                  f"{ms:.0f} | {tok} | {rows[0]} | {rows[1]} | {rows[2]} | {1e3 * tok / ms if ms else 0:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
