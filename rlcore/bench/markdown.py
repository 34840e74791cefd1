"""Markdown tables of benchmark results (numbers formatted for reading, intervals by bootstrap).

Every "mean [low, high]" cell is the mean across seeds and its 95% percentile-bootstrap
interval (:func:`rlcore.bench.stats.bootstrap_ci`); one seed gives the mean alone. Tables are
rendered by :func:`table` with the ``tabulate`` library (GitHub-flavoured pipe tables, columns
padded to a common width so that the Markdown source reads as a table too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tabulate import tabulate

from rlcore.bench.algorithms import BASELINE
from rlcore.bench.stats import FINAL_EVALUATIONS, algorithm_order, bootstrap_ci, group_by
from rlcore.bench.store import Row


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """Markdown (pipe) table lines: the header, the alignment row, then one line per row.

    Args:
        header: the column titles.
        rows: the cells, already formatted as strings (they are printed as given: no number
            parsing or re-formatting); every row has one cell per column.
        align: one letter per column, ``l`` (left, ``:---``) or ``r`` (right, ``---:``);
            default: the first column left, the others right.

    Returns:
        the table's lines, without line ends. A table without rows has an alignment row
        without markers (``tabulate`` aligns nothing when there is nothing to align).

    Raises:
        ValueError: when ``align`` has a letter other than ``l``/``r`` or not one per column, or
            a row has not one cell per column.
    """
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(
            f"align {align!r} needs one letter 'l' or 'r' per column (header {list(header)})"
        )
    bad = [i for i, r in enumerate(rows) if len(r) != len(header)]
    if bad:
        raise ValueError(
            f"row {bad[0]} has {len(rows[bad[0]])} cells, every row needs {len(header)} "
            f"(header {list(header)})"
        )
    text = tabulate(
        [list(r) for r in rows],
        headers=list(header),
        tablefmt="pipe",
        colalign=["left" if a == "l" else "right" for a in align],
        disable_numparse=True,
    )
    return text.splitlines()


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table: ``—`` for nan, scientific when tiny or huge."""
    if math.isnan(x):
        return "—"
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
        return f"{x:.{digits - 1}e}"
    if abs(x) >= 10**digits - 0.5:  # "2310", not "2.31e+03"
        return f"{x:.0f}"
    return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}"


def fmt_n(n: int) -> str:
    """``10^k`` for powers of ten, else the integer."""
    k = round(math.log10(n)) if n > 0 else 0
    return f"10^{k}" if n == 10**k and k >= 2 else str(n)


def _sig(x: float) -> str:
    """Three significant digits without an exponent (0.00453, 1.07, 202; integers from 1000)."""
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _ci(values: Sequence[float], number: str = "g") -> str:
    m, lo, hi = bootstrap_ci(values)
    f = {
        "g": fmt,
        "sci": lambda x: f"{x:.2e}",
        "fixed": lambda x: f"{x:.3f}",
        "sig": _sig,
    }[number]
    return f(m) if math.isnan(lo) else f"{f(m)} [{f(lo)}, {f(hi)}]"


def single_n_table(final: list[Row]) -> list[str]:
    """One environment at one action count: final return, seconds per step, speed-up and
    return difference to the baseline (SB3 DQN; columns left out where it did not run), peak
    memory; one row per algorithm."""
    by_algo = group_by(final, "algorithm")
    base = by_algo.get((BASELINE,))
    base_sps = sum(r["run_sec_per_step"] for r in base) / len(base) if base else math.nan
    base_ret = sum(r["return"] for r in base) / len(base) if base else math.nan
    rows = []
    for algo in algorithm_order({k[0] for k in by_algo}):
        rs = by_algo[(algo,)]
        ret = [r["return"] for r in rs]
        sps = [r["run_sec_per_step"] for r in rs]
        mean_ret, mean_sps = sum(ret) / len(ret), sum(sps) / len(sps)
        speed = base_sps / mean_sps if mean_sps > 0 else math.nan
        baseline_cells = [f"{fmt(speed)}×", fmt(mean_ret - base_ret)] if base else []
        rows.append(
            [
                algo,
                str(len(rs)),
                _ci(ret),
                _ci(sps, "sci"),
                *baseline_cells,
                f"{max(r['peak_mem_mb'] for r in rs):.0f}",
            ]
        )
    last = max((r.get("final_points", FINAL_EVALUATIONS) for r in final), default=1)
    evals = "the evaluation at the end" if last == 1 else f"mean of the last {last} evals"
    header = [
        "algorithm",
        "seeds",
        f"final return ({evals}), mean [95% CI]",
        "s / step",
        *([f"speed-up vs {BASELINE}", f"return − {BASELINE}"] if base else []),
        "peak MiB",
    ]
    return table(header, rows)


def scaling_table(final: list[Row]) -> list[str]:
    """One environment at several action counts: seconds per step against ``n`` (with the
    speed-up over the baseline at the same ``n``) and peak memory against ``n``."""
    ns = sorted({r["n"] for r in final})
    algos = algorithm_order({r["algorithm"] for r in final})
    cells = group_by(final, "algorithm", "n")
    mean = {k: sum(r["run_sec_per_step"] for r in v) / len(v) for k, v in cells.items()}
    rows = []
    for n in ns:
        row = [fmt_n(n)]
        for a in algos:
            if (a, n) not in cells:
                row.append("—")
                continue
            base = mean.get((BASELINE, n))
            ratio = f" ({fmt(base / mean[(a, n)])}×)" if base and a != BASELINE else ""
            row.append(_ci([r["run_sec_per_step"] for r in cells[(a, n)]], "sci") + ratio)
        rows.append(row)
    mem_rows = [
        [fmt_n(n)]
        + [
            f"{max(r['peak_mem_mb'] for r in cells[(a, n)]):.0f}" if (a, n) in cells else "—"
            for a in algos
        ]
        for n in ns
    ]
    return [
        "Training seconds per environment step (mean [95% bootstrap CI] across seeds); in "
        f"brackets the speed-up over {BASELINE} at the same n.",
        "",
        *table(["n", *algos], rows, "r" * (len(algos) + 1)),
        "",
        "Peak resident memory of the run's process (MiB, max over seeds; includes the ~250 MiB "
        "of the Python, torch and SB3 imports):",
        "",
        *table(["n", *algos], mem_rows, "r" * (len(algos) + 1)),
    ]


def metrics_table(final: list[Row]) -> list[str]:
    """Final values of the extra metrics (those without ``@``), one row per algorithm, to three
    significant digits (a regret of 0.0045 stays readable)."""
    names = sorted({k for r in final for k in r["metrics"] if "@" not in k})
    if not names:
        return []
    by_algo = group_by(final, "algorithm")
    rows = []
    for algo in algorithm_order({k[0] for k in by_algo}):
        rs = by_algo[(algo,)]
        row = [algo]
        for name in names:
            vals = [r["metrics"][name] for r in rs if name in r["metrics"]]
            row.append(_ci(vals, "sig") if vals else "—")
        rows.append(row)
    return table(["algorithm", *names], rows)


__all__ = ["fmt", "fmt_n", "metrics_table", "scaling_table", "single_n_table", "table"]
