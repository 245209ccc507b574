#!/usr/bin/env python3
"""Where a speculative step's time goes, from a `dare bench --json` result and
the machine's cost curve (`dare calibrate`, cached as JSON in
~/.cache/dare/calibration/): per method, the forward passes, the mean rows a
pass verifies (the last token + draft nodes), the measured time per pass, the
time the cost curve predicts for that many rows (interpolated), and the
overhead: everything a step spends outside the model's decode (drafting,
acceptance, KV bookkeeping, re-decoded rows) plus the decode's own excess
over the curve. The best speedup a method can reach at its tau is
tau / cost(rows).
Usage: bench/step_profile.py BENCH.json COST.json
"""
import json
import sys


def cost_ms(curve, n):
    sizes, ms = curve["sizes"], curve["ms"]
    if n <= sizes[0]:
        return ms[0]
    for i in range(1, len(sizes)):
        if n <= sizes[i]:
            f = (n - sizes[i - 1]) / (sizes[i] - sizes[i - 1])
            return ms[i - 1] + f * (ms[i] - ms[i - 1])
    return ms[-1] * n / sizes[-1]


bench = json.load(open(sys.argv[1]))
curve = json.load(open(sys.argv[2]))
methods = {m["method"]: m for m in bench["methods"]}
van = methods.get("vanilla")
van_ms = 1000.0 * van["tokens"] / van["tokens_per_second"] / van["forward_passes"] if van else None
print("| method | tau | rows per pass | ms per pass (measured) | ms per pass (cost curve) | overhead | best speedup at this tau | measured speedup |")
print("|---|---|---|---|---|---|---|---|")
for name, m in methods.items():
    passes = m["forward_passes"]
    rows = 1.0 + m["draft_tokens"] / passes
    measured = 1000.0 * m["tokens"] / m["tokens_per_second"] / passes
    # Scale the curve to this run's single-token time (the VM drifts between
    # calibration and bench); vanilla's own pass time is the reference.
    scale = van_ms / curve["ms"][0] if van_ms else 1.0
    predicted = cost_ms(curve, rows) * scale
    best = m["tau"] * curve["ms"][0] / cost_ms(curve, rows)
    print(f"| {name} | {m['tau']:.2f} | {rows:.2f} | {measured:.1f} | {predicted:.1f} | "
          f"{measured / predicted - 1:+.0%} | {best:.2f}x | {m['speedup_vs_vanilla']:.2f}x |")
