#!/usr/bin/env python3
"""SVG bar chart of `dare bench --json` results: speedup over vanilla per
method, one colour per results file (e.g. items and users). Standard library
only; prints the SVG to stdout.
Usage: bench/chart.py RESULTS.json [RESULTS2.json ...] > chart.svg"""
import json
import os
import sys
from xml.sax.saxutils import escape

COLOURS = ["#4477aa", "#ee6677", "#228833", "#ccbb44"]


def main(paths):
    sets = []
    for p in paths:
        j = json.load(open(p))
        label = os.path.basename(p).rsplit("-", 1)[-1].replace(".json", "")
        sets.append((label, {m["method"]: m["speedup_vs_vanilla"] for m in j["methods"]}, j["machine"]))
    methods = []
    for _, rows, _ in sets:
        for m in rows:
            if m not in methods:
                methods.append(m)
    top = max(max(r.values()) for _, r, _ in sets)
    top = max(1.5, round(top + 0.25, 1))
    bar, gap, left, width = 12, 10, 230, 420
    group = bar * len(sets) + gap
    height = 60 + group * len(methods) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{height}" '
           f'font-family="sans-serif" font-size="11">']
    m0 = sets[0][2]
    out.append(f'<text x="10" y="18" font-size="13">Speedup over vanilla (tokens/s), {escape(m0["cpu"])}, '
               f'{m0["threads"]} threads, {m0["date"]}</text>')
    for k, (label, _, _) in enumerate(sets):
        out.append(f'<rect x="{left + 120 * k}" y="28" width="10" height="10" fill="{COLOURS[k % 4]}"/>'
                   f'<text x="{left + 120 * k + 14}" y="37">{escape(label)}</text>')
    x1 = left + width / top
    out.append(f'<line x1="{x1:.1f}" y1="45" x2="{x1:.1f}" y2="{height - 35}" stroke="#999" stroke-dasharray="3,3"/>')
    for i, m in enumerate(methods):
        y = 50 + i * group
        out.append(f'<text x="{left - 6}" y="{y + group / 2}" text-anchor="end">{escape(m)}</text>')
        for k, (_, rows, _) in enumerate(sets):
            if m not in rows:
                continue
            v = rows[m]
            w = width * v / top
            out.append(f'<rect x="{left}" y="{y + k * bar}" width="{w:.1f}" height="{bar - 2}" fill="{COLOURS[k % 4]}"/>'
                       f'<text x="{left + w + 4:.1f}" y="{y + k * bar + bar - 3}">{v:.2f}x</text>')
    for t in range(0, int(top * 4) + 1):
        v = t / 4
        if v > top:
            break
        x = left + width * v / top
        out.append(f'<text x="{x:.1f}" y="{height - 20}" text-anchor="middle">{v:.2f}</text>')
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
