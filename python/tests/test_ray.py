"""python -m dare.ray on a real two-node Ray cluster on loopback addresses
(local_cluster.py: one CPU per node, stopped at the end even on failure): the texts of
`dare run` in strict mode, a worker killed mid-run, a driver killed and the
rerun, records that cannot fit, and --reuse-from."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_cluster import ENV, local_cluster
from test_dare import cli, records

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--max-tokens", "16", "--verify", "strict"]


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as address:
        yield address


def ray_run(address, out, *args, **kw):
    """Starts the driver; returns the process (stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "dare.ray", "run", "--address", address, "--out", str(out),
                             "--workers", "2", "--shard-size", "4", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finish(p, timeout=900):
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err


def texts(path):
    return {(r["kind"], r["id"]): r["text"] for r in records(path)}


def processes():
    """(pid, command line) of every process (Ray names its actor processes ray::CLASS)."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            out.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except (ValueError, OSError):
            pass
    return out


def wait_for_lines(path, n, p, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        if path.exists() and path.read_text().count("\n") >= n:
            return True
        time.sleep(0.1)
    return False


def test_two_nodes_write_the_texts_and_folder_of_dare_run(cluster, tmp_path):
    ray_args = ["--limit", "40", *COMMON]
    rc, err = finish(ray_run(cluster, tmp_path / "ray", *ray_args))
    assert rc == 0, err
    cli("run", "--out", str(tmp_path / "cli"), "--threads", "2", *ray_args)
    got, want = texts(tmp_path / "ray" / "knowledge.jsonl"), texts(tmp_path / "cli" / "knowledge.jsonl")
    assert len(want) == 40 and {k for k, _ in want} == {"item", "user"}
    assert got == want
    keys = [(r["kind"], r["id"]) for r in records(tmp_path / "ray" / "knowledge.jsonl")]
    assert len(keys) == len(set(keys))
    for name in ("run.json", "plan.json"):
        ray_file = json.loads((tmp_path / "ray" / name).read_text())
        cli_file = json.loads((tmp_path / "cli" / name).read_text())
        assert ray_file == cli_file, name
    ray_pools = sorted(p.name for p in (tmp_path / "ray" / "pools").iterdir())
    assert ray_pools == sorted(p.name for p in (tmp_path / "cli" / "pools").iterdir())
    for m in (tmp_path / "ray" / "pools").glob("*.json"):  # the manifests count the same records
        assert json.loads(m.read_text()) == json.loads((tmp_path / "cli" / "pools" / m.name).read_text())
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["totals"]["records"] == 40
    assert "group" in cli("report", str(tmp_path / "ray")).stdout


def test_a_killed_worker_is_replaced_and_every_record_written_once(cluster, tmp_path):
    out = tmp_path / "run"
    p = ray_run(cluster, out, "--limit", "24", *COMMON)
    assert wait_for_lines(out / "knowledge.jsonl", 4, p), "no records before the kill"
    workers = [pid for pid, cmd in processes() if cmd.startswith("ray::Worker")]
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    rc, err = finish(p)
    assert rc == 0, err
    keys = [(r["kind"], r["id"]) for r in records(out / "knowledge.jsonl")]
    assert len(keys) == len(set(keys)) == 24
    cli("run", "--out", str(tmp_path / "cli"), "--threads", "2", "--limit", "24", *COMMON)
    assert texts(out / "knowledge.jsonl") == texts(tmp_path / "cli" / "knowledge.jsonl")


def test_a_killed_driver_resumes_with_the_same_command(cluster, tmp_path):
    out = tmp_path / "run"
    args = ["--limit", "24", *COMMON]
    p = ray_run(cluster, out, *args)
    assert wait_for_lines(out / "knowledge.jsonl", 4, p), "no records before the kill"
    p.kill()
    p.wait()
    kept = records(out / "knowledge.jsonl")
    assert 4 <= len(kept) < 24
    rc, err = finish(ray_run(cluster, out, *args))
    assert rc == 0, err
    assert "resuming" in err
    final = records(out / "knowledge.jsonl")
    keys = [(r["kind"], r["id"]) for r in final]
    assert len(keys) == len(set(keys)) == 24
    assert [(r["kind"], r["id"], r["text"]) for r in final[:len(kept)]] == \
        [(r["kind"], r["id"], r["text"]) for r in kept]


def test_records_that_cannot_fit_go_to_errors_jsonl(cluster, tmp_path):
    out = tmp_path / "run"
    rc, err = finish(ray_run(cluster, out, "--limit", "8", "--ctx", "200", "--max-tokens", "8", "--verify", "strict"))
    assert rc == 0, err
    errors = records(out / "errors.jsonl")
    done = records(out / "knowledge.jsonl")
    assert errors and all(e["kind"] == "user" and "raise --ctx" in e["error"] for e in errors)
    assert len(errors) + len(done) == 8
    assert json.loads((out / "summary.json").read_text())["errors"] == len(errors)


def test_reuse_generates_only_changed_users(cluster, tmp_path):
    common = ["--target", "users", "--limit", "12", "--warmup-fraction", "0", *COMMON]
    rc, err = finish(ray_run(cluster, tmp_path / "old", *common))
    assert rc == 0, err
    users = sorted(r["id"] for r in records(tmp_path / "old" / "knowledge.jsonl"))
    changed = set(users[:5])
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "ml-latest-small", data)
    lines = (data / "ratings.csv").read_text().splitlines()
    out_lines = []
    for line in lines:  # userId,movieId,rating,timestamp: another rating for the changed users
        f = line.split(",")
        if f[0] in changed:
            f[2] = "1.0" if f[2] == "0.5" else "0.5"
        out_lines.append(",".join(f))
    (data / "ratings.csv").write_text("\n".join(out_lines) + "\n")
    rc, err = finish(ray_run(cluster, tmp_path / "new", *common, "--dataset", str(data),
                             "--reuse-from", str(tmp_path / "old")))
    assert rc == 0, err
    recs = records(tmp_path / "new" / "knowledge.jsonl")
    assert len(recs) == 12
    assert {r["id"] for r in recs if not r.get("reused")} == changed
    assert json.loads((tmp_path / "new" / "summary.json").read_text())["totals"]["reused"] == 7
