"""One-command benchmark suite: rlcore's agents against Stable-Baselines3.

    rlcore bench run tabular --out bench_results/tabular     # quick profile; or: python -m rlcore.bench
    rlcore bench report bench_results/tabular

Modules: :mod:`~rlcore.bench.spec` (the run specification: env specs, groups, profiles, runs),
:mod:`~rlcore.bench.suites` (suites, profiles, run matrix),
:mod:`~rlcore.bench.algorithms` (algorithm adapters and their registry),
:mod:`~rlcore.bench.protocol` (the shared training / evaluation protocol),
:mod:`~rlcore.bench.runner` (resumable runs, local processes or Ray),
:mod:`~rlcore.bench.store` (tidy, strictly validated, crash-safe results files),
:mod:`~rlcore.bench.lock` (one writer per results folder),
:mod:`~rlcore.bench.stats` (bootstrap intervals), :mod:`~rlcore.bench.markdown` (tables),
:mod:`~rlcore.bench.plots` (figures), :mod:`~rlcore.bench.report` (the report),
:mod:`~rlcore.bench.cli`.
"""

from __future__ import annotations

from rlcore.bench import rumour  # noqa: F401  (registers the rumour suite and ERD)
from rlcore.bench.algorithms import REGISTRY, Adapter, get_adapter, register
from rlcore.bench.runner import RunSummary, run_one, run_suite
from rlcore.bench.store import FIELDS, ResultsError, read_rows
from rlcore.bench.suites import SUITES, EnvSpec, Group, Profile, RunSpec, plan

__all__ = [
    "FIELDS",
    "REGISTRY",
    "SUITES",
    "Adapter",
    "EnvSpec",
    "Group",
    "Profile",
    "ResultsError",
    "RunSpec",
    "RunSummary",
    "get_adapter",
    "plan",
    "read_rows",
    "register",
    "run_one",
    "run_suite",
]
