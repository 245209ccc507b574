#!/usr/bin/env python3
"""Health and whole-job time per configuration and kind, from dare run folders.

Usage: health_table.py NAME=RUNDIR[,RUNDIR...] ...
The first folder of each configuration gives the health figures (from the
records' "health" objects; definitions in docs/quality.md); seconds are the
median over the folders of the sum of records' own seconds (prefill
included). "speed" is the first configuration's seconds over this one's, per
kind: whole-job speed relative to the first configuration.
"""
import json
import statistics
import sys


def records(rundir):
    with open(f"{rundir}/knowledge.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def figures(dirs, kind):
    first = [r for r in records(dirs[0]) if r["kind"] == kind]
    n = len(first)
    if n == 0:
        return None
    h = [r.get("health", {}) for r in first]
    mean = lambda key: sum(x.get(key, 0) for x in h) / n
    grounded = [x["grounding"] for x in h if "grounding" in x]
    secs = [sum(r["seconds"] for r in records(d) if r["kind"] == kind) for d in dirs]
    pre = [sum(r.get("prefill_seconds", 0) for r in records(d) if r["kind"] == kind) for d in dirs]
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
        "prefill": statistics.median(pre),
        "tps": sum(r["tokens"] for r in first) / statistics.median(secs),
    }


def main():
    configs = []
    for arg in sys.argv[1:]:
        name, dirs = arg.split("=", 1)
        configs.append((name, dirs.split(",")))
    for kind in ("item", "user"):
        rows = [(name, len(dirs), figures(dirs, kind)) for name, dirs in configs]
        rows = [r for r in rows if r[2]]
        if not rows:
            continue
        base = rows[0][2]["seconds"]
        print(f"\n{kind}s\n")
        print("| configuration | records | echo-only | looped | new words | tokens | words | longest repeat | distinct-2 "
              "| grounding | regenerated | off-argmax (copies, EOG) | seconds (rounds) | prefill share | tokens/s | speed |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name, rounds, f in rows:
            print(f"| {name} | {f['n']} | {f['echo']:.0f}% | {f['looped']:.0f}% | {f['new']:.0f}% | {f['tokens']:.0f} | "
                  f"{f['words']:.0f} | {f['repeat']:.1f} | {f['d2']:.3f} | {f['ground']:.0f}% | {f['regen']} | "
                  f"{f['offarg']} ({f['copies']}, {f['eog']}) | {f['seconds']:.1f} ({rounds}) | "
                  f"{100 * f['prefill'] / f['seconds']:.0f}% | {f['tps']:.1f} | {base / f['seconds']:.2f}x |")


if __name__ == "__main__":
    main()
