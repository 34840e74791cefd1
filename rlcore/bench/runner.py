"""Run a suite's matrix: resume, local processes (``--jobs N``) or Ray, one results folder.

A results folder holds:

* ``manifest.json``: the suite, profile, settings and the planned runs (in canonical order),
  package versions, and one entry per call (time, backend, jobs, isolation; for Ray the kind of
  address, the cluster's resources, whether the package was shipped and which user modules);
* ``results.jsonl`` (or ``results.csv``): the tidy rows (:mod:`rlcore.bench.store`);
* ``run_log.jsonl``: one line per run executed (``{"run_id", "event": "finished", ...}``) and
  per recovery of a cut write;
* ``.rlcore-bench.lock``: the folder's lock (:mod:`rlcore.bench.lock`).

Resuming: runs whose rows are already in the results file are skipped; a rerun with other
settings into the same folder is refused, naming the settings that differ. Only one call
writes into a folder at a time: a second one is refused at once, naming the holder (pid, host).
Rows of a run are appended in one write when the run finishes (only the driver process
writes); what a crash cut in the middle of a write is removed when the next call starts. At
the end the file is rewritten atomically in the manifest's run order, so ``--jobs 1``,
``--jobs N`` and the Ray backend produce the same rows in the same order (only timing and
memory columns differ).

Interrupts: Ctrl-C (SIGINT) or SIGTERM stops the call cleanly: local workers are terminated
(they also end by themselves if the driver is killed), Ray tasks are cancelled, the lock is
released, and the folder resumes with the same command.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.bench.algorithms import Adapter, get_adapter
from rlcore.bench.lock import FolderLock
from rlcore.bench.protocol import reset_peak_memory
from rlcore.bench.spec import RunSpec
from rlcore.bench.store import (
    ResultsError,
    Row,
    append_rows,
    prepare_folder,
    read_rows,
    recover_tail,
    rewrite_rows,
    write_json_atomic,
)
from rlcore.common.processes import end_with_parent

MANIFEST = "manifest.json"
RUN_LOG = "run_log.jsonl"
BACKENDS = ("local", "ray")
RAY_CONNECT_TIMEOUT = 30.0
"""Default seconds to wait for a Ray cluster's address to answer before giving up."""


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
        recovered: what was removed from the end of the results file (a cut write), if anything.
    """

    out: Path
    results: Path
    planned: int
    skipped: int
    executed: list[str]
    seconds: float
    recovered: str | None = None


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


# ------------------------------------------------------------------------- version check
class VersionMismatchError(RuntimeError):
    """A worker runs another ``rlcore`` than the driver (or none); the message names the node."""


def _node_name() -> str:
    host = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            return f"{host} ({ray.util.get_node_ip_address()})"
    except Exception:  # noqa: BLE001 - only a better name; never fail here
        pass
    return host


def check_worker_version(expected: str) -> None:
    """Raise :class:`VersionMismatchError` unless this process imports ``rlcore`` ``expected``.

    Called by every Ray task before its run, with the driver's version.
    """
    try:
        import rlcore
    except ImportError as e:
        raise VersionMismatchError(
            f"node {_node_name()} cannot import rlcore ({e}); the driver runs rlcore {expected}: "
            "ship the package (the default of --backend ray with a cluster address) or "
            "install it on every node"
        ) from None
    version = getattr(rlcore, "__version__", "unknown")
    if version != expected:
        raise VersionMismatchError(
            f"node {_node_name()} runs rlcore {version} (from {Path(rlcore.__file__).parent}) but "
            f"the driver runs rlcore {expected}: ship the package (do not pass --no-ship) or "
            "install the same version on every node"
        )


def register_missing(adapter: Adapter | None = None, env_spec: Any = None) -> None:
    """Register in this process the driver's algorithm ``adapter`` and Gymnasium ``env_spec``
    (a ``gymnasium.envs.registration.EnvSpec``) when they are not registered yet.

    A Ray worker imports ``rlcore`` but not the driver script: algorithms and envs the user
    registered there (with entry points into shipped modules) are known to the worker only
    this way. What the worker already has is kept.
    """
    from rlcore.bench.algorithms import REGISTRY

    if adapter is not None and adapter.name not in REGISTRY:
        REGISTRY[adapter.name] = adapter
    if env_spec is not None:
        import gymnasium

        import rlcore.envs  # noqa: F401  (the rlcore/... ids first: never replaced)

        gymnasium.registry.setdefault(env_spec.id, env_spec)


def _ray_task(
    spec: RunSpec, driver_version: str, adapter: Adapter | None = None, env_spec: Any = None
) -> list[Row]:
    """Body of a Ray task: the version check, the driver's registrations
    (:func:`register_missing`), then :func:`run_one`."""
    check_worker_version(driver_version)
    register_missing(adapter, env_spec)
    return run_one(spec)


# ---------------------------------------------------------------------------- manifest
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


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: obj}


def manifest_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings in which two manifests differ, one readable line each.

    Compares suite, profile, format, the planned runs (by run id) and, for runs in both, every
    field of their specification (budget, evaluation steps, hyper-parameters, env arguments...).
    """
    lines = []
    for key in ("suite", "profile", "format"):
        if old.get(key) != new.get(key):
            lines.append(f"{key}: {old.get(key)!r} in the folder, {new.get(key)!r} asked")
    old_runs = {r.get("run_id"): r for r in old.get("runs", [])}
    new_runs = {r.get("run_id"): r for r in new.get("runs", [])}
    only_old = [r for r in old_runs if r not in new_runs]
    only_new = [r for r in new_runs if r not in old_runs]
    if only_old:
        lines.append(f"{len(only_old)} run(s) only in the folder, e.g. {only_old[:3]}")
    if only_new:
        lines.append(f"{len(only_new)} run(s) only asked for, e.g. {only_new[:3]}")
    fields: dict[str, tuple[Any, Any, int]] = {}
    for rid in old_runs.keys() & new_runs.keys():
        a, b = _flat(old_runs[rid]), _flat(new_runs[rid])
        for k in sorted(a.keys() | b.keys()):
            if a.get(k) != b.get(k):
                first = fields.get(k, (a.get(k), b.get(k), 0))
                fields[k] = (first[0], first[1], first[2] + 1)
    for k, (a, b, count) in sorted(fields.items()):
        lines.append(f"{k}: {a!r} in the folder, {b!r} asked ({count} run(s))")
    if not lines and old != new:
        lines.append("the run order differs")
    return lines


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


def _check_same(
    out: Path, old: dict[str, Any] | None, manifest: dict[str, Any], extend: bool = False
) -> dict[str, Any]:
    """The folder's manifest for this call (without ``versions`` / ``calls``).

    Without ``extend`` the folder must hold exactly the asked runs. With ``extend`` it may hold
    others: the asked runs it already plans must be specified identically (same suite, profile,
    format and, per run id, every field), and the asked runs it lacks are added after its own.
    """
    if old is None:
        return manifest
    old_cmp = {k: old.get(k) for k in ("suite", "profile", "format", "runs")}
    if old_cmp == manifest:
        return manifest
    diff = manifest_differences(old_cmp, manifest)
    if extend:
        diff = [line for line in diff if " run(s) only " not in line]
        if not diff:
            known = {r["run_id"] for r in old_cmp["runs"]}
            added = [r for r in manifest["runs"] if r["run_id"] not in known]
            return old_cmp | {"runs": [*old_cmp["runs"], *added]}
    raise ResultsError(
        f"{out} holds results of another benchmark configuration; settings that differ:\n  "
        + "\n  ".join(diff)
        + "\nresume with the same settings, use --extend to add runs of the same suite and "
        "profile, or use another --out"
    )


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


def _log(out: Path, entry: dict[str, Any]) -> None:
    """Append one line to the run log (a cut earlier line is closed first)."""
    path = out / RUN_LOG
    line = json.dumps(entry | {"time": _now()}) + "\n"
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))


# ------------------------------------------------------------------------------ signals
@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (as Ctrl-C does), so that the
    cleanup of the backends runs; only in the main thread, where signals are delivered."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------------------ backends
def _result(get: Callable[[], list[Row]], spec: RunSpec) -> list[Row]:
    try:
        return get()
    except Exception as e:
        cause = getattr(e, "cause", None)  # Ray wraps the task's exception
        if isinstance(cause, BaseException):
            e = cause  # type: ignore[assignment]
        raise RuntimeError(f"benchmark run {spec.run_id!r} failed: {type(e).__name__}: {e}") from e


class LocalBackend:
    """Runs in this process (``jobs=1``) or in ``jobs`` spawned worker processes."""

    name = "local"

    def __init__(self, jobs: int, isolate: bool) -> None:
        self.jobs, self.isolate = jobs, isolate
        self._pool: cf.ProcessPoolExecutor | None = None

    def info(self) -> dict[str, Any]:
        return {"backend": "local", "jobs": self.jobs, "isolate": self.isolate}

    def start(self) -> None:
        pass

    def results(self, todo: Sequence[RunSpec]) -> Iterator[tuple[RunSpec, list[Row]]]:
        if self.jobs == 1 and not self.isolate:
            for spec in todo:
                yield spec, run_one(spec)
            return
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
        self._pool = cf.ProcessPoolExecutor(
            self.jobs,
            mp_context=ctx,
            max_tasks_per_child=1 if self.isolate else None,
            initializer=end_with_parent,
            initargs=(os.getpid(),),
        )
        futures = {self._pool.submit(run_one, spec): spec for spec in todo}
        for fut in cf.as_completed(futures):
            yield futures[fut], _result(fut.result, futures[fut])

    def close(self, failed: bool) -> None:
        """Shut the pool down; on failure or interrupt terminate the workers at once."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not failed:
            pool.shutdown(wait=True)
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
                    p.join(timeout=5)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(
            "the Ray backend needs the optional 'ray' extra: pip install 'rlcore[ray]' "
            f"(import ray failed: {e})"
        ) from e
    return ray


def ray_address_kind(address: str | None) -> str:
    """``"local"`` (start a local instance), ``"auto"``, ``"client"`` (``ray://``) or ``"gcs"``
    (``host:port`` of a cluster's head)."""
    if not address or address == "local":
        return "local"
    if address == "auto":
        return "auto"
    if address.startswith("ray://"):
        return "client"
    return "gcs"


def _host_port(address: str) -> tuple[str, int]:
    kind = ray_address_kind(address)
    rest = address.removeprefix("ray://").split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, "10001" if kind == "client" else "6379"
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"Ray address {address!r}: port {port!r} is not a number") from None


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def check_reachable(address: str, timeout: float) -> None:
    """Raise a ConnectionError naming ``address`` unless a TCP connection to its host and port
    opens within ``timeout`` seconds (Ray itself would retry for minutes)."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise ConnectionError(
            f"cannot reach the Ray cluster at {address!r} ({host}:{port}: {reason} within "
            f"{timeout:g} s); check the address (`ray status` on the head node prints it), or "
            "raise --ray-timeout"
        ) from None


_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _pin_ray_to_loopback(ray: Any) -> Callable[[], None]:
    """Make this process and the Ray processes it starts use 127.0.0.1 as the node address
    (Ray otherwise replaces a loopback address by the machine's network address).

    Returns:
        A function that restores the previous settings (called when the backend closes).
    """
    old_env = os.environ.get(_CLUSTER_ENV)
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    old_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_CLUSTER_ENV] = "0"
    if constants is not None and old_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False

    def restore() -> None:
        if old_env is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = old_env
        if constants is not None and old_flag is not None:
            constants.ENABLE_RAY_CLUSTER = old_flag

    return restore


def _package_dir() -> Path:
    """A copy of the importable ``rlcore`` package (with ``rlcore.envs``, which may live in
    another folder) in a temporary folder, ready for Ray's ``py_modules``."""
    import rlcore
    import rlcore.envs

    root = Path(tempfile.mkdtemp(prefix="rlcore-ship-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so.tmp")
    src = Path(rlcore.__file__).parent
    dst = root / "rlcore"
    shutil.copytree(src, dst, ignore=ignore)
    envs = Path(rlcore.envs.__file__).parent
    if not (dst / "envs" / "__init__.py").exists():
        shutil.copytree(envs, dst / "envs", ignore=ignore, dirs_exist_ok=True)
    return dst


def _entry_module(entry: object) -> str | None:
    """The module an entry point names: ``"pkg.mod:attr"`` -> ``"pkg.mod"``; a callable's
    ``__module__``; None for anything else."""
    if isinstance(entry, str):
        return entry.partition(":")[0].strip() or None
    module = getattr(entry, "__module__", None) if callable(entry) else None
    return module if isinstance(module, str) else None


def _entry_points(runs: Sequence[RunSpec]) -> dict[str, str]:
    """Top-level module -> what needs it (``"algorithm 'X' (mypkg.algos:X)"``), for the
    algorithms' entry strings and the envs' Gymnasium entry points of ``runs``."""
    import gymnasium

    import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)

    needs: dict[str, str] = {}

    def add(module: str | None, what: str) -> None:
        if module:
            needs.setdefault(module.split(".")[0], what)

    for name in dict.fromkeys(spec.algorithm for spec in runs):
        target = get_adapter(name).target
        add(_entry_module(target), f"algorithm {name!r} ({target})")
    for env_id in dict.fromkeys(spec.env.env_id for spec in runs):
        if ":" in env_id:  # "module:Env-v0": Gymnasium imports the module first
            add(env_id.partition(":")[0], f"env {env_id!r}")
        entry = gymnasium.spec(env_id).entry_point
        add(_entry_module(entry), f"env {env_id!r} (entry point {entry!r})")
    return needs


def _is_installed_or_stdlib(name: str, path: Path) -> bool:
    if name in sys.builtin_module_names or name in sys.stdlib_module_names:
        return True
    if {"site-packages", "dist-packages"} & set(path.parts):
        return True
    paths = sysconfig.get_paths()
    stdlib = {Path(paths[k]).resolve() for k in ("stdlib", "platstdlib") if k in paths}
    return any(path.is_relative_to(p) for p in stdlib)


def user_modules(runs: Sequence[RunSpec]) -> dict[str, Path]:
    """The user's own modules that ``runs`` import, to ship to Ray workers (``py_modules``).

    Collects the top-level module of every run's algorithm entry string (the
    :class:`~rlcore.bench.algorithms.Adapter`'s ``target``) and of its env's Gymnasium entry
    point (``gymnasium.spec(env_id).entry_point``, a ``"module:attr"`` string or a callable),
    and keeps those that are local code: not ``rlcore`` (shipped on its own), not the standard
    library, not installed in a ``site-packages`` / ``dist-packages`` folder.

    Returns:
        Top-level module name -> its package folder or single ``.py`` file, in name order.

    Raises:
        ModuleNotFoundError: a module cannot be found on the driver, or lives in the driver
            script (``__main__``), which workers cannot import; the message names the
            algorithm or env that needs it.
        ValueError: a namespace package spread over several folders (Ray ships one folder).
    """
    found: dict[str, Path] = {}
    for name, what in sorted(_entry_points(runs).items()):
        if name == "rlcore":
            continue
        if name == "__main__":
            raise ModuleNotFoundError(
                f"{what} is defined in the driver script (__main__), which Ray workers cannot "
                "import: move it into a module (a .py file or package next to the script)",
                name=name,
            )
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError) as e:
            spec, error = None, f" ({type(e).__name__}: {e})"
        else:
            error = ""
        if spec is None:
            raise ModuleNotFoundError(
                f"{what} needs the module {name!r}, which cannot be found on the driver"
                f"{error}; install it or put it on sys.path (PYTHONPATH) so that it can be "
                "shipped to the Ray workers",
                name=name,
            )
        locations = list(spec.submodule_search_locations or [])
        if len(locations) > 1:
            raise ValueError(
                f"{what} needs the namespace package {name!r}, spread over {locations}; Ray "
                "ships one folder per module: install it on every node and pass --no-ship, "
                "or merge it into one folder"
            )
        if locations:
            path = Path(locations[0]).resolve()
        elif spec.origin and spec.has_location:
            path = Path(spec.origin).resolve()
        else:  # built-in or frozen
            continue
        if path.is_file() and path.suffix != ".py":  # a compiled extension or .pyc
            if _is_installed_or_stdlib(name, path):
                continue
            raise ValueError(
                f"{what} needs the module {name!r} from {path}, which is not a package folder "
                "or a .py file: install it on every node and pass --no-ship"
            )
        if not _is_installed_or_stdlib(name, path):
            found[name] = path
    return found


def _registrations(spec: RunSpec) -> tuple[Adapter, Any]:
    """The driver's adapter and Gymnasium spec of a run (sent with its Ray task)."""
    import gymnasium

    return get_adapter(spec.algorithm), gymnasium.spec(spec.env.env_id)


class RayBackend:
    """Runs every run as a Ray task (one CPU each) on a local instance or a cluster.

    Args:
        jobs: CPUs of a local instance (ignored when connecting to a cluster: its own
            resources are used).
        address: ``None`` (``RAY_ADDRESS`` if set, else a local instance), ``"auto"``,
            ``"host:port"`` or ``"ray://host:port"``.
        timeout: seconds to wait for the address to answer.
        ship: send the driver's ``rlcore`` to the workers with Ray's job ``runtime_env``
            (``py_modules``), with the user's own modules that ``runs`` need
            (:func:`user_modules`); default: when connecting to a cluster (not for a local
            instance); False where every node has them installed. Not possible when Ray was
            initialized by the caller (whose own ``runtime_env`` applies).
        runs: the runs this call executes (their algorithm and env entry points say which
            user modules to ship).
    """

    name = "ray"

    def __init__(
        self,
        jobs: int,
        address: str | None,
        timeout: float = RAY_CONNECT_TIMEOUT,
        ship: bool | None = None,
        runs: Sequence[RunSpec] = (),
    ) -> None:
        self.jobs, self.timeout = jobs, timeout
        self.source = "--ray-address" if address else "RAY_ADDRESS"
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if not address and not self.address:
            self.source = "none"
        self.kind = ray_address_kind(self.address)
        self.ship = ship
        self.runs = tuple(runs)
        self._user_modules: dict[str, Path] = {}
        self._ray: Any = None
        self._started = False
        self._shipped: Path | None = None
        self._pending: dict[Any, RunSpec] = {}
        self._resources: dict[str, Any] = {}
        self._restore: Callable[[], None] | None = None

    def start(self) -> None:
        ray = self._ray = _import_ray()
        if ray.is_initialized():  # the caller's Ray session, with its own runtime_env
            self.kind = "existing"
        else:
            ship = self.ship if self.ship is not None else self.kind != "local"
            if ship:  # Ray accepts a local folder for py_modules only in ray.init
                self._user_modules = user_modules(self.runs)  # before copying: may refuse
                self._shipped = _package_dir()
            modules = [self._shipped, *self._user_modules.values()] if self._shipped else []
            job_env = {"py_modules": [str(m) for m in modules]} if modules else None
            if self.kind == "local":
                self._restore = _pin_ray_to_loopback(ray)
                ray.init(
                    num_cpus=self.jobs,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env=job_env,
                    _node_ip_address="127.0.0.1",
                )
            else:
                if self.kind in ("gcs", "client"):
                    check_reachable(self.address, self.timeout)
                    if _is_loopback(_host_port(self.address)[0]):
                        self._restore = _pin_ray_to_loopback(ray)
                try:
                    ray.init(address=self.address, log_to_driver=False, runtime_env=job_env)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise ConnectionError(
                        f"cannot connect to the Ray cluster at {self.address!r} (from "
                        f"{self.source}): {type(e).__name__}: {e}"
                    ) from None
            self._started = True
        resources = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self._resources = {
            "CPU": resources.get("CPU", 0.0),
            "nodes": len(nodes),
            "memory_gb": round(resources.get("memory", 0.0) / 2**30, 1),
        }

    def info(self) -> dict[str, Any]:
        return {
            "backend": "ray",
            "address_kind": self.kind,
            "address_from": self.source,
            "jobs": self.jobs if self.kind == "local" else None,
            "resources": self._resources,
            "shipped_package": self._shipped is not None,
            "shipped_modules": sorted(self._user_modules),
            "isolate": False,
        }

    def results(self, todo: Sequence[RunSpec]) -> Iterator[tuple[RunSpec, list[Row]]]:
        import rlcore

        if not todo:  # nothing left: Ray was not started
            return
        ray = self._ray
        task = ray.remote(num_cpus=1)(_ray_task)
        version = rlcore.__version__
        self._pending = {task.remote(spec, version, *_registrations(spec)): spec for spec in todo}
        while self._pending:
            done, _ = ray.wait(list(self._pending), num_returns=1, timeout=0.5)
            if not done:
                continue
            spec = self._pending.pop(done[0])
            yield spec, _result(lambda ref=done[0]: ray.get(ref), spec)

    def close(self, failed: bool) -> None:
        """Cancel what is still pending, disconnect (or stop the local instance)."""
        ray, pending, self._pending = self._ray, self._pending, {}
        if ray is not None:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            if pending:
                with contextlib.suppress(Exception):
                    ray.wait(list(pending), num_returns=len(pending), timeout=5)
            if self._started:
                ray.shutdown()
                self._started = False
        if self._shipped is not None:
            shutil.rmtree(self._shipped.parent, ignore_errors=True)
            self._shipped = None
        if self._restore is not None:
            self._restore()
            self._restore = None


# ---------------------------------------------------------------------------------- main
@dataclass
class _Call:
    todo: list[RunSpec]
    executed: list[str] = field(default_factory=list)


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
    ray_timeout: float = RAY_CONNECT_TIMEOUT,
    ship_package: bool | None = None,
    isolate: bool = False,
    progress: bool = True,
    extend: bool = False,
) -> RunSummary:
    """Run ``runs`` (from :func:`rlcore.bench.suites.plan`) into the results folder ``out``.

    Args:
        runs: the planned runs, in canonical order.
        out: results folder (created if needed; locked while the call runs).
        suite, profile: names stored in the manifest.
        fmt: ``"jsonl"`` or ``"csv"``.
        jobs: parallel runs (local worker processes, or CPUs of a local Ray instance).
        backend: ``"local"`` or ``"ray"``.
        ray_address: address of an existing Ray cluster (``"auto"``, ``"host:port"``,
            ``"ray://host:port"``); default ``RAY_ADDRESS``, else a local instance.
        ray_timeout: seconds to wait for the cluster's address to answer.
        ship_package: Ray: ship ``rlcore`` and the user's own modules named by the runs'
            algorithm and env entry points to the workers (default: when connecting to a
            cluster); False where every node has them installed (the same ``rlcore``).
        isolate: local backend: run every run in a fresh worker process, so that its
            ``peak_mem_mb`` is its own (otherwise a process running several runs in a row keeps
            some memory of the earlier ones, and the peak includes it).
        progress: show a tqdm progress bar.
        extend: the folder may already plan other runs of the same suite and profile (e.g.
            other algorithms or seeds): ``runs`` are added to its plan (identically specified
            runs it already has are resumed), and its report covers all of them.

    Raises:
        ResultsError: bad folder, folder in use, other settings, damaged results.
        ConnectionError: the Ray cluster does not answer.
        ModuleNotFoundError: Ray, shipping: a user module of an entry point cannot be found.
        KeyboardInterrupt: Ctrl-C or SIGTERM (the folder is left resumable).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if ray_timeout <= 0:
        raise ValueError(f"ray_timeout must be > 0 seconds, got {ray_timeout!r}")
    if backend == "ray":
        _import_ray()
    t0 = time.perf_counter()
    out = prepare_folder(out)
    path = results_path(out, fmt)
    manifest = _manifest(suite, profile, runs, fmt)
    with FolderLock(out):
        recovered = recover_tail(path) if path.exists() else None
        if recovered:
            _log(out, {"event": "recovered", "detail": recovered})
        old = _read_manifest(out)
        merged = _check_same(out, old, manifest, extend)
        planned = {r["run_id"]: r for r in merged["runs"]}
        done = finished_runs(path)
        unknown = sorted(set(done) - set(planned))
        if unknown:
            raise ResultsError(
                f"{path}: rows of runs that are not in {out / MANIFEST}: {unknown[:5]}"
            )
        call = _Call([r for r in runs if r.run_id not in done])
        be: LocalBackend | RayBackend = (
            RayBackend(jobs, ray_address, ray_timeout, ship_package, call.todo)
            if backend == "ray"
            else LocalBackend(jobs, isolate)
        )
        failed = True
        try:
            if call.todo:
                be.start()
            entry = {"time": _now(), "runs": len(call.todo)} | be.info()
            base = (
                old | {"runs": merged["runs"]}
                if old is not None
                else manifest | {"versions": _versions(), "created": _now()}
            )
            write_json_atomic(out / MANIFEST, base | {"calls": [*base.get("calls", []), entry]})
            _execute(call, be, path, out, suite, len(runs), progress, t0)
            failed = False
        finally:
            be.close(failed)
        if path.exists():  # canonical order: the manifest's
            rows = read_rows(path)
            order = {rid: i for i, rid in enumerate(planned)}
            rewrite_rows(path, sorted(rows, key=lambda r: (order[r["run_id"]], r["point"])))
    return RunSummary(
        out,
        path,
        len(runs),
        len(runs) - len(call.todo),
        call.executed,
        time.perf_counter() - t0,
        recovered,
    )


def _execute(
    call: _Call,
    be: LocalBackend | RayBackend,
    path: Path,
    out: Path,
    suite: str,
    total: int,
    progress: bool,
    t0: float,
) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        initial=total - len(call.todo),
        desc=f"bench {suite}",
        unit="run",
        disable=not progress,
    )
    try:
        with _sigterm_as_interrupt():
            for spec, rows in be.results(call.todo):
                append_rows(path, rows)
                elapsed = round(time.perf_counter() - t0, 3)
                _log(
                    out,
                    {
                        "run_id": spec.run_id,
                        "event": "finished",
                        "elapsed": elapsed,
                        "backend": be.name,
                    },
                )
                call.executed.append(spec.run_id)
                bar.set_postfix_str(spec.run_id, refresh=False)
                bar.update(1)
    finally:
        bar.close()
