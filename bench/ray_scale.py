#!/usr/bin/env python3
"""The Ray job against dare run on the same records (docs/scale.md): whole-job
wall seconds (driver start to summary, model loads and Ray's start-up of the
actors included; the cluster is started before the clock) of

- dare run --threads 2 and python -m dare.ray run with 2 workers of 1 thread
  (the same total threads: the Ray job's overhead);
- dare run --threads 1 and dare.ray with 1 worker of 1 thread, then with 2
  (1 versus 2 single-thread workers);

alternating, REPS times, on a local two-node cluster (python/tests/
local_cluster.py: one CPU per node). The texts of each Ray run are compared
with dare run's (strict verification writes the same texts). Prints a
Markdown table. Usage: bench/ray_scale.py [RECORDS=100] [MAX_TOKENS=128]
[REPS=2] (needs the package installed: scripts/test.sh makes .venv)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python" / "tests"))
from local_cluster import ENV, local_cluster  # noqa: E402

DARE = os.environ.get("DARE_BIN", str(ROOT / "build" / "tools" / "dare" / "dare"))
_ARGS = [int(a) for a in sys.argv[1:4]]
N, TOKENS, REPS = (_ARGS + [100, 128, 2][len(_ARGS):])
RUN = ["--target", "items", "--limit", str(N), "--max-tokens", str(TOKENS), "--verify", "strict", "--parallel", "1"]
WORK = ROOT / "out" / "ray_scale"


def timed(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return time.monotonic() - t0


def texts(d):
    return {(j["kind"], j["id"]): j["text"] for j in map(json.loads, open(d / "knowledge.jsonl"))}


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    configs = {
        "dare run, 2 threads": lambda out, addr: [DARE, "run", "--out", str(out), "--threads", "2", *RUN],
        "dare.ray, 2 workers x 1 thread": lambda out, addr: [
            sys.executable, "-m", "dare.ray", "run", "--address", addr, "--out", str(out), "--workers", "2",
            "--threads-per-worker", "1", *RUN],
        "dare run, 1 thread": lambda out, addr: [DARE, "run", "--out", str(out), "--threads", "1", *RUN],
        "dare.ray, 1 worker x 1 thread": lambda out, addr: [
            sys.executable, "-m", "dare.ray", "run", "--address", addr, "--out", str(out), "--workers", "1",
            "--threads-per-worker", "1", *RUN],
    }
    secs = {c: [] for c in configs}
    outs = {c: [] for c in configs}
    with local_cluster() as addr:
        for rep in range(REPS):
            order = list(configs) if rep % 2 == 0 else list(reversed(configs))
            for c in order:
                out = WORK / f"{c.replace(' ', '_').replace(',', '')}-{rep}"
                secs[c].append(timed(configs[c](out, addr)))
                print(f"rep {rep + 1} {c}: {secs[c][-1]:.1f} s", file=sys.stderr, flush=True)
                outs[c].append(out)
    ref = texts(outs["dare run, 2 threads"][0])
    same = {c: all(texts(o) == ref for o in outs[c]) for c in configs}
    base2 = statistics.median(secs["dare run, 2 threads"])
    base1 = statistics.median(secs["dare run, 1 thread"])
    print("| configuration | runs | median wall s | records/h | vs dare run (same threads) | texts = dare run's |")
    print("|---|---:|---:|---:|---:|---|")
    for c in configs:
        m = statistics.median(secs[c])
        base = base2 if ("2 threads" in c or "2 workers" in c) else base1
        print(f"| {c} | {len(secs[c])} | {m:.1f} | {3600 * N / m:.0f} | {base / m:.2f}x | "
              f"{'yes' if same[c] else 'NO'} |")


if __name__ == "__main__":
    main()
