#!/usr/bin/env python3
"""Writes a perplexity corpus of text no model wrote: the paragraphs longer
than 200 characters of the bundled dataset's README, one {"text"} line each.
Usage: bench/readme_corpus.py OUT.jsonl (used by bench/formats.sh)."""
import json
import re
import sys

text = open("data/ml-latest-small/README.txt", encoding="utf-8").read()
paras = [p.strip().replace("\n", " ") for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 200]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for p in paras:
        f.write(json.dumps({"text": p}) + "\n")
