#!/usr/bin/env python3
"""Health and whole-job time per configuration and kind, from dare run folders.

Usage: health_table.py NAME=RUNDIR[,RUNDIR...] ...
For each kind, the first folder of a configuration holding records of that
kind gives the health figures (from the records' "health" objects;
definitions in docs/quality.md). Seconds are the median over that kind's
folders of the folder's wall time (a file "wall_seconds" that
bench/health.sh writes for a run of one kind: the whole `dare run`, model
load and prefill included), or, without that file, of the sum of the
records' own seconds (prefill included; records decoded together overlap,
so only for --parallel 1). The prefill share is the share of the records'
own seconds spent in prefill. "speed" is the first configuration's seconds
over this one's, per kind: whole-job speed relative to the first
configuration.
"""
import json
import statistics
import sys


def records(rundir):
    with open(f"{rundir}/knowledge.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def wall_or_sum(rundir, recs):
    try:
        with open(f"{rundir}/wall_seconds", encoding="utf-8") as f:
            return float(f.read())
    except FileNotFoundError:
        return sum(r["seconds"] for r in recs)


def figures(dirs, kind):
    runs = [(d, [r for r in records(d) if r["kind"] == kind]) for d in dirs]
    runs = [(d, recs) for d, recs in runs if recs]
    if not runs:
        return None
    first = runs[0][1]
    n = len(first)
    h = [r.get("health", {}) for r in first]
    mean = lambda key: sum(x.get(key, 0) for x in h) / n
    grounded = [x["grounding"] for x in h if "grounding" in x]
    secs = [wall_or_sum(d, recs) for d, recs in runs]
    own = sum(r["seconds"] for r in first)
    pre_share = sum(r.get("prefill_seconds", 0) for r in first) / own if own > 0 else 0.0
    return {
        "n": n,
        "without_health": sum(1 for x in h if not x),
        "echo": 100 * mean("echo_only"),
        "looped": 100 * mean("looped"),
        "new": 100 * mean("new_words"),
        "tokens": sum(r["tokens"] for r in first) / n,
        "words": mean("words"),
        "repeat": mean("longest_repeat"),
        "d2": mean("distinct_2"),
        "ground": 100 * sum(grounded) / len(grounded) if grounded else float("nan"),
        "regen": sum(1 for r in first if r.get("guard") == "regenerated"),
        "offarg": sum(r.get("relaxed", {}).get("off_argmax", 0) for r in first),
        "copies": sum(r.get("relaxed", {}).get("copies", 0) for r in first),
        "eog": sum(r.get("relaxed", {}).get("eog", 0) for r in first),
        "seconds": statistics.median(secs),
        "prefill_share": pre_share,
        "rounds": len(runs),
        "tps": sum(r["tokens"] for r in first) / statistics.median(secs),
    }


def main():
    configs = []
    for arg in sys.argv[1:]:
        name, dirs = arg.split("=", 1)
        configs.append((name, dirs.split(",")))
    for kind in ("item", "user"):
        rows = [(name, figures(dirs, kind)) for name, dirs in configs]
        rows = [r for r in rows if r[1]]
        if not rows:
            continue
        base = rows[0][1]["seconds"]
        print(f"\n{kind}s\n")
        print("| configuration | records | echo-only | looped | new words | tokens | words | longest repeat | distinct-2 "
              "| grounding | regenerated | off-argmax (copies, EOG) | seconds (rounds) | prefill share | tokens/s | speed |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name, f in rows:
            print(f"| {name} | {f['n']} | {f['echo']:.0f}% | {f['looped']:.0f}% | {f['new']:.0f}% | {f['tokens']:.0f} | "
                  f"{f['words']:.0f} | {f['repeat']:.1f} | {f['d2']:.3f} | {f['ground']:.0f}% | {f['regen']} | "
                  f"{f['offarg']} ({f['copies']}, {f['eog']}) | {f['seconds']:.1f} ({f['rounds']}) | "
                  f"{100 * f['prefill_share']:.0f}% | {f['tps']:.1f} | {base / f['seconds']:.2f}x |")


if __name__ == "__main__":
    main()
