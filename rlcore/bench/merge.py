"""``rlcore bench merge SRC [SRC ...] --into DST``: add the finished runs of other results folders
of the same suite and profile to one folder.

A results folder has one writer at a time, so runs made at the same time (two calls on one
machine, or on two machines) go to separate folders; merging gives one folder, one manifest and
one report, as if the runs had been added with ``--extend``.

Rules (checked before anything is written):

* every folder has a manifest of the same suite, profile and format;
* a source plans only finished runs (its manifest's runs all have their rows);
* a run planned in both must be specified identically (every field: budget, evaluation steps,
  hyper-parameters, env arguments); its rows in the destination are kept (the runs are seeded:
  their returns are the same, only the timing columns differ);
* the other runs of a source are appended to the destination's plan, in the source's order,
  with their rows; the source's calls are added to the destination's call log, marked with
  the folder they came from. Sources are not changed (each is locked while merging: its lock
  file is the only thing written there).

The destination's manifest and results file are each replaced atomically (results first, so an
interruption in between leaves rows the manifest does not plan yet, which merging the same
source again completes). Merging a source twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rlcore.bench.lock import FolderLock
from rlcore.bench.runner import MANIFEST, _read_manifest, manifest_differences, results_path
from rlcore.bench.store import ResultsError, read_rows, rewrite_rows, write_json_atomic

__all__ = ["merge_results"]


def _manifest(folder: Path) -> dict[str, Any]:
    manifest = _read_manifest(folder)  # the runner's reader: clear errors for bad JSON
    if manifest is None:
        raise ResultsError(
            f"{folder} has no {MANIFEST}: not a results folder of `rlcore bench run`"
        )
    if manifest.get("kind") == "timing":
        raise ResultsError(f"{folder} holds a timing suite's results: they are not merged")
    return manifest


def _runs(folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    runs = manifest.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and "run_id" in r for r in runs):
        raise ResultsError(f"{folder / MANIFEST}: no list of planned runs ('runs') with run ids")
    return runs


def _rows(folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    path = results_path(folder, manifest.get("format", "jsonl"))
    return read_rows(path) if path.exists() else []


def merge_results(sources: Sequence[str | Path], into: str | Path) -> dict[str, int]:
    """Merge the finished runs of ``sources`` into the results folder ``into``.

    Returns:
        ``{"added": runs added, "kept": runs already in the destination}``.

    Raises:
        ResultsError: another suite / profile / format, a run specified differently, an
            unfinished run in a source, a damaged file, a folder in use.
    """
    dst = Path(into)
    srcs: list[Path] = []
    for s in map(Path, sources):  # each folder once
        if all(s.resolve() != t.resolve() for t in srcs):
            srcs.append(s)
    if not srcs:
        raise ValueError("give at least one results folder to merge")
    if any(s.resolve() == dst.resolve() for s in srcs):
        raise ResultsError(f"{dst} is both a source and the destination")
    with ExitStack() as stack:
        for folder in (dst, *srcs):
            if not folder.is_dir():
                raise ResultsError(f"no results folder {str(folder)!r}")
            stack.enter_context(FolderLock(folder))
        manifest = _manifest(dst)
        rows = _rows(dst, manifest)
        planned = {r["run_id"]: r for r in _runs(dst, manifest)}
        done = {r["run_id"] for r in rows}
        unplanned = sorted(done - set(planned))
        added = kept = 0
        changed = False
        for src in srcs:
            other = _manifest(src)
            keys = ("suite", "profile", "format")
            head = manifest_differences(
                {k: manifest.get(k) for k in keys}, {k: other.get(k) for k in keys}
            )
            if head:
                raise ResultsError(f"{src} cannot merge into {dst}: " + "; ".join(head))
            src_rows = _rows(src, other)
            src_done = {r["run_id"] for r in src_rows}
            unfinished = [r["run_id"] for r in _runs(src, other) if r["run_id"] not in src_done]
            if unfinished:
                raise ResultsError(
                    f"{src}: {len(unfinished)} planned run(s) without results (e.g. "
                    f"{unfinished[:3]}); finish them before merging"
                )
            shared = [r for r in other["runs"] if r["run_id"] in planned]
            diff = manifest_differences(
                {"runs": [planned[r["run_id"]] for r in shared]}, {"runs": shared}
            )
            if diff:
                raise ResultsError(
                    f"{src} plans runs of {dst} with other settings:\n  " + "\n  ".join(diff)
                )
            before = (added, len(rows))
            for run in other["runs"]:
                rid = run["run_id"]
                if rid in planned and rid in done:
                    kept += 1
                    continue
                if rid not in planned:  # (its rows may be there from an interrupted merge)
                    planned[rid] = run
                    manifest["runs"].append(run)
                    added += 1
                if rid not in done:
                    rows += [r for r in src_rows if r["run_id"] == rid]
                    done.add(rid)
            if (added, len(rows)) != before:  # the source's call log, once
                calls = [c | {"merged_from": str(src)} for c in other.get("calls", [])]
                manifest["calls"] = [*manifest.get("calls", []), *calls]
                changed = True
        still = [rid for rid in unplanned if rid not in planned]
        if still:
            raise ResultsError(
                f"{results_path(dst, manifest.get('format', 'jsonl'))}: rows of runs that "
                f"{dst / MANIFEST} does not plan (e.g. {still[:3]}); merge again the folder they "
                "came from, or remove those rows"
            )
        if not changed and not unplanned:
            return {"added": 0, "kept": kept}  # nothing to add: the folder stays as it is
        order = {rid: i for i, rid in enumerate(planned)}
        path = results_path(dst, manifest.get("format", "jsonl"))
        rewrite_rows(path, sorted(rows, key=lambda r: (order[r["run_id"]], r["point"])))
        write_json_atomic(dst / MANIFEST, manifest)
    return {"added": added, "kept": kept}
