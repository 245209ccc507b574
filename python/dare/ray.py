"""The ``dare run`` job on a Ray cluster.

``python -m dare.ray run --address HOST:PORT --out RUNDIR [--workers N]
[--threads-per-worker T] [--gpus-per-worker G] [--shard-size S]`` followed
by any ``dare run`` option (``--dataset``, ``--target``, ``--limit``,
``--mode``, ``--verify``, ``--reuse-from``, ...), or :func:`run` from Python.

The driver is the one writer: it plans the run exactly as ``dare run`` does,
owns the run folder (its lock, run.json, plan.json, errors.jsonl,
knowledge.jsonl, pools/, summary.json, in ``dare run``'s format, so ``dare
report``, ``dare encode`` and ``dare eval`` work on it) and appends each
shard's records when the shard returns. The work goes to N Ray actors, each
keeping the model loaded. A shard is up to S records of one group: a
group's warm-up records form one shard that starts from the group's seed
pool; its main records are split into shards that each start from the
group's pool after the warm-up, so shards run in parallel.

Faults: a worker process that dies is restarted by Ray and its shard run
again, up to SHARD_RETRIES times (its records are written only when the
shard returns, so none is lost or written twice); a killed driver loses only the shards in flight, and the
same command resumes; a record whose prompt cannot fit goes to errors.jsonl
and the job goes on. Every node needs the dataset (and any --pool-from or
--reuse-from folder) at the same path; only the driver writes files.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import ray

from . import _dare, _flags

__all__ = ["run", "main"]


# A worker process that dies is restarted (and reloads the model); a shard
# whose worker died is run again, up to this many times, then the job stops
# with the records of every finished shard written.
SHARD_RETRIES = 3


@ray.remote(max_restarts=-1, max_task_retries=SHARD_RETRIES)
class Worker:
    """One model, loaded once, generating shards of the plan."""

    def __init__(self, args: List[str]) -> None:
        self._w = _dare.RunWorker(args)
        self._base: Dict[Any, bytes] = {}  # group pools built from done records, by (kind, group, records)

    def prompt_errors(self) -> str:
        return self._w.prompt_errors()

    def group_pool(self, kind: str, group: str, done: str) -> bytes:
        return self._w.group_pool(kind, group, done)

    def generate(self, keys: List[str], pool: Optional[bytes], kind: str, group: str, done: Optional[str],
                 want_pool: bool):
        """Generates `keys` from `pool`, or, when it is None, from the group's
        pool built from its seeds and `done` (its records so far; built once
        per worker). Returns (records, the grown pool if `want_pool`)."""
        if pool is None:
            key = (kind, group, len(done or ""))
            if key not in self._base:
                self._base[key] = self._w.group_pool(kind, group, done or "[]")
            pool = self._base[key]
        return self._w.generate(keys, pool, want_pool)


class _Shard:
    def __init__(self, group: Dict[str, Any], keys: List[str], pool, done, warm: bool) -> None:
        self.group, self.keys, self.pool, self.done, self.warm = group, keys, pool, done, warm


def _log(msg: str) -> None:
    print("dare.ray: " + msg, file=sys.stderr, flush=True)


def run(out: str, address: Optional[str] = None, workers: int = 2, threads_per_worker: int = 1,
        gpus_per_worker: float = 0, shard_size: int = 32, **options: Any) -> Dict[str, Any]:
    """Runs (or resumes) the ``dare run`` job with these options (keyword
    arguments as in :func:`dare.run`) on the Ray cluster at ``address``
    (the one this process is connected to, or a new local one, when None)
    and returns its summary (summary.json)."""
    return _run(out, _flags(options), address, workers, threads_per_worker, gpus_per_worker, shard_size)


def _run(out: str, run_flags: List[str], address: Optional[str], workers: int, threads_per_worker: int,
         gpus_per_worker: float, shard_size: int) -> Dict[str, Any]:
    if workers < 1 or threads_per_worker < 1 or shard_size < 1 or gpus_per_worker < 0:
        raise _dare.Error("--workers, --threads-per-worker and --shard-size must be at least 1, "
                          "--gpus-per-worker at least 0")
    if any(f == "--threads" or f.startswith("--threads=") for f in run_flags):
        raise _dare.Error("--threads: use --threads-per-worker (threads of each Ray worker)")
    args = list(run_flags) + ["--out=" + out, "--threads=" + str(threads_per_worker)]
    folder = _dare.RunFolder(args)  # plans the run, takes the folder's lock, checks its settings
    actors: List[Any] = []
    try:
        if address is not None and not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)
        actors = [Worker.options(num_cpus=threads_per_worker, num_gpus=gpus_per_worker).remote(args)
                  for _ in range(workers)]
        # Once a worker has loaded the model: run.json, plan.json, errors.jsonl.
        folder.begin(ray.get(actors[0].prompt_errors.remote()))
        summary = _generate(out, folder, actors, shard_size)
    finally:
        for a in actors:
            ray.kill(a)
        folder.close()  # the folder's lock
    print(_dare.report_table(summary), end="", file=sys.stderr)
    return json.loads(summary)


def _generate(out: str, folder, actors: List[Any], shard_size: int) -> str:
    reused = folder.reuse()
    groups = json.loads(folder.groups())
    done = json.loads(folder.done_by_group())
    total = sum(len(g["records"]) for g in groups)
    already = sum(1 for g in groups for r in g["records"] if folder.contains(r["key"]))
    if already > reused:
        _log(f"{out}: resuming, {already - reused} of {total} records already done")

    # Shards: every group's warm-up first; its main shards once the warm-up is done.
    queue: collections.deque = collections.deque()
    mains: List[_Shard] = []
    after_warmup: Dict[str, List[List[str]]] = {}
    for g in groups:
        gkey = g["kind"] + "/" + g["group"]
        warm = [r["key"] for r in g["records"] if r["phase"] == "warmup" and not folder.contains(r["key"])]
        main = [r["key"] for r in g["records"] if r["phase"] != "warmup" and not folder.contains(r["key"])]
        if not warm and not main:
            continue
        done_ref = ray.put(json.dumps(done.get(gkey, [])))
        chunks = [main[i:i + shard_size] for i in range(0, len(main), shard_size)]
        if warm:
            queue.append(_Shard(g, warm, None, done_ref, True))
            after_warmup[gkey] = chunks
        else:
            mains.extend(_Shard(g, c, None, done_ref, False) for c in chunks)
    queue.extend(mains)

    todo = sum(len(s.keys) for s in queue) + sum(len(c) for cs in after_warmup.values() for c in cs)
    start, written = time.monotonic(), 0
    idle = list(actors)
    inflight: Dict[Any, Any] = {}
    while queue or inflight:
        while queue and idle:
            actor, sh = idle.pop(), queue.popleft()
            ref = actor.generate.remote(sh.keys, sh.pool, sh.group["kind"], sh.group["group"], sh.done, sh.warm)
            inflight[ref] = (actor, sh)
        ready, _ = ray.wait(list(inflight), num_returns=1)
        actor, sh = inflight.pop(ready[0])
        idle.append(actor)
        try:
            records, pool = ray.get(ready[0])
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:
            raise _dare.Error(f"shard {sh.keys[0]} .. {sh.keys[-1]} failed (a shard whose worker dies runs again, "
                              f"{SHARD_RETRIES} times at most; the records of finished shards are saved, rerun "
                              f"to resume): {e}") from e
        written += folder.append(records)
        if sh.warm:
            gkey = sh.group["kind"] + "/" + sh.group["group"]
            base = ray.put(pool)
            queue.extend(_Shard(sh.group, c, base, None, False) for c in after_warmup.pop(gkey))
        secs = time.monotonic() - start
        rate = written / secs if secs > 0 else 0.0
        eta = (todo - written) / rate if rate > 0 else 0.0
        _log(f"{already + written}/{total} records, {3600 * rate:.0f} records/h, ETA {eta:.0f} s")

    # Each group's pool with all its records, as dare run leaves it (also
    # those a stopped earlier driver did not get to save).
    done = json.loads(folder.done_by_group())
    refs = []
    for g in groups:
        recs = done.get(g["kind"] + "/" + g["group"], [])
        if recs and folder.saved_pool_records(g["kind"], g["group"]) != len(recs):
            actor = actors[len(refs) % len(actors)]
            refs.append((g, len(recs), actor.group_pool.remote(g["kind"], g["group"], json.dumps(recs))))
    for g, n, ref in refs:
        pool = ray.get(ref)
        if pool:  # modes that draft from no pool have none
            folder.save_pool(g["kind"], g["group"], pool, n)
    return folder.finish()


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m dare.ray", allow_abbrev=False,
        description="dare run on a Ray cluster. Options not listed here are dare run's (dare run --help); "
                    "--threads-per-worker takes the place of --threads.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", allow_abbrev=False, help="Knowledge for a dataset's items and/or users (resumable: rerun the same command)")
    r.add_argument("--address", required=True, help="Ray cluster address (HOST:PORT of the head), or auto")
    r.add_argument("--out", required=True, help="Run folder, written by this driver only")
    r.add_argument("--workers", type=int, default=2, help="Ray actors, each with the model loaded [2]")
    r.add_argument("--threads-per-worker", type=int, default=1, help="CPU threads (and Ray CPUs) per actor [1]")
    r.add_argument("--gpus-per-worker", type=float, default=0, help="GPUs per actor (a CUDA build) [0]")
    r.add_argument("--shard-size", type=int, default=32, help="Records per shard, at most [32]")
    opts, rest = p.parse_known_args(argv)
    try:
        _run(opts.out, rest, opts.address, opts.workers, opts.threads_per_worker, opts.gpus_per_worker,
             opts.shard_size)
    except _dare.Error as e:
        print(f"dare.ray: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndare.ray: interrupted: finished records are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    from dare.ray import main as _main  # the importable module, so that workers find Worker

    sys.exit(_main())
