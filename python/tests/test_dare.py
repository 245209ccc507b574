"""The Python package against the dare CLI: the same options, records,
texts and errors. Needs the built CLI (build/tools/dare/dare, or $DARE_BIN)
and the bundled model and dataset (scripts/setup.sh)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dare

ROOT = Path(__file__).resolve().parents[2]
DARE_BIN = os.environ.get("DARE_BIN", str(ROOT / "build" / "tools" / "dare" / "dare"))
PROMPTS = [
    "Introduce movie Toy Story (1995) and describe its attributes.",
    "Introduce movie Heat (1995) and describe its attributes.",
    "Introduce movie Fargo (1996) and describe its attributes.",
]


def cli(*args):
    r = subprocess.run([DARE_BIN, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_version_names_dare_and_llama_cpp():
    assert "dare 0.1.0" in dare.version()
    assert "llama-cpp-python 0.3.36" in dare.version()


def test_plan_has_the_run_defaults_and_groups():
    p = dare.plan(limit=10)
    assert p["settings"]["mode"] == "dare" and p["settings"]["verify"] == "relaxed"
    assert p["settings"]["limit"] == 10
    recs = [r for g in p["groups"] for r in g["records"]]
    assert len(recs) == 10
    assert {r["kind"] for r in recs} == {"item", "user"}
    for g in p["groups"]:
        phases = [r["phase"] for r in g["records"]]
        assert phases == sorted(phases, key=lambda ph: ph != "warmup")  # warm-up first
        assert phases.count("warmup") == g["warmup"]


def test_run_writes_what_the_cli_writes(tmp_path):
    opts = dict(limit=6, max_tokens=12, threads=2, verify="strict")
    summary = dare.run(str(tmp_path / "py"), **opts)
    assert summary["totals"]["records"] == 6
    cli("run", "--out", str(tmp_path / "cli"), "--limit", "6", "--max-tokens", "12", "--threads", "2",
        "--verify", "strict")
    py = {(r["kind"], r["id"]): r["text"] for r in records(tmp_path / "py" / "knowledge.jsonl")}
    want = {(r["kind"], r["id"]): r["text"] for r in records(tmp_path / "cli" / "knowledge.jsonl")}
    assert py == want
    assert json.loads((tmp_path / "py" / "run.json").read_text()) == \
        json.loads((tmp_path / "cli" / "run.json").read_text())


def test_session_generates_the_cli_records(tmp_path):
    prompts_file = tmp_path / "p.jsonl"
    prompts_file.write_text("".join(json.dumps({"id": str(i), "prompt": p}) + "\n" for i, p in enumerate(PROMPTS)))
    for mode, verify in (("vanilla", "strict"), ("pld", "strict"), ("pld", "relaxed")):
        s = dare.Session(mode=mode, verify=verify, max_tokens=24, threads=2)
        got = s.generate(PROMPTS)
        out = tmp_path / f"{mode}-{verify}.jsonl"
        cli("generate", "--prompts", str(prompts_file), "--out", str(out), "--mode", mode, "--verify", verify,
            "--max-tokens", "24", "--threads", "2")
        want = records(out)
        assert [r["id"] for r in got] == ["0", "1", "2"]
        assert [r["text"] for r in got] == [r["text"] for r in want], (mode, verify)
        assert set(got[0]) == set(want[0])  # the same fields, health included


def test_pools_grow_save_and_load(tmp_path):
    s = dare.Session(mode="dare", verify="strict", max_tokens=24, threads=2)
    pool = s.new_pool()
    assert pool.stored_tokens == 0
    first = s.generate(PROMPTS, ids=["a", "b", "c"], pool=pool)
    assert [r["id"] for r in first] == ["a", "b", "c"]
    grown = pool.stored_tokens
    assert grown > 0
    s.save_pool(pool, str(tmp_path / "p.pool"))
    back = s.load_pool(str(tmp_path / "p.pool"))
    assert back.stored_tokens == grown and back.kind == "trie"
    s.add_to_pool(back, PROMPTS[0], first[0]["text"])
    assert back.stored_tokens > grown
    # Strict verification is lossless whatever the pool holds.
    again = s.generate(PROMPTS, pool=back)
    assert [r["text"] for r in again] == [r["text"] for r in first]
    assert sum(r["accepted_tokens"] for r in again) > 0


def test_errors_carry_the_cli_messages(tmp_path):
    with pytest.raises(dare.Error, match="--limit"):
        dare.plan(limit=-1)
    with pytest.raises(dare.Error, match="--no-such-flag"):
        dare.plan(no_such_flag=1)
    with pytest.raises(dare.Error, match="missing.gguf"):
        dare.Session(model=str(tmp_path / "missing.gguf"))
    s = dare.Session(mode="dare", max_tokens=8, threads=2)
    with pytest.raises(dare.Error, match="pool"):
        s.generate(PROMPTS)
    (tmp_path / "bad.pool").write_text("not a pool")
    with pytest.raises(dare.Error, match="not a dare pool file"):
        s.load_pool(str(tmp_path / "bad.pool"))


def test_one_session_from_two_threads_writes_the_texts_of_one_call():
    s = dare.Session(max_tokens=16, threads=2)
    want = [r["text"] for r in s.generate(PROMPTS)]
    got = [None, None]

    def work(k):
        got[k] = [r["text"] for r in s.generate(PROMPTS)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want, want]


def test_ctrl_c_raises_keyboard_interrupt_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "run"
    opts = dict(limit=10, max_tokens=48, threads=2, verify="strict", parallel=1)
    # Python's own Ctrl-C handler, as in an interactive session: a shell
    # that starts this suite in the background has SIGINT ignored, and an
    # ignored signal stays ignored across exec (and in dare's calls).
    script = ("import signal, sys, dare\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "try:\n"
              f"    dare.run(sys.argv[1], **{opts!r})\n"
              "except KeyboardInterrupt:\n"
              "    sys.exit(3)\n")
    p = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    knowledge = out / "knowledge.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        if knowledge.exists() and knowledge.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 3, err  # KeyboardInterrupt reached Python
    kept = records(knowledge)  # whole records only
    assert 2 <= len(kept) < 10
    summary = dare.run(str(out), **opts)
    assert summary["totals"]["records"] == 10
    keys = [(r["kind"], r["id"]) for r in records(knowledge)]
    assert len(keys) == len(set(keys)) == 10
    assert [(r["kind"], r["id"], r["text"]) for r in kept] == \
        [(r["kind"], r["id"], r["text"]) for r in records(knowledge)[:len(kept)]]
