"""``rlcore bench report RESULTS``: a Markdown summary and PNG plots of benchmark results.

For each results folder (or file) and each environment:

* environments run at one action count: a table of the final evaluation return (mean and 95%
  bootstrap confidence interval across seeds), the training seconds per step, the speed-up
  over SB3 DQN (its seconds per step divided by the algorithm's) and the return difference to
  it, the peak memory; and the learning curves (mean and 95% bootstrap band across seeds,
  faceted by family when there are many algorithms);
* environments run at several action counts in a scaling suite
  (:data:`rlcore.bench.suites.SCALING_VIEW`): a table of seconds per step against ``n`` with
  speed-ups over SB3 DQN, and a log-log plot; in other suites (e.g. ``paper``: HalfCheetah at
  4096 and 10^6 actions) one section per action count, as above;
* extra metrics (``metrics`` column): a table of their final values; metrics named
  ``<name>@<x>`` (e.g. ``accuracy@6h`` for rumour detection) are also plotted against ``x``;
* a timing suite's folder (:mod:`rlcore.bench.timing`): milliseconds against ``n`` and the
  target ratios; a protocol suite's folder (:mod:`rlcore.bench.rumour_protocol`): test
  metrics of every method per split.

Statistics live in :mod:`rlcore.bench.stats`, tables in :mod:`rlcore.bench.markdown`, plots in
:mod:`rlcore.bench.plots`; this module reads results and puts the report together.

Results are read strictly (:func:`rlcore.bench.store.read_rows`); with a ``manifest.json``
next to them, every planned run must be present, so an unfinished or damaged results folder
gives an error rather than a partial table.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from os.path import relpath as os_relpath
from pathlib import Path
from typing import Any

from rlcore.bench.markdown import metrics_table, scaling_table, single_n_table
from rlcore.bench.plots import curve_metrics, plot_learning_curves, plot_metric_curve, plot_scaling
from rlcore.bench.runner import MANIFEST
from rlcore.bench.stats import bootstrap_ci, final_points, group_by, group_runs
from rlcore.bench.store import ResultsError, Row, read_rows, replace_atomically
from rlcore.bench.suites import SCALING_VIEW

__all__ = ["README_BEGIN", "README_END", "Results", "bootstrap_ci", "embed_in_readme",
           "load_results", "write_report"]  # fmt: skip


def _slug(*parts: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(str(p) for p in parts)).strip("_")


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
        budgets = sorted({r["budget"] for r in runs})  # groups may have budgets of their own
        budget = str(budgets[0]) if len(budgets) == 1 else f"{budgets[0]}-{budgets[-1]}"
        lines.append(
            f"Source `{res.source}`: {len(runs)} runs, seeds {seeds}, {budget} training steps "
            f"per run, {len(r0['eval_steps'])} evaluation point(s) of {eps_text} "
            "deterministic episode(s)."
        )
    else:
        lines.append(f"Source `{res.source}`: {len(group_runs(res.rows))} runs, seeds {seeds}.")
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


def _learning_section(
    final: list[Row], runs: dict[str, list[Row]], env: str, n: int, slug: str, out: Path
) -> list[str]:
    """The report of one env at one action count: final returns, learning curves, final
    values of the extra metrics and metric-vs-deadline curves."""
    md = [f"### {env} (n = {n} actions)", ""]
    md += single_n_table(final)
    if max(len(v) for v in runs.values()) > 1:
        png = plot_learning_curves(runs, f"{env} (n = {n})", out / f"{slug}_curves.png")
        md += ["", f"![{env} learning curves]({png.name})"]
    metrics = metrics_table(final)
    if metrics:
        md += ["", "Final metrics (mean [95% bootstrap CI] across seeds):", ""] + metrics
    for name, keys in curve_metrics(final).items():
        png = plot_metric_curve(
            final, name, keys, f"{env}: {name} vs deadline", out / f"{slug}_{name}_deadline.png"
        )
        md += ["", f"![{env} {name} vs deadline]({png.name})"]
    md.append("")
    return md


def write_report(
    paths: Sequence[str | Path], out: str | Path, title: str = "rlcore benchmark report"
) -> Path:
    """Write ``out/report.md`` and its PNG plots for one or more results folders / files.

    Returns:
        The path of the Markdown file.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from rlcore.bench.rumour_protocol import is_protocol_folder, protocol_report
    from rlcore.bench.timing import is_timing_folder, timing_report

    special = {
        i: timing_report if is_timing_folder(p) else protocol_report
        for i, p in enumerate(paths)
        if is_timing_folder(p) or is_protocol_folder(p)
    }
    loaded = [None if i in special else load_results(p) for i, p in enumerate(paths)]
    md = [
        f"# {title}",
        "",
        "Generated by `rlcore bench report " + " ".join(str(p) for p in paths) + "`.",
        "",
    ]
    suite_count = Counter(s for res in loaded if res for s in {r["suite"] for r in res.rows})
    for i, (path, res) in enumerate(zip(paths, loaded, strict=True)):
        if res is None:  # a timing or protocol suite (rlcore.bench.timing, .rumour_protocol)
            md += special[i](path)
            continue
        md += _header(res)
        runs = group_runs(res.rows)
        final = final_points(runs)
        for (suite, env), env_final in sorted(group_by(final, "suite", "env").items()):
            # plot files are named by suite and env; a suite reported from several folders
            # (e.g. two budgets) adds the folder's name
            tag = suite if suite_count[suite] == 1 else f"{suite}_{res.source.parent.name}"
            ns = sorted({r["n"] for r in env_final})
            if len(ns) > 1 and suite in SCALING_VIEW:
                md += [f"### {env}: seconds per step against the number of actions", ""]
                md += scaling_table(env_final)
                png = plot_scaling(
                    env_final,
                    f"{env}: seconds per step",
                    out / f"{_slug(tag, env, 'scaling')}.png",
                )
                md += ["", f"![{env} scaling]({png.name})", ""]
                continue
            for n in ns:  # one section per action count
                md += _learning_section(
                    [r for r in env_final if r["n"] == n],
                    {
                        k: v
                        for k, v in runs.items()
                        if (v[0]["env"], v[0]["suite"], v[0]["n"]) == (env, suite, n)
                    },
                    env,
                    n,
                    _slug(tag, env, *(["n", n] if len(ns) > 1 else [])),
                    out,
                )
    path = out / "report.md"
    replace_atomically(path, "\n".join(md) + "\n")
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
    replace_atomically(readme, new)
    return readme
