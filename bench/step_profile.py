#!/usr/bin/env python3
"""Where a speculative step's time goes, from a `dare bench --json` result and
the machine's cost curve (`dare calibrate`, cached as JSON in
~/.cache/dare/calibration/): per method, the forward passes, the mean rows a
pass verifies (the last token + draft nodes), the measured time per pass, the
time the cost curve predicts for that many rows (interpolated), and the
overhead: everything a step spends outside the model's decode (drafting,
acceptance, KV bookkeeping, re-decoded rows) plus the decode's own excess
over the curve. The best speedup a method can reach at its tau is
tau / cost(rows). Results with a decode share (`dare bench` since it
records time inside llama.cpp's decode) split each pass into decode and
the rest (drafting, acceptance, KV bookkeeping), measured; with a prefill
share the prompts' prefill passes are left out, so a pass is a step.
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
# Results with a prefill share: the prompts' prefill passes (one per prompt)
# are left out, so a pass is a decoding step; older results include them.
steps_only = all("prefill_share" in m for m in methods.values())
split = all("decode_share" in m for m in methods.values())


def step(m):
    """tau, rows per pass, ms per pass and the decode share of that time."""
    seconds = m["tokens"] / m["tokens_per_second"]
    passes, tokens = m["forward_passes"], m["tokens"]
    decode = seconds * m.get("decode_share", 1.0)
    if steps_only:
        pre = seconds * m["prefill_share"]
        seconds, decode = seconds - pre, decode - pre
        passes, tokens = passes - m["prompts"], tokens - m["prompts"]
    return tokens / passes, 1.0 + m["draft_tokens"] / passes, 1000.0 * seconds / passes, 1000.0 * decode / passes


van = methods.get("vanilla")
van_ms = step(van)[2] if van else None
extra = " decode ms per pass | other ms per pass |" if split else ""
print("| method | tau | rows per pass | ms per pass (measured) | ms per pass (cost curve) | overhead | best speedup at this tau "
      "| measured speedup |" + extra)
print("|---|---|---|---|---|---|---|---|" + ("---|---|" if split else ""))
for name, m in methods.items():
    tau, rows, measured, dec = step(m)
    # Scale the curve to this run's single-token time (the VM drifts between
    # calibration and bench); vanilla's own pass time is the reference.
    scale = van_ms / curve["ms"][0] if van_ms else 1.0
    predicted = cost_ms(curve, rows) * scale
    best = tau * curve["ms"][0] / cost_ms(curve, rows)
    print(f"| {name} | {tau:.2f} | {rows:.2f} | {measured:.1f} | {predicted:.1f} | "
          f"{measured / predicted - 1:+.0%} | {best:.2f}x | {m['speedup_vs_vanilla']:.2f}x |", end="")
    if split:
        print(f" {dec:.1f} | {measured - dec:.1f} |", end="")
    print()
