"""Timing suites: seconds per training step and per greedy decision against ``n``, in one run.

A learning suite (:mod:`rlcore.bench.suites`) trains runs independently, possibly in parallel;
a *timing* suite measures cost ratios, which must come from one process on one machine at one
time to mean anything on a shared machine. So a timing suite builds every configuration
(algorithm x action count) first, then measures them **interleaved** over ``repeats`` rounds,
and reports the median of the rounds (a burst of load hits every configuration alike).

Measures, per configuration:

* ``train``: seconds per environment step inside ``learn()`` (acting with the algorithm's
  exploration + its updates + the env step), after a warm-up that fills the replay buffer;
* ``eval``: seconds per ``predict(obs, deterministic=True)`` call on one observation (the
  greedy policy of ``evaluate_policy`` / ``EvalCallback``; for the stochastic agents their
  ``O(log n)`` policy) over a fixed set of observations drawn from the observation space;
* ``eval_exact``: for agents with an exact opt-in (``predict(..., exact=True)``), the ``O(n)``
  exact argmax, measured once on a few observations (a reference, not interleaved);
* ``memory``: KiB of resident memory (``VmRSS``, Linux only) the process gains per training
  step during the ``train`` measures (lazily committed tables show here: a table that
  touches new pages as it learns grows, one allocated whole does not).

One torch thread. Results live in a folder like a learning suite's: ``manifest.json`` (with
``"kind": "timing"``, the configurations, the targets and the versions) and ``results.jsonl``,
one strictly validated row per (configuration, measure, round) (:data:`TIMING_FIELDS`);
``rlcore bench report`` renders them as a table of milliseconds against ``n`` and a table of
the target ratios, met or not.

Suites: ``speed`` (issue 9's deep targets: StochDQN against SB3's DQN on TargetReach 1-D; the
tabular agents on LargeActionMDP).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.bench.algorithms import get_adapter
from rlcore.bench.lock import FolderLock
from rlcore.bench.runner import _read_manifest, _versions
from rlcore.bench.spec import EnvSpec
from rlcore.bench.store import (
    ResultsError,
    folder_kind,
    prepare_folder,
    read_json_lines,
    replace_atomically,
)

__all__ = [
    "MEASURES",
    "TIMING_FIELDS",
    "TIMING_SUITES",
    "Ratio",
    "TimingGroup",
    "TimingProfile",
    "read_timing",
    "run_timing",
    "timing_plan",
    "timing_report",
]

MEASURES = ("train", "eval", "eval_exact", "memory")
TIMING_FIELDS = ("suite", "group", "algorithm", "env", "n", "measure", "round", "value", "calls")
"""Columns of a timing row. ``value``: seconds per step (``train``), seconds per call
(``eval``, ``eval_exact``) or KiB of resident memory gained per training step (``memory``),
over the ``calls`` steps / calls of round ``round``."""
KIND = "timing"


@dataclass(frozen=True)
class Ratio:
    """A target ratio of two medians, e.g. train StochDQN(10^6) / SB3 DQN(10^2) <= 1.

    ``numerator`` and ``denominator`` are ``(algorithm, n, measure)``; ``n`` = ``-1`` means the
    group's largest action count at which the algorithm ran, ``0`` its smallest."""

    numerator: tuple[str, int, str]
    denominator: tuple[str, int, str]
    bound: float | None = None


@dataclass(frozen=True)
class TimingGroup:
    """Algorithms timed on one env family at several action counts.

    Attributes:
        name: the group's label in results and reports.
        algorithms: registry names (:data:`rlcore.bench.algorithms.REGISTRY`).
        env_id: Gymnasium id; ``n_key`` is its keyword for the number of actions.
        kwargs: the other ``gym.make`` keyword arguments.
        ns: the action counts.
        hparams: per algorithm, hyper-parameters over the adapter's defaults.
        max_n: per algorithm, the largest ``n`` it is timed at (the others: all).
        ratios: the targets reported (met or not) under the group's table.
    """

    name: str
    algorithms: tuple[str, ...]
    env_id: str
    n_key: str
    ns: tuple[int, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_n: dict[str, int] = field(default_factory=dict)
    ratios: tuple[Ratio, ...] = ()

    def env_spec(self, n: int) -> EnvSpec:
        return EnvSpec(self.env_id, {**self.kwargs, self.n_key: n})


@dataclass(frozen=True)
class TimingProfile:
    """Groups, rounds and the time spent per measure (``seconds``: the number of steps / calls
    of a measure is set from a probe so that it takes about this long; ``warmup``: training
    steps before measuring; ``exact_calls``: calls of the ``eval_exact`` reference)."""

    groups: tuple[TimingGroup, ...]
    repeats: int = 5
    seconds: float = 1.0
    warmup: int = 250
    eval_obs: int = 200
    exact_calls: int = 3


# DQN setting of the speed measurements (issue 9): batch 64, one gradient step per env step,
# epsilon fixed at 0.05 (mostly greedy acting), 64-64 networks, same for every DQN
_DQN_TIMING: dict[str, Any] = {
    "learning_rate": 1e-3,
    "buffer_size": 20_000,
    "learning_starts": 200,
    "batch_size": 64,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 1000,
    "exploration_fraction": 0.1,
    "exploration_initial_eps": 0.05,
    "exploration_final_eps": 0.05,
    "policy_kwargs": {"net_arch": [64, 64]},
}
_SB3_DQN_TIMING = _DQN_TIMING | {"max_grad_norm": 10}  # StochDQN's default clipping
_TABULAR_TIMING: dict[str, Any] = {"exploration_initial_eps": 0.1, "exploration_final_eps": 0.1}
_DEEP = ("StochDQN-stochastic", "StochDQN-paper", "SB3-DQN")
_TABULAR = ("StochQLearning", "QLearning")


def _deep_group(ns: tuple[int, ...], sb3_max_n: int) -> TimingGroup:
    return TimingGroup(
        name="deep",
        algorithms=_DEEP,
        env_id="rlcore/TargetReach-v0",
        n_key="n_actions",
        kwargs={"dim": 1},
        ns=ns,
        hparams={
            "StochDQN-stochastic": _DQN_TIMING,
            "StochDQN-paper": _DQN_TIMING,
            "SB3-DQN": _SB3_DQN_TIMING,
        },
        max_n={"SB3-DQN": sb3_max_n},
        ratios=(
            Ratio(("StochDQN-stochastic", -1, "train"), ("SB3-DQN", 0, "train"), 1.0),
            Ratio(("StochDQN-paper", -1, "train"), ("SB3-DQN", 0, "train")),
            Ratio(("StochDQN-stochastic", -1, "train"), ("StochDQN-stochastic", 0, "train")),
            Ratio(("StochDQN-stochastic", -1, "eval"), ("StochDQN-stochastic", 0, "eval"), 1.5),
            Ratio(("StochDQN-paper", -1, "eval"), ("StochDQN-paper", 0, "eval")),
        ),
    )


def _tabular_group(ns: tuple[int, ...], exact_max_n: int) -> TimingGroup:
    return TimingGroup(
        name="tabular",
        algorithms=_TABULAR,
        env_id="rlcore/LargeActionMDP-v0",
        n_key="n_actions",
        kwargs={"n_states": 10},
        ns=ns,
        hparams={a: _TABULAR_TIMING for a in _TABULAR},
        max_n={"QLearning": exact_max_n},
        ratios=(
            Ratio(("StochQLearning", -1, "train"), ("StochQLearning", 0, "train"), 2.0),
            Ratio(("StochQLearning", 10**6, "train"), ("StochQLearning", 0, "train"), 2.0),
            Ratio(("QLearning", -1, "train"), ("QLearning", 0, "train")),
            Ratio(("StochQLearning", -1, "eval"), ("StochQLearning", 0, "eval")),
        ),
    )


_FULL_NS = (10**2, 10**3, 10**4, 10**5, 10**6)
TIMING_SUITES: dict[str, dict[str, TimingProfile]] = {
    "speed": {
        "quick": TimingProfile(
            groups=(_deep_group((16, 256), 256), _tabular_group((16, 256), 256)),
            repeats=2,
            seconds=0.02,
            warmup=250,
            eval_obs=10,
            exact_calls=1,
        ),
        "full": TimingProfile(
            # the tabular Q-table is committed lazily: StochQLearning up to 10^8 actions
            # (QLearning's exact max scans the n-row table: up to 10^6)
            groups=(_deep_group(_FULL_NS, 10**4), _tabular_group((*_FULL_NS, 10**8), 10**6)),
            repeats=5,
            seconds=1.0,
        ),
    },
}
"""Timing suite name -> profile name -> :class:`TimingProfile`."""


@dataclass(frozen=True)
class _Config:
    group: str
    algorithm: str
    env: EnvSpec
    n: int
    hparams: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.group, self.algorithm, self.n)


def timing_plan(
    suite: str, profile: str, algorithms: Sequence[str] | None = None
) -> tuple[TimingProfile, list[_Config]]:
    """The profile and its configurations (group-major, then ``n``, then algorithm), keeping
    only ``algorithms`` when given; clear KeyErrors for unknown names."""
    if suite not in TIMING_SUITES:
        raise KeyError(f"unknown timing suite {suite!r}; known: {sorted(TIMING_SUITES)}")
    if profile not in TIMING_SUITES[suite]:
        raise KeyError(
            f"unknown profile {profile!r} of suite {suite!r}; known: {sorted(TIMING_SUITES[suite])}"
        )
    prof = TIMING_SUITES[suite][profile]
    known = {a for g in prof.groups for a in g.algorithms}
    for name in algorithms or ():
        get_adapter(name)
        if name not in known:
            raise KeyError(
                f"algorithm {name!r} is not timed by suite {suite!r}; it times {sorted(known)}"
            )
    configs = [
        _Config(g.name, a, g.env_spec(n), n, dict(g.hparams.get(a, {})))
        for g in prof.groups
        for n in g.ns
        for a in g.algorithms
        if (algorithms is None or a in algorithms) and n <= g.max_n.get(a, n)
    ]
    if not configs:
        raise ValueError(
            f"timing suite {suite!r} has no configuration for {list(algorithms or [])}"
        )
    return prof, configs


# ------------------------------------------------------------------------------ measuring
def _train_seconds(model: Any, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (time.perf_counter() - start) / steps


def _eval_seconds(model: Any, obs: Sequence[Any], exact: bool = False) -> float:
    kwargs = {"exact": True} if exact else {}
    start = time.perf_counter()
    for o in obs:
        model.predict(o, deterministic=True, **kwargs)
    return (time.perf_counter() - start) / len(obs)


def _rss_bytes() -> int | None:
    """Resident memory of this process (``VmRSS``), or None where ``/proc`` does not have it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _has_exact(algorithm: str, model: Any) -> bool:
    """A stochastic agent with the exact opt-in (exact agents' greedy policy is exact)."""
    return (
        algorithm.startswith("Stoch")
        and not algorithm.endswith("-exact")
        and hasattr(model, "exact_predict")
    )


def run_timing(
    suite: str,
    profile: str,
    out: str | Path,
    algorithms: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Measure a timing suite and write ``out/results.jsonl`` and ``out/manifest.json``.

    Every configuration is built and warmed up first, then measured interleaved over the
    profile's rounds (one torch thread). A new measurement replaces the folder's previous
    timing results (both files are written atomically, at the end); a folder holding a
    learning suite's results is refused.

    Returns:
        The path of the results file.
    """
    import torch as th

    prof, configs = timing_plan(suite, profile, algorithms)
    out = prepare_folder(out)
    previous_threads = th.get_num_threads()
    with FolderLock(out):
        old = out / "manifest.json"
        if old.exists() and _load_manifest(old).get("kind") != KIND:
            raise ResultsError(
                f"{out} holds the results of a learning suite; give another --out for the "
                f"timing suite {suite!r}"
            )
        th.set_num_threads(1)
        try:
            rows = _measure(suite, prof, configs, log)
        finally:
            th.set_num_threads(previous_threads)
        results = out / "results.jsonl"
        replace_atomically(results, "".join(json.dumps(r) + "\n" for r in rows))
        manifest = {
            "kind": KIND,
            "suite": suite,
            "profile": profile,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "profile_settings": {k: v for k, v in asdict(prof).items() if k != "groups"},
            "groups": [
                {
                    "name": g.name,
                    "env_id": g.env_id,
                    "kwargs": g.kwargs,
                    "ns": list(g.ns),
                    "algorithms": list(g.algorithms),
                    "max_n": g.max_n,
                    "hparams": g.hparams,
                    "ratios": [asdict(r) for r in g.ratios],
                }
                for g in prof.groups
            ],
            "configs": [list(c.key) for c in configs],
            "cpus": os.cpu_count(),
            "torch_threads": 1,
            "versions": _versions(),
        }
        replace_atomically(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return results


def _measure(
    suite: str, prof: TimingProfile, configs: list[_Config], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    models: dict[tuple[str, str, int], Any] = {}
    steps: dict[tuple[str, str, int], int] = {}
    obs: dict[tuple[str, str, int], list[Any]] = {}
    envs = []
    for c in configs:
        adapter = get_adapter(c.algorithm)
        env = c.env.make(adapter.family)
        envs.append(env)
        model = adapter.build(env, 0, adapter.hparams(prof.warmup, c.hparams))
        model.learn(prof.warmup)  # fill the buffer, first updates
        probe = _train_seconds(model, 20)
        models[c.key] = model
        steps[c.key] = int(np.clip(prof.seconds / probe, 20, 5000))
        space = env.observation_space
        space.seed(0)
        obs[c.key] = [space.sample() for _ in range(prof.eval_obs)]
        log(f"ready {c.group} {c.algorithm} n={c.n}: ~{probe * 1e3:.3f} ms/step")
    rows: list[dict[str, Any]] = []

    def row(c: _Config, measure: str, rnd: int, value: float, calls: int) -> None:
        rows.append(
            {
                "suite": suite,
                "group": c.group,
                "algorithm": c.algorithm,
                "env": c.env.label,
                "n": c.n,
                "measure": measure,
                "round": rnd,
                "value": value,
                "calls": calls,
            }
        )

    try:
        rss_gain: dict[tuple[str, str, int], int] = {c.key: 0 for c in configs}
        for rnd in range(prof.repeats):
            for c in configs:
                model = models[c.key]
                before = _rss_bytes()
                row(c, "train", rnd, _train_seconds(model, steps[c.key]), steps[c.key])
                after = _rss_bytes()
                if before is not None and after is not None:
                    rss_gain[c.key] += after - before
                row(c, "eval", rnd, _eval_seconds(model, obs[c.key]), len(obs[c.key]))
            log(f"round {rnd + 1}/{prof.repeats} done")
        if _rss_bytes() is not None:
            for c in configs:
                total = steps[c.key] * prof.repeats
                row(c, "memory", 0, max(rss_gain[c.key], 0) / 1024 / total, total)
        for c in configs:
            if _has_exact(c.algorithm, models[c.key]):
                few = obs[c.key][: prof.exact_calls]
                row(c, "eval_exact", 0, _eval_seconds(models[c.key], few, exact=True), len(few))
    finally:
        for env in envs:
            env.close()
    return rows


# ------------------------------------------------------------------------------- reading
def _load_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` (the runner's reader: clear errors for bad JSON)."""
    manifest = _read_manifest(path.parent)
    if not isinstance(manifest, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return manifest


def is_timing_folder(path: str | Path) -> bool:
    """Whether ``path`` is a timing suite's results folder (its manifest says so)."""
    return folder_kind(path) == KIND


def _check_row(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict) or set(row) != set(TIMING_FIELDS):
        got = sorted(row) if isinstance(row, dict) else row
        raise ResultsError(f"{where}: expected the fields {list(TIMING_FIELDS)}, got {got!r}")
    for f in ("suite", "group", "algorithm", "env"):
        if not isinstance(row[f], str):
            raise ResultsError(f"{where}: field {f!r} must be a string, got {row[f]!r}")
    for f, low in (("n", 1), ("round", 0), ("calls", 1)):
        if isinstance(row[f], bool) or not isinstance(row[f], int) or row[f] < low:
            raise ResultsError(f"{where}: field {f!r} must be an integer >= {low}, got {row[f]!r}")
    if row["measure"] not in MEASURES:
        raise ResultsError(
            f"{where}: field 'measure' must be one of {MEASURES}, got {row['measure']!r}"
        )
    v = row["value"]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ResultsError(f"{where}: field 'value' must be a finite number >= 0, got {v!r}")
    return row


def read_timing(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and the validated rows of a timing results folder.

    Raises:
        ResultsError: a malformed line (named by file and line), or configurations of the
            manifest without rows.
    """
    folder = Path(path)
    manifest = _load_manifest(folder / "manifest.json")
    for key in ("suite", "profile", "groups", "configs"):
        if key not in manifest:
            raise ResultsError(f"{folder / 'manifest.json'}: no {key!r} (not a timing manifest)")
    file = folder / "results.jsonl"
    if not file.exists():
        raise ResultsError(f"{folder} holds no results.jsonl")
    rows = []
    for i, obj in read_json_lines(file):
        rows.append(_check_row(obj, f"{file}, line {i}"))
    have = {(r["group"], r["algorithm"], r["n"]) for r in rows}
    missing = [c for c in manifest.get("configs", []) if tuple(c) not in have]
    if missing:
        raise ResultsError(f"{file}: configurations {missing[:3]} of the manifest have no rows")
    return manifest, rows


# ------------------------------------------------------------------------------- report
_COLUMN = {
    "train": "train ms/step",
    "eval": "eval ms/call",
    "eval_exact": "exact ms/call",
    "memory": "KiB/step",
}
_SCALE = {"train": 1e3, "eval": 1e3, "eval_exact": 1e3, "memory": 1.0}


def _medians(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int, str], float]:
    by: dict[tuple[str, str, int, str], list[float]] = {}
    for r in rows:
        by.setdefault((r["group"], r["algorithm"], r["n"], r["measure"]), []).append(r["value"])
    return {k: statistics.median(v) for k, v in by.items()}


def timing_report(path: str | Path) -> list[str]:
    """Markdown lines of a timing results folder: per group, milliseconds against ``n`` and
    the target ratios (medians over the rounds)."""
    from rlcore.bench.markdown import fmt, fmt_n, table

    manifest, rows = read_timing(path)
    med = _medians(rows)
    settings = manifest.get("profile_settings", {})
    repeats = settings.get("repeats", "?")
    md = [
        f"## Suite `{manifest['suite']}` — profile `{manifest['profile']}` (timing)",
        "",
        f"Source `{Path(path) / 'results.jsonl'}`: medians over {repeats} rounds measured "
        "interleaved in one process (one torch thread); `train` = ms per environment step "
        "inside `learn()` (acting + update + env step), `eval` = ms per "
        "`predict(obs, deterministic=True)` on one observation (the agent's own greedy "
        "policy), `exact` = the O(n) exact-argmax opt-in, measured once, `KiB/step` = "
        "resident memory gained per training step over all rounds. Machine: "
        f"{manifest.get('cpus', '?')} CPUs; versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(manifest.get("versions", {}).items()))
        + ".",
        "",
    ]
    for g in manifest["groups"]:
        name = g["name"]
        algos = [a for a in g["algorithms"] if any(k[0] == name and k[1] == a for k in med)]
        ns = sorted({k[2] for k in med if k[0] == name})
        if not algos:
            continue
        kwargs = ", ".join(f"{k}={v}" for k, v in g["kwargs"].items())
        md += [f"### {name}: {g['env_id']} ({kwargs}) against n", ""]
        measures = [m for m in MEASURES if any(k[0] == name and k[3] == m for k in med)]
        header = ["n", "algorithm"] + [_COLUMN[m] for m in measures]
        body = [
            [fmt_n(n), a]
            + [
                fmt(med[(name, a, n, m)] * _SCALE[m]) if (name, a, n, m) in med else "—"
                for m in measures
            ]
            for n in ns
            for a in algos
            if any((name, a, n, m) in med for m in measures)
        ]
        md += table(header, body, "ll" + "r" * len(measures)) + [""]
        ratio_rows = []
        for r in g.get("ratios", []):
            (na, nn, nm), (da, dn, dm) = r["numerator"], r["denominator"]
            n_num = _pick_n(med, name, na, nn)
            n_den = _pick_n(med, name, da, dn)
            if n_num is None or n_den is None:
                continue
            value = med[(name, na, n_num, nm)] / med[(name, da, n_den, dm)]
            bound = r.get("bound")
            verdict = "—" if bound is None else ("met" if value <= bound else "**not met**")
            ratio_rows.append(
                [
                    f"{nm} {na}(n={fmt_n(n_num)}) / {dm} {da}(n={fmt_n(n_den)})",
                    f"{value:.2f}",
                    "—" if bound is None else f"≤ {bound:g}",
                    verdict,
                ]
            )
        if ratio_rows:
            md += table(["ratio of medians", "value", "target", ""], ratio_rows, "lrrl") + [""]
    return md


def _pick_n(
    med: dict[tuple[str, str, int, str], float], group: str, algo: str, which: int
) -> int | None:
    ns = sorted({k[2] for k in med if k[0] == group and k[1] == algo})
    if not ns:
        return None
    if which == -1:
        return ns[-1]
    if which == 0:
        return ns[0]
    return which if which in ns else None
