"""``rlcore bench report RESULTS``: a Markdown summary and PNG plots of benchmark results.

For each results folder (or file) and each environment:

* environments run at one action count: a table of the final evaluation return (mean ± 95%
  confidence interval across seeds, Student t), the training seconds per step, the speed-up
  over SB3 DQN (its seconds per step divided by the algorithm's) and the return difference to
  it, the peak memory; and a plot of the learning curves (mean and 95% band across seeds);
* environments run at several action counts (scaling): a table of seconds per step against
  ``n`` (mean ± CI) with speed-ups over SB3 DQN, and a log-log plot;
* extra metrics (``metrics`` column): a table of their final values; metrics named
  ``<name>@<x>`` (e.g. ``accuracy@6h`` for rumour detection) are also plotted against ``x``.

Results are read strictly (:func:`rlcore.bench.store.read_rows`); with a ``manifest.json``
next to them, every planned run must be present, so an unfinished or damaged results folder
gives an error rather than a partial table.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from os.path import relpath as os_relpath
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.bench.algorithms import BASELINE
from rlcore.bench.runner import MANIFEST
from rlcore.bench.store import ResultsError, Row, read_rows

# two-sided 95% Student t quantiles t_{0.975, df}, df = 1..30 (1.96 beyond)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval (``nan`` for one value)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if x.size == 1:
        return float(x[0]), math.nan
    t = _T975[x.size - 2] if x.size - 1 <= len(_T975) else 1.96
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size))


def _fmt(x: float, digits: int = 3) -> str:
    if math.isnan(x):
        return "—"
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}"


def _fmt_n(n: int) -> str:
    """``10^k`` for powers of ten, else the integer."""
    k = round(math.log10(n)) if n > 0 else 0
    return f"10^{k}" if n == 10**k and k >= 2 else str(n)


def _pm(mean: float, half: float, digits: int = 3) -> str:
    return _fmt(mean, digits) if math.isnan(half) else f"{_fmt(mean, digits)} ± {_fmt(half, 2)}"


def _pm_sci(mean: float, half: float) -> str:
    """Seconds per step: always scientific, so a column reads at a glance."""
    return f"{mean:.2e}" if math.isnan(half) else f"{mean:.2e} ± {half:.1e}"


def _pm_fixed(mean: float, half: float) -> str:
    """Rates in [0, 1] (accuracy, ER, ...) and hours: three decimals."""
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


# ------------------------------------------------------------------------------- loading
@dataclass
class Results:
    """Validated rows of one results folder or file, with its manifest (if any)."""

    source: Path
    rows: list[Row]
    manifest: dict[str, Any] | None


def load_results(path: str | Path) -> Results:
    """Read a results folder (``results.jsonl`` / ``results.csv`` + ``manifest.json``) or file.

    Raises:
        FileNotFoundError: nothing to read at ``path``.
        ResultsError: a malformed row, or planned runs missing from the results.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no results folder or file {str(path)!r}")
    if path.is_dir():
        files = [p for p in (path / "results.jsonl", path / "results.csv") if p.exists()]
        if not files:
            raise FileNotFoundError(f"{str(path)!r} holds no results.jsonl or results.csv")
        if len(files) > 1:
            raise ResultsError(f"{str(path)!r} holds both results.jsonl and results.csv; keep one")
        file, folder = files[0], path
    else:
        file, folder = path, path.parent
    rows = read_rows(file)
    manifest = None
    if (folder / MANIFEST).exists():
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ResultsError(
                f"{folder / MANIFEST}: not valid JSON ({e.msg}, line {e.lineno})"
            ) from None
        planned = [r["run_id"] for r in manifest.get("runs", [])]
        have = {r["run_id"] for r in rows}
        missing = [rid for rid in planned if rid not in have]
        if missing:
            raise ResultsError(
                f"{file}: {len(missing)} of the {len(planned)} runs planned in {folder / MANIFEST} "
                f"have no rows (e.g. {missing[:3]}); finish them with `rlcore bench run "
                f"{manifest.get('suite')} --profile {manifest.get('profile')} --out {folder}`"
            )
    if not rows:
        raise ResultsError(f"{file}: no results rows")
    return Results(file, rows, manifest)


# --------------------------------------------------------------------------- aggregation
def _runs(rows: Sequence[Row]) -> dict[str, list[Row]]:
    runs: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        runs[r["run_id"]].append(r)
    return {k: sorted(v, key=lambda r: r["point"]) for k, v in runs.items()}


def _by(rows: Sequence[Row], *keys: str) -> dict[tuple, list[Row]]:
    out: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        out[tuple(r[k] for k in keys)].append(r)
    return dict(out)


def _final(runs: dict[str, list[Row]]) -> list[Row]:
    """The last evaluation point of every run, with the run's mean seconds per step."""
    out = []
    for pts in runs.values():
        last = dict(pts[-1])
        last["run_sec_per_step"] = last["wall_time"] / max(last["step"], 1)
        out.append(last)
    return out


def _order(algorithms: set[str]) -> list[str]:
    """The package's algorithms first, then SB3's, then the random policy (registry order
    within a family), then unknown names."""
    from rlcore.bench.algorithms import REGISTRY

    rank = {"sb3": 1, "random": 2}
    known = sorted(
        (a for a in REGISTRY if a in algorithms),
        key=lambda a: (rank.get(REGISTRY[a].family, 0), list(REGISTRY).index(a)),
    )
    return known + sorted(algorithms - set(known))


def _slug(*parts: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(str(p) for p in parts)).strip("_")


# -------------------------------------------------------------------------------- tables
def _single_n_table(final: list[Row]) -> list[str]:
    by_algo = _by(final, "algorithm")
    base = by_algo.get((BASELINE,))
    base_sps = float(np.mean([r["run_sec_per_step"] for r in base])) if base else math.nan
    base_ret = float(np.mean([r["return"] for r in base])) if base else math.nan
    lines = [
        f"| algorithm | seeds | final return (mean ± 95% CI) | s / step | speed-up vs {BASELINE} "
        f"| return − {BASELINE} | peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for algo in _order({k[0] for k in by_algo}):
        rs = by_algo[(algo,)]
        ret = mean_ci([r["return"] for r in rs])
        sps = mean_ci([r["run_sec_per_step"] for r in rs])
        mem = max(r["peak_mem_mb"] for r in rs)
        speed = base_sps / sps[0] if sps[0] > 0 else math.nan
        lines.append(
            f"| {algo} | {len(rs)} | {_pm(*ret)} | {_pm_sci(*sps)} | {_fmt(speed)}× "
            f"| {_fmt(ret[0] - base_ret)} | {mem:.0f} |"
        )
    return lines


def _scaling_table(final: list[Row]) -> list[str]:
    ns = sorted({r["n"] for r in final})
    algos = _order({r["algorithm"] for r in final})
    cell = {
        k: mean_ci([r["run_sec_per_step"] for r in v])
        for k, v in _by(final, "algorithm", "n").items()
    }
    lines = [
        "Training seconds per environment step (mean ± 95% CI across seeds); in brackets the "
        f"speed-up over {BASELINE} at the same n.",
        "",
        "| n | " + " | ".join(algos) + " |",
        "|---:|" + "---:|" * len(algos),
    ]
    for n in ns:
        base = cell.get((BASELINE, n))
        cells = []
        for a in algos:
            if (a, n) not in cell:
                cells.append("—")
                continue
            m, h = cell[(a, n)]
            ratio = f" ({_fmt(base[0] / m)}×)" if base and a != BASELINE and m > 0 else ""
            cells.append(_pm_sci(m, h) + ratio)
        lines.append(f"| {_fmt_n(n)} | " + " | ".join(cells) + " |")
    mem = {k: max(r["peak_mem_mb"] for r in v) for k, v in _by(final, "algorithm", "n").items()}
    lines += [
        "",
        "Peak resident memory of the run's process (MiB, max over seeds; includes the ~250 MiB "
        "of the Python, torch and SB3 imports):",
        "",
        "| n | " + " | ".join(algos) + " |",
        "|---:|" + "---:|" * len(algos),
    ]
    for n in ns:
        cells = [f"{mem[(a, n)]:.0f}" if (a, n) in mem else "—" for a in algos]
        lines.append(f"| {_fmt_n(n)} | " + " | ".join(cells) + " |")
    return lines


def _metrics_table(final: list[Row]) -> list[str]:
    names = sorted({k for r in final for k in r["metrics"] if "@" not in k})
    if not names:
        return []
    by_algo = _by(final, "algorithm")
    lines = ["| algorithm | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for algo in _order({k[0] for k in by_algo}):
        rs = by_algo[(algo,)]
        cells = []
        for name in names:
            vals = [r["metrics"][name] for r in rs if name in r["metrics"]]
            cells.append(_pm_fixed(*mean_ci(vals)) if vals else "—")
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------------- plots
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _linestyle(algo: str) -> str:
    """Solid: the package's stochastic agents; dashed: exact; dotted: SB3; dash-dot: random."""
    from rlcore.bench.algorithms import REGISTRY

    family = REGISTRY[algo].family if algo in REGISTRY else ""
    if family == "sb3":
        return ":"
    if family == "random":
        return "-."
    if algo.endswith("-exact") or (family == "rlcore-tabular" and not algo.startswith("Stoch")):
        return "--"
    return "-"


def _band(ax: Any, x: np.ndarray, ys: list[np.ndarray], label: str) -> None:
    stats = [mean_ci(col) for col in np.asarray(ys).T]
    m = np.array([s[0] for s in stats])
    h = np.nan_to_num(np.array([s[1] for s in stats]))
    (line,) = ax.plot(x, m, marker="o", ms=3, ls=_linestyle(label), label=label)
    ax.fill_between(x, m - h, m + h, color=line.get_color(), alpha=0.12)


def plot_learning_curves(runs: dict[str, list[Row]], title: str, path: Path) -> Path:
    """Mean evaluation return vs steps per algorithm, with 95% bands across seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    by_algo: dict[str, list[list[Row]]] = defaultdict(list)
    for pts in runs.values():
        by_algo[pts[0]["algorithm"]].append(pts)
    for algo in _order(set(by_algo)):
        series = by_algo[algo]
        steps = np.array([p["step"] for p in series[0]])
        _band(ax, steps, [np.array([p["return"] for p in s]) for s in series], algo)
    ax.set(xlabel="environment steps", ylabel="evaluation return", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scaling(final: list[Row], title: str, path: Path) -> Path:
    """Seconds per step vs n (log-log) per algorithm, with 95% bands across seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    by_algo = _by(final, "algorithm")
    for algo in _order({k[0] for k in by_algo}):
        cells = _by(by_algo[(algo,)], "n")
        ns = sorted(k[0] for k in cells)
        stats = [mean_ci([r["run_sec_per_step"] for r in cells[(n,)]]) for n in ns]
        m = np.array([s[0] for s in stats])
        h = np.nan_to_num(np.array([s[1] for s in stats]))
        (line,) = ax.plot(ns, m, marker="o", ms=4, ls=_linestyle(algo), label=algo)
        ax.fill_between(ns, np.maximum(m - h, m * 0.05), m + h, color=line.get_color(), alpha=0.2)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="number of actions n",
        ylabel="seconds per step",
        title=title,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curve_metrics(final: list[Row]) -> dict[str, list[tuple[float, str]]]:
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
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    by_algo = _by(final, "algorithm")
    xs = np.array([x for x, _ in keys])
    unit = re.sub(r"^[-+]?[0-9.]+(?:e[-+]?\d+)?", "", keys[0][1].partition("@")[2])
    for algo in _order({k[0] for k in by_algo}):
        rs = [r for r in by_algo[(algo,)] if all(k in r["metrics"] for _, k in keys)]
        if rs:
            _band(ax, xs, [np.array([r["metrics"][k] for _, k in keys]) for r in rs], algo)
    ax.set(xlabel=f"deadline ({unit})" if unit else "deadline", ylabel=name, title=title)
    if xs.min() > 0 and xs.max() / xs.min() > 10:
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------- report
def _header(res: Results) -> list[str]:
    m = res.manifest or {}
    suites = sorted({r["suite"] for r in res.rows})
    seeds = sorted({r["seed"] for r in res.rows})
    runs = m.get("runs") or []
    lines = [
        f"## Suite `{', '.join(suites)}`"
        + (f" — profile `{m['profile']}`" if "profile" in m else ""),
        "",
    ]
    if runs:
        r0 = runs[0]
        eps = sorted({r["episodes"] for r in res.rows})
        eps_text = str(eps[0]) if len(eps) == 1 else f"{eps[0]}-{eps[-1]}"
        lines.append(
            f"Source `{res.source}`: {len(runs)} runs, seeds {seeds}, {r0['budget']} training steps "
            f"per run, {len(r0['eval_steps'])} evaluation point(s) of {eps_text} "
            "deterministic episode(s)."
        )
    else:
        lines.append(f"Source `{res.source}`: {len(_runs(res.rows))} runs, seeds {seeds}.")
    calls = m.get("calls") or []
    if calls and all(c.get("isolate") for c in calls if c.get("runs")):
        lines.append("Peak memory: per run (every run in a fresh process, `--isolate`).")
    else:
        lines.append(
            "Peak memory: the peak of the process during the run; without `--isolate` it can "
            "include memory kept from earlier runs of the same process."
        )
    if m.get("versions"):
        lines.append(
            "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(m["versions"].items())) + "."
        )
    return lines + [""]


def write_report(
    paths: Sequence[str | Path], out: str | Path, title: str = "rlcore benchmark report"
) -> Path:
    """Write ``out/report.md`` and its PNG plots for one or more results folders / files.

    Returns:
        The path of the Markdown file.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = [load_results(p) for p in paths]
    md = [
        f"# {title}",
        "",
        "Generated by `rlcore bench report " + " ".join(str(p) for p in paths) + "`.",
        "",
    ]
    for res in loaded:
        md += _header(res)
        runs = _runs(res.rows)
        final = _final(runs)
        for (suite, env), env_final in sorted(_by(final, "suite", "env").items()):
            ns = sorted({r["n"] for r in env_final})
            if len(ns) > 1:
                md += [f"### {env}: seconds per step against the number of actions", ""]
                md += _scaling_table(env_final)
                png = plot_scaling(
                    env_final,
                    f"{env}: seconds per step",
                    out / f"{_slug(suite, env, 'scaling')}.png",
                )
                md += ["", f"![{env} scaling]({png.name})", ""]
                continue
            md += [f"### {env} (n = {ns[0]} actions)", ""]
            md += _single_n_table(env_final)
            env_runs = {
                k: v for k, v in runs.items() if v[0]["env"] == env and v[0]["suite"] == suite
            }
            if max(len(v) for v in env_runs.values()) > 1:
                png = plot_learning_curves(
                    env_runs, f"{env} (n = {ns[0]})", out / f"{_slug(suite, env, 'curves')}.png"
                )
                md += ["", f"![{env} learning curves]({png.name})"]
            metrics = _metrics_table(env_final)
            if metrics:
                md += ["", "Final metrics (mean ± 95% CI across seeds):", ""] + metrics
            for name, keys in _curve_metrics(env_final).items():
                png = plot_metric_curve(
                    env_final,
                    name,
                    keys,
                    f"{env}: {name} vs deadline",
                    out / f"{_slug(suite, env, name, 'deadline')}.png",
                )
                md += ["", f"![{env} {name} vs deadline]({png.name})"]
            md.append("")
    path = out / "report.md"
    tmp = out / ".report.md.tmp"
    tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


README_BEGIN = "<!-- rlcore-bench:begin -->"
README_END = "<!-- rlcore-bench:end -->"


def embed_in_readme(report: str | Path, readme: str | Path) -> Path:
    """Copy the Markdown report ``report`` into ``readme`` between the two marker lines.

    The markers are ``<!-- rlcore-bench:begin -->`` and ``<!-- rlcore-bench:end -->``; what
    stands between them is replaced. Headings move down below the README heading that holds
    the markers (under a ``##`` heading the report's ``#`` title becomes ``###``), and image
    links are rewritten relative to the README's folder. The README is rewritten atomically.

    Raises:
        ResultsError: the README lacks the markers (one of them, or in the wrong order).
    """
    report, readme = Path(report), Path(readme)
    text = readme.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ResultsError(
            f"{readme}: expected the lines {README_BEGIN!r} and then {README_END!r} around the "
            "results section"
        )
    rel = Path(os_relpath(report.parent, readme.parent))
    body = report.read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", text[:begin], flags=re.MULTILINE | re.DOTALL)
    levels = re.findall(r"^(#+) ", prose, flags=re.MULTILINE)  # headings, not code comments
    shift = "#" * (len(levels[-1]) if levels else 0)
    body = re.sub(r"^(#+) ", rf"{shift}\1 ", body, flags=re.MULTILINE)
    body = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({(rel / m.group(1)).as_posix()})", body)
    new = text[: begin + len(README_BEGIN)] + "\n" + body.rstrip("\n") + "\n" + text[end:]
    tmp = readme.with_name(f".{readme.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(readme)
    return readme
