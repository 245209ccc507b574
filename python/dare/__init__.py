"""dare: fast LLM knowledge generation for recommender systems.

The C++ engine (retrieval-based speculative decoding on llama.cpp) for
Python. Options are the command line's, as keyword arguments with
underscores: ``plan(limit=10, target="items")`` is ``dare run --limit 10
--target items``; the defaults, checks and error messages are the CLI's
(``dare run --help`` lists them all). Results are the dictionaries the CLI
writes as JSON.

- :func:`plan`: what ``dare run`` will generate (records, groups, warm-up
  split, prompts), without a model.
- :func:`run`: the whole ``dare run`` job into a run folder (resumable).
- :class:`Session`: one model loaded once, to generate for lists of prompts
  with any mode and verification option, drafting from :class:`Pool`\\ s.

Failures the user can cause raise :class:`Error` with the CLI's message.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

from . import _dare

__all__ = ["Error", "Pool", "Session", "plan", "run", "version"]

Error = _dare.Error
Pool = _dare.Pool


def _flags(options: Dict[str, Any]) -> List[str]:
    """Keyword arguments as command-line flags: max_tokens=8 -> --max-tokens=8."""
    out = []
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append("--" + key.replace("_", "-") + "=" + str(value))
    return out


def version() -> str:
    """dare's version, the llama.cpp it was built with, backends and CPU features."""
    return _dare.version()


def plan(**options: Any) -> Dict[str, Any]:
    """What ``dare run`` with these options generates, without loading a model
    or writing anything: ``{"settings", "dataset", "groups"}``, each group
    ``{"kind", "group", "dataset_size", "warmup", "records"}`` and each record
    ``{"kind", "id", "group", "phase", "prompt"}`` (warm-up records first)."""
    return json.loads(_dare.plan(_flags(options)))


def run(out: str, **options: Any) -> Dict[str, Any]:
    """Runs (or resumes) ``dare run --out OUT`` with these options and returns
    its summary (summary.json). The run folder is the CLI's, so ``dare report``,
    ``dare encode`` and ``dare eval`` work on it."""
    return json.loads(_dare.run(_flags(dict(options, out=out))))


class Session:
    """One model with one decoding setup, loaded once.

    Takes the decoding options of ``dare generate`` (model, mode, verify,
    max_tokens, top_k, min_prob, draft_nodes, repetition_control, threads,
    ctx, chat_template, ...); the defaults are the CLI's (plain decoding with
    the default repetition rules)."""

    def __init__(self, **options: Any) -> None:
        self._s = _dare.Session(_flags(options))

    def generate(self, prompts: Sequence[str], ids: Optional[Sequence[str]] = None,
                 pool: Optional[Pool] = None) -> List[Dict[str, Any]]:
        """One record per prompt, as ``dare generate`` writes them (id, prompt,
        text, tokens, forward_passes, tau, seconds, ..., health), in prompt
        order. ``ids`` default to the positions. With mode="dare" the records
        draft from ``pool``, which grows with every prompt and kept text."""
        ids = [str(i) for i in ids] if ids is not None else []
        return json.loads(self._s.generate(list(prompts), ids, pool))

    def new_pool(self, kind: str = "trie") -> Pool:
        """An empty pool: ``trie`` (DARE's n-gram trie) or ``suffix``."""
        return self._s.new_pool(kind)

    def load_pool(self, path: str) -> Pool:
        """A pool file (dare pool build, a run's pools/), checked against this
        model's vocabulary."""
        return self._s.load_pool(path)

    def save_pool(self, pool: Pool, path: str) -> None:
        """Writes ``pool`` to ``path`` (atomically), for this model's vocabulary."""
        self._s.save_pool(pool, path)

    def add_to_pool(self, pool: Pool, prompt: str, text: str) -> None:
        """Adds earlier knowledge (its prompt and text) to ``pool``."""
        self._s.add_to_pool(pool, prompt, text)

    def prompt_tokens(self, prompt: str) -> List[int]:
        """The tokens the model sees for ``prompt`` (chat template applied)."""
        return self._s.prompt_tokens(prompt)
