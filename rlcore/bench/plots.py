"""PNG plots of benchmark results (matplotlib, Agg backend).

Bands are 95% percentile-bootstrap intervals of the mean across seeds
(:func:`rlcore.bench.stats.bootstrap_ci`): they never leave the range of the seeds' values, so
never the range of possible returns; one seed draws no band. With many algorithms, learning
curves are drawn as facets, one panel per family (the package's agents, Stable-Baselines3),
each algorithm in colour in its own panel and in light grey in the others, with the random
policy as a dash-dot reference everywhere: ten overlapping bands are unreadable, and one
algorithm's wide band no longer flattens the rest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.bench.stats import algorithm_order, bootstrap_ci, group_by
from rlcore.bench.store import Row

MAX_LINES_PER_PANEL = 4
"""Up to this many algorithms share one panel; more are split into facets by family."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _family(algo: str) -> str:
    from rlcore.bench.algorithms import REGISTRY

    return REGISTRY[algo].family if algo in REGISTRY else "other"


def _linestyle(algo: str) -> str:
    """Solid: the package's stochastic agents; dashed: exact; dotted: SB3; dash-dot: random."""
    family = _family(algo)
    if family == "sb3":
        return ":"
    if family == "random":
        return "-."
    if algo.endswith("-exact") or (family == "rlcore-tabular" and not algo.startswith("Stoch")):
        return "--"
    return "-"


def band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and bootstrap interval per column of ``values`` (shape ``(seeds, points)``);
    the interval is the mean itself where there is one seed."""
    stats = np.array([bootstrap_ci(col) for col in np.asarray(values, dtype=float).T])
    m, lo, hi = stats.T
    return m, np.where(np.isnan(lo), m, lo), np.where(np.isnan(hi), m, hi)


def _panels(algos: list[str]) -> list[tuple[str, list[str]]]:
    """Facets: all in one panel when few; else one panel per family group."""
    if len(algos) <= MAX_LINES_PER_PANEL:
        return [("", algos)]
    groups: dict[str, list[str]] = defaultdict(list)
    for a in algos:
        fam = _family(a)
        if fam == "random":
            continue
        groups[
            "rlcore"
            if fam.startswith("rlcore")
            else "Stable-Baselines3"
            if fam == "sb3"
            else "other"
        ].append(a)
    return [(name, members) for name, members in groups.items() if members] or [("", algos)]


def _curves(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: Path,
    log_x: bool = False,
) -> Path:
    """Draw ``algo -> (x, values (seeds, points))`` as faceted mean lines with bands."""
    plt = _plt()
    algos = algorithm_order(set(series))
    panels = _panels(algos)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels) + 1.2, 4.0), sharey=True, squeeze=False
    )
    colours = {a: f"C{i % 10}" for i, a in enumerate(a for a in algos if _family(a) != "random")}
    stats = {a: band(series[a][1]) for a in algos}
    for ax, (name, members) in zip(axes[0], panels, strict=True):
        for a in algos:
            x = series[a][0]
            m, lo, hi = stats[a]
            if _family(a) == "random":
                ax.plot(x, m, ls="-.", color="0.35", lw=1.2, label=a)
            elif a in members:
                ax.plot(x, m, marker="o", ms=3, ls=_linestyle(a), color=colours[a], label=a)
                ax.fill_between(x, lo, hi, color=colours[a], alpha=0.15, lw=0)
            else:  # context: the other panels' algorithms, thin and grey, no band
                ax.plot(x, m, color="0.8", lw=0.8, zorder=0)
        ax.set(xlabel=xlabel, title=name or None)
        if log_x:
            x0 = series[algos[0]][0]
            ax.set_xscale("log")
            ax.set_xticks(x0, [f"{v:g}" for v in x0])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title + " (mean, 95% bootstrap CI across seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_learning_curves(runs: dict[str, list[Row]], title: str, path: Path) -> Path:
    """Evaluation return against training steps, per algorithm (facets when many)."""
    by_algo: dict[str, list[list[Row]]] = defaultdict(list)
    for pts in runs.values():
        by_algo[pts[0]["algorithm"]].append(pts)
    series = {
        a: (
            np.array([p["step"] for p in s[0]]),
            np.array([[p["return"] for p in run] for run in s]),
        )
        for a, s in by_algo.items()
    }
    return _curves(series, title, "environment steps", "evaluation return", path)


def plot_scaling(final: list[Row], title: str, path: Path) -> Path:
    """Seconds per step against n (log-log) per algorithm, with bootstrap bands."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    by_algo = group_by(final, "algorithm")
    for algo in algorithm_order({k[0] for k in by_algo}):
        cells = group_by(by_algo[(algo,)], "n")
        ns = sorted(k[0] for k in cells)
        stats = np.array([bootstrap_ci([r["run_sec_per_step"] for r in cells[(n,)]]) for n in ns])
        m, lo, hi = stats.T
        (line,) = ax.plot(ns, m, marker="o", ms=4, ls=_linestyle(algo), label=algo)
        if not np.all(np.isnan(lo)):
            ax.fill_between(ns, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="number of actions n",
        ylabel="seconds per step",
        title=title + " (mean, 95% bootstrap CI)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_metrics(final: list[Row]) -> dict[str, list[tuple[float, str]]]:
    """``name -> [(x, key)]`` for metrics named ``<name>@<x><unit>``, sorted by ``x``."""
    fams: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for key in sorted({k for r in final for k in r["metrics"] if "@" in k}):
        name, _, at = key.partition("@")
        num = re.match(r"[-+]?[0-9.]+(?:e[-+]?\d+)?", at)
        if num:
            fams[name].append((float(num.group()), key))
    return {k: sorted(v) for k, v in fams.items()}


def plot_metric_curve(
    final: list[Row], name: str, keys: list[tuple[float, str]], title: str, path: Path
) -> Path:
    """Metric ``name`` against its ``@x`` argument (e.g. accuracy vs deadline) per algorithm."""
    by_algo = group_by(final, "algorithm")
    xs = np.array([x for x, _ in keys])
    unit = re.sub(r"^[-+]?[0-9.]+(?:e[-+]?\d+)?", "", keys[0][1].partition("@")[2])
    series = {}
    for (algo,), rows in by_algo.items():
        rs = [r for r in rows if all(k in r["metrics"] for _, k in keys)]
        if rs:
            series[algo] = (xs, np.array([[r["metrics"][k] for _, k in keys] for r in rs]))
    log_x = bool(xs.min() > 0 and xs.max() / xs.min() > 10)
    xlabel = f"deadline ({unit})" if unit else "deadline"
    return _curves(series, title, xlabel, name, path, log_x=log_x)


__all__ = [
    "MAX_LINES_PER_PANEL",
    "band",
    "curve_metrics",
    "plot_learning_curves",
    "plot_metric_curve",
    "plot_scaling",
]
