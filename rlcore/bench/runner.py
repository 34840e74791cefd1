"""Run a suite's matrix: resume, local processes (``--jobs N``) or Ray, one results folder.

A results folder holds:

* ``manifest.json``: the suite, profile, settings and the planned runs (in canonical order),
  package versions, and one entry per call (time, backend, jobs, isolation);
* ``results.jsonl`` (or ``results.csv``): the tidy rows (:mod:`rlcore.bench.store`);
* ``run_log.jsonl``: one line per run executed (``{"run_id", "event": "finished", ...}``).

Resuming: runs whose rows are already in the results file are skipped; a rerun with other
settings into the same folder is refused (use another folder). Rows of a run are appended in
one write when the run finishes (only the driver process writes); at the end the file is
rewritten atomically in the manifest's run order, so ``--jobs 1``, ``--jobs N`` and the Ray
backend produce the same rows in the same order (only timing and memory columns differ).
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import importlib.metadata
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.bench.algorithms import get_adapter
from rlcore.bench.protocol import reset_peak_memory
from rlcore.bench.store import (
    ResultsError,
    Row,
    append_rows,
    read_rows,
    rewrite_rows,
    write_json_atomic,
)
from rlcore.bench.suites import RunSpec

MANIFEST = "manifest.json"
RUN_LOG = "run_log.jsonl"
BACKENDS = ("local", "ray")


@dataclass
class RunSummary:
    """What :func:`run_suite` did.

    Attributes:
        out: the results folder.
        results: the results file.
        planned: number of runs in the matrix.
        skipped: runs already finished before this call (resumed).
        executed: run ids executed by this call, in completion order.
        seconds: wall-clock seconds of this call.
    """

    out: Path
    results: Path
    planned: int
    skipped: int
    executed: list[str]
    seconds: float


def run_one(spec: RunSpec) -> list[Row]:
    """Execute one run and return its results rows (one per evaluation point).

    Runs in the calling process (a local worker or a Ray task): seeds everything from
    ``spec.seed``, limits torch to ``spec.threads`` threads, resets the peak-memory counter.
    """
    import torch

    torch.set_num_threads(spec.threads)
    gc.collect()  # free what earlier runs of this process left, before the peak is reset
    reset_peak_memory()
    points = get_adapter(spec.algorithm).run(spec)
    return [
        {
            "suite": spec.suite,
            "run_id": spec.run_id,
            "algorithm": spec.algorithm,
            "env": spec.env.label,
            "n": spec.n,
            "seed": spec.seed,
            "point": i,
            "n_points": len(points),
            "step": p.step,
            "return": p.ret,
            "return_std": p.ret_std,
            "episodes": p.episodes,
            "wall_time": p.wall_time,
            "sec_per_step": p.sec_per_step,
            "peak_mem_mb": p.peak_mem_mb,
            "metrics": dict(p.metrics),
        }
        for i, p in enumerate(points)
    ]


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("rlcore", "stable-baselines3", "gymnasium", "torch", "numpy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _manifest(suite: str, profile: str, runs: Sequence[RunSpec], fmt: str) -> dict[str, Any]:
    manifest = {
        "suite": suite,
        "profile": profile,
        "format": fmt,
        "runs": [r.describe() for r in runs],
    }
    return json.loads(json.dumps(manifest))  # as it reads back from the file


def _check_or_write_manifest(out: Path, manifest: dict[str, Any], call: dict[str, Any]) -> None:
    """Write the manifest, or check that the folder's one describes the same benchmark; then
    record this call (backend, jobs, isolation: they say what the memory column means)."""
    path = out / MANIFEST
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ResultsError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        old_cmp = {k: old.get(k) for k in ("suite", "profile", "format", "runs")}
        if old_cmp != manifest:
            raise ResultsError(
                f"{out} holds results of another benchmark configuration (suite "
                f"{old.get('suite')!r}, profile {old.get('profile')!r}, format {old.get('format')!r}, "
                f"{len(old.get('runs', []))} runs) than the one asked for (suite {manifest['suite']!r}, "
                f"profile {manifest['profile']!r}, format {manifest['format']!r}, "
                f"{len(manifest['runs'])} runs); resume with the same settings or use another --out"
            )
    else:
        old = manifest | {"versions": _versions(), "created": _now()}
    write_json_atomic(path, old | {"calls": [*old.get("calls", []), call]})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def results_path(out: str | Path, fmt: str = "jsonl") -> Path:
    """The results file of a results folder for format ``fmt`` (``jsonl`` or ``csv``)."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"format must be 'jsonl' or 'csv', got {fmt!r}")
    return Path(out) / f"results.{fmt}"


def finished_runs(path: Path) -> dict[str, list[Row]]:
    """Rows of the runs already in ``path`` (validated), by run id; empty if no file."""
    if not path.exists():
        return {}
    done: dict[str, list[Row]] = {}
    for row in read_rows(path):
        done.setdefault(row["run_id"], []).append(row)
    return done


def _log(out: Path, run_id: str, elapsed: float, backend: str) -> None:
    entry = {
        "run_id": run_id,
        "event": "finished",
        "elapsed": round(elapsed, 3),
        "backend": backend,
    }
    line = json.dumps(entry | {"time": _now()})
    with open(out / RUN_LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")


# ------------------------------------------------------------------------------ backends
def _iter_local(
    todo: Sequence[RunSpec], jobs: int, isolate: bool
) -> Iterator[tuple[RunSpec, list[Row]]]:
    if jobs == 1 and not isolate:
        for spec in todo:
            yield spec, run_one(spec)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    per_child = 1 if isolate else None
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx, max_tasks_per_child=per_child) as pool:
        futures = {pool.submit(run_one, spec): spec for spec in todo}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], _result(fut.result, futures[fut])
        finally:
            for fut in futures:
                fut.cancel()


def _result(get: Callable[[], list[Row]], spec: RunSpec) -> list[Row]:
    try:
        return get()
    except Exception as e:
        raise RuntimeError(f"benchmark run {spec.run_id!r} failed: {type(e).__name__}: {e}") from e


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(
            "the Ray backend needs the optional 'ray' extra: pip install 'rlcore[ray]' "
            f"(import ray failed: {e})"
        ) from e
    return ray


def _iter_ray(
    todo: Sequence[RunSpec], jobs: int, address: str | None
) -> Iterator[tuple[RunSpec, list[Row]]]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
    pending: dict[Any, RunSpec] = {}
    try:
        task = ray.remote(num_cpus=1)(run_one)
        pending = {task.remote(spec): spec for spec in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            yield spec, _result(lambda ref=done[0]: ray.get(ref), spec)
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------- main
def run_suite(
    runs: Sequence[RunSpec],
    out: str | Path,
    *,
    suite: str,
    profile: str,
    fmt: str = "jsonl",
    jobs: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    isolate: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Run ``runs`` (from :func:`rlcore.bench.suites.plan`) into the results folder ``out``.

    Args:
        runs: the planned runs, in canonical order.
        out: results folder (created if needed).
        suite, profile: names stored in the manifest.
        fmt: ``"jsonl"`` or ``"csv"``.
        jobs: parallel runs (local worker processes, or Ray CPUs of a local Ray instance).
        backend: ``"local"`` or ``"ray"``.
        ray_address: address of an existing Ray cluster (default: start a local one).
        isolate: local backend: run every run in a fresh worker process, so that its
            ``peak_mem_mb`` is its own (otherwise a process running several runs in a row keeps
            some memory of the earlier ones, and the peak includes it).
        progress: show a tqdm progress bar.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "ray":
        _import_ray()
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = results_path(out, fmt)
    manifest = _manifest(suite, profile, runs, fmt)
    planned = {r.run_id: r for r in runs}
    done = finished_runs(path)
    unknown = sorted(set(done) - set(planned))
    if unknown:
        raise ResultsError(f"{path}: rows of runs that are not in {out / MANIFEST}: {unknown[:5]}")
    todo = [r for r in runs if r.run_id not in done]
    call = {"time": _now(), "backend": backend, "jobs": jobs, "isolate": isolate, "runs": len(todo)}
    _check_or_write_manifest(out, manifest, call)
    executed: list[str] = []

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(runs),
        initial=len(runs) - len(todo),
        desc=f"bench {suite}",
        unit="run",
        disable=not progress,
    )
    stream = (
        _iter_ray(todo, jobs, ray_address) if backend == "ray" else _iter_local(todo, jobs, isolate)
    )
    try:
        for spec, rows in stream:
            append_rows(path, rows)
            _log(out, spec.run_id, time.perf_counter() - t0, backend)
            executed.append(spec.run_id)
            bar.set_postfix_str(spec.run_id, refresh=False)
            bar.update(1)
    finally:
        bar.close()
    # canonical order: the manifest's
    if path.exists():
        rows = read_rows(path)
        order = {rid: i for i, rid in enumerate(planned)}
        rewrite_rows(path, sorted(rows, key=lambda r: (order[r["run_id"]], r["point"])))
    return RunSummary(
        out, path, len(runs), len(runs) - len(todo), executed, time.perf_counter() - t0
    )
