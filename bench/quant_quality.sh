#!/usr/bin/env bash
# What requantizing the bundled Q4_1 model to Q4_0 costs in likelihood:
# perplexity of both on (a) neutral English text (the paragraphs of the
# bundled dataset's README, longer than 200 characters) and (b) knowledge
# texts written by the Q4_1 model (out/bench/warm_knowledge.jsonl from
# bench/items.sh, if present; biased toward Q4_1, which wrote them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
DARE=./"${DARE_BUILD_DIR:-build}"/tools/dare/dare
C="${DARE_CACHE:-$HOME/.cache/dare}/models"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
python3 bench/readme_corpus.py "$TMP/readme.jsonl"
for Q in Q4_1 Q4_0; do
  echo "README paragraphs: $("$DARE" eval perplexity --model "$C/SmolLM2-135M-Instruct.$Q.gguf" --corpus "$TMP/readme.jsonl" --threads 2)"
  if [ -f out/bench/warm_knowledge.jsonl ]; then
    grep '"prompt"' out/bench/warm_knowledge.jsonl > "$TMP/knowledge.jsonl" || true
    echo "Q4_1 knowledge:    $("$DARE" eval perplexity --model "$C/SmolLM2-135M-Instruct.$Q.gguf" --corpus "$TMP/knowledge.jsonl" --threads 2)"
  fi
done
