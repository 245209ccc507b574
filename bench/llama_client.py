#!/usr/bin/env python3
"""Drives llama.cpp's server over a dare run's records, as a user of llama.cpp
alone would: every prompt through /v1/chat/completions (the server applies
the model's chat template, as dare does), greedy, N requests in flight (one
per server slot), with the server's prompt cache on (a slot reuses the KV
cells of the prefix its next prompt shares with its last, as dare's batch
slots do). Writes the records as a dare run folder (kind, id, group,
phase, prompt, text, tokens, forward_passes, seconds; run.json and plan.json
copied from the source run) so that `dare eval health --write` measures
their text health with the same definitions and grounding.

Usage: llama_client.py URL SOURCE_RUNDIR OUT_RUNDIR KIND MAX_TOKENS CONCURRENCY
Prints the wall seconds of the whole set (first request sent to last answer).
"""
import json
import shutil
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

url, src, out, kind, max_tokens, conc = sys.argv[1:7]
max_tokens, conc = int(max_tokens), int(conc)
records = [json.loads(l) for l in Path(src, "knowledge.jsonl").read_text().splitlines() if l.strip()]
records = [r for r in records if r["kind"] == kind]


def ask(r):
    body = json.dumps({"messages": [{"role": "user", "content": r["prompt"]}], "max_tokens": max_tokens,
                       "temperature": 0, "top_k": 1, "cache_prompt": True}).encode()
    req = urllib.request.Request(url + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as resp:
        ans = json.load(resp)
    secs = time.perf_counter() - t0
    tokens = ans["usage"]["completion_tokens"]
    return {"kind": r["kind"], "id": r["id"], "group": r["group"], "phase": r["phase"], "prompt": r["prompt"],
            "text": ans["choices"][0]["message"]["content"], "tokens": tokens, "forward_passes": tokens,
            "prefill_seconds": ans.get("timings", {}).get("prompt_ms", 0) / 1000, "seconds": secs,
            "mode": "llama-server", "verify": "none"}


Path(out).mkdir(parents=True, exist_ok=True)
for f in ("run.json", "plan.json"):
    shutil.copy(Path(src, f), Path(out, f))
t0 = time.perf_counter()
with ThreadPoolExecutor(conc) as ex:
    done = list(ex.map(ask, records))
wall = time.perf_counter() - t0
with open(Path(out, "knowledge.jsonl"), "a", encoding="utf-8") as f:
    for d in done:
        f.write(json.dumps(d) + "\n")
print(f"{wall:.3f}")
