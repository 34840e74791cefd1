"""Statistics of benchmark results: means with bootstrap 95% confidence intervals across seeds.

Few-seed RL results (three seeds is common) make Student-t intervals useless and misleading:
with 3 values the t quantile is 4.3, and the interval leaves the range of possible returns
(a FrozenLake success rate "between -0.7 and 1.4"). The percentile bootstrap used here
resamples the seeds' values with replacement and takes the 2.5% and 97.5% quantiles of the
resampled means: the interval always lies within the range of the observed values (hence of
the possible ones), is asymmetric where the data are, and is clipped to explicit bounds where
a caller knows them. With one seed there is no interval (``nan``). With very few seeds the
interval is coarse (3 values have 10 distinct resamples): read it as what the seeds show, not
as a guarantee.

:func:`iqm` is the interquartile mean (rliable's robust aggregate across runs); its bootstrap
interval comes from :func:`bootstrap_ci` with ``statistic=iqm``. The grouping helpers
(:func:`group_runs`, :func:`group_by`, :func:`final_points`, :func:`algorithm_order`) shape
results rows for the tables (:mod:`rlcore.bench.markdown`) and plots (:mod:`rlcore.bench.plots`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

N_BOOT = 10_000
"""Bootstrap resamples per interval."""


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: the mean of the middle 50% of the sorted values
    (with fewer than 4 values, the plain mean). Shape: ``values`` without ``axis``."""
    x = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    lo = n // 4
    if n < 4 or n - 2 * lo < 1:
        return x.mean(axis=axis)
    return np.take(x, np.arange(lo, n - lo), axis=axis).mean(axis=axis)


def bootstrap_ci(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    statistic: Callable[..., np.ndarray] = np.mean,
    bounds: tuple[float, float] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The statistic of ``values`` (one per seed) and its percentile-bootstrap interval.

    Args:
        values: one number per seed (shape ``(k,)``).
        confidence: coverage of the interval (0.95: the 2.5% and 97.5% quantiles).
        statistic: ``statistic(array, axis=-1)``; :func:`numpy.mean` or :func:`iqm`.
        bounds: ``(low, high)`` of the possible values (e.g. returns); the interval is clipped
            to it (``None``: no clipping beyond the data's own range).
        n_boot: bootstrap resamples.
        seed: seed of the resampling (the same data always give the same interval).

    Returns:
        ``(estimate, low, high)``; ``low`` and ``high`` are ``nan`` for a single value.

    Raises:
        ValueError: no values, a non-finite value, or ``confidence`` outside (0, 1).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_ci needs finite values, got {x.tolist()}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    est = float(statistic(x, axis=-1))
    if x.size == 1:
        return est, math.nan, math.nan
    rng = np.random.default_rng(seed)
    resampled = statistic(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=-1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = (float(q) for q in np.quantile(resampled, [alpha, 1.0 - alpha]))
    if bounds is not None:
        lo, hi = min(max(lo, bounds[0]), bounds[1]), max(min(hi, bounds[1]), bounds[0])
    return est, lo, hi


# ------------------------------------------------------------------------ grouping rows
def group_runs(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by run id, each run's rows sorted by evaluation point."""
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        runs[r["run_id"]].append(r)
    return {k: sorted(v, key=lambda r: r["point"]) for k, v in runs.items()}


def group_by(rows: Sequence[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    """Rows grouped by the values of ``keys`` (a tuple per group), in first-seen order."""
    out: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return dict(out)


FINAL_EVALUATIONS = 3
"""How many of a run's last evaluation points its final performance averages."""


def final_points(
    runs: dict[str, list[dict[str, Any]]], last: int = FINAL_EVALUATIONS
) -> list[dict[str, Any]]:
    """The final performance of every run: its last evaluation point, with ``return`` (and each
    metric) replaced by the mean over the run's last ``last`` evaluation points (all of them if
    it has fewer), never the best evaluation; ``final_points`` (how many were averaged) and
    ``run_sec_per_step`` (the run's training seconds divided by its steps) added.

    Args:
        runs: rows by run id, each run's rows sorted by point (:func:`group_runs`).
        last: number of final evaluation points to average, ``>= 1``.
    """
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"last must be an integer >= 1, got {last!r}")
    out = []
    for pts in runs.values():
        tail = pts[-last:]
        final = dict(pts[-1])
        final["return"] = float(np.mean([r["return"] for r in tail]))
        final["metrics"] = {
            k: float(np.mean([r["metrics"][k] for r in tail]))
            for k in final["metrics"]
            if all(k in r["metrics"] for r in tail)
        }
        final["final_points"] = len(tail)
        final["run_sec_per_step"] = final["wall_time"] / max(final["step"], 1)
        out.append(final)
    return out


def algorithm_order(algorithms: set[str]) -> list[str]:
    """The package's algorithms first, then SB3's, then the random policy (registry order
    within a family), then unknown names."""
    from rlcore.bench.algorithms import REGISTRY

    rank = {"sb3": 1, "random": 2}
    known = sorted(
        (a for a in REGISTRY if a in algorithms),
        key=lambda a: (rank.get(REGISTRY[a].family, 0), list(REGISTRY).index(a)),
    )
    return known + sorted(algorithms - set(known))


__all__ = [
    "FINAL_EVALUATIONS",
    "N_BOOT",
    "algorithm_order",
    "bootstrap_ci",
    "final_points",
    "group_by",
    "group_runs",
    "iqm",
]
