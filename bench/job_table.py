#!/usr/bin/env python3
"""The table of bench/job.sh: per kind and configuration, the median wall
seconds of the whole job over the repetitions (model load included),
records per hour, speed against `dare run --mode vanilla --parallel 1`
(vanilla-seq: the same model file), against the fastest one-record-at-a-
time dare configuration (vanilla-seq*: any model file) and against the
fastest llama.cpp configuration, and the text
health of the first repetition's records (definitions: docs/quality.md).

Usage: job_table.py WORKDIR TIMES_TSV CONFIG...
"""
import json
import os
import statistics
import sys
from collections import defaultdict

from health_table import figures

work, times_path, configs = sys.argv[1], sys.argv[2], sys.argv[3:]
walls = defaultdict(list)
for line in open(times_path, encoding="utf-8"):
    config, rep, kind, secs = line.split("\t")
    walls[(config, kind)].append(float(secs))
for kind in ("items", "users", "both"):
    def wall(c):
        if kind == "both":
            return wall_of(c, "items") + wall_of(c, "users")
        return wall_of(c, kind)

    def wall_of(c, k):
        return statistics.median(walls[(c, k)]) if walls[(c, k)] else float("nan")

    present = [c for c in configs if walls[(c, "items")] or walls[(c, "users")]]
    llama = [c for c in present if c.startswith("llama")]
    best_llama = min(llama, key=wall) if llama else None
    seq = [c for c in present if c.startswith("vanilla-seq")]
    best_seq = min(seq, key=wall) if seq else None
    print(f"\n### {kind}\n")
    print("| configuration | runs | wall s | records/h | vs vanilla-seq | vs fastest vanilla-seq* | vs best llama.cpp | echo-only % | looped % | words | grounding % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in present:
        kinds = ["items", "users"] if kind == "both" else [kind]
        n = 0
        health = []
        for k in kinds:
            f = figures([f"{work}/{c}-r1-{k}"], k[:-1])
            if f:
                n += f["n"]
                if not f["without_health"]:  # records without health figures show n/a, not 0
                    health.append(f)
        w = wall(c)
        def mean(key):  # "n/a" when the configuration has no health figures
            if not health:
                return "n/a"
            return f"{sum(h[key] * h['n'] for h in health) / sum(h['n'] for h in health):.{0 if key in ('words', 'ground') else 1}f}"
        base = wall("vanilla-seq") / w if walls[("vanilla-seq", "items")] else float("nan")
        vs_seq = wall(best_seq) / w if best_seq else float("nan")
        vs_llama = wall(best_llama) / w if best_llama else float("nan")
        runs = min(len(walls[(c, k)]) for k in kinds)
        print(f"| {c} | {runs} | {w:.1f} | {3600 * n / w:.0f} | {base:.2f}x | {vs_seq:.2f}x | {vs_llama:.2f}x | "
              f"{mean('echo')} | {mean('looped')} | {mean('words')} | {mean('ground')} |")

# The ceiling one record at a time: vanilla-seq's records (first
# repetition) with every generated token costed at its record's prefill rate
# (prompt prefill seconds per prompt token). Prefill is the same work in
# every configuration, so no configuration that prefills the same prompts
# can beat plain decoding by more than seconds / (prefill + tokens x rate).
rows = []
for kind in ("items", "users"):
    path = f"{work}/vanilla-seq-r1-{kind}/knowledge.jsonl"
    if os.path.exists(path):
        recs = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        rows.append((kind, recs))
if rows:
    print("\n### ceiling (vanilla-seq, first repetition, records' own seconds)\n")
    print("| kind | records | prompt tokens | prefill s | ms/prompt token | tokens | decode s | ms/token | ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = ideal_total = 0.0
    for kind, recs in rows:
        n = len(recs)
        pre = sum(r["prefill_seconds"] for r in recs)
        secs = sum(r["seconds"] for r in recs)
        ptok = sum(r["prompt_tokens"] for r in recs)
        toks = sum(r["tokens"] for r in recs)
        ideal = sum(r["prefill_seconds"] * (1 + r["tokens"] / r["prompt_tokens"]) for r in recs)
        total += secs
        ideal_total += ideal
        print(f"| {kind} | {n} | {ptok / n:.1f} | {pre / n:.2f} | {1000 * pre / ptok:.2f} | {toks / n:.1f} | "
              f"{(secs - pre) / n:.2f} | {1000 * (secs - pre) / toks:.1f} | {secs / ideal:.2f}x |")
    if len(rows) == 2:
        print(f"| both | | | | | | | | {total / ideal_total:.2f}x |")
