"""Tidy benchmark results: one row per (run, evaluation point), in JSON Lines or CSV.

A row (:data:`FIELDS`, in this order):

========================  ==========================================================
``suite``                 suite name (``tabular``, ``scaling``, ``control``, ``rumour``)
``run_id``                ``"<algorithm>|<env>|n=<n>|seed=<seed>"``
``algorithm``             registry name of the algorithm (``StochQLearning``, ``SB3-DQN``, ...)
``env``                   environment label (the Gymnasium id without namespace)
``n``                     number of actions of the environment instance
``seed``                  seed of the run (agent, training env; the evaluation seed derives from it)
``point``                 index of the evaluation point, ``0 .. n_points - 1``
``n_points``              number of evaluation points of the run
``step``                  environment steps trained when evaluated
``return``                mean return over the deterministic evaluation episodes
``return_std``            standard deviation of those returns
``episodes``              number of evaluation episodes
``wall_time``             training wall-clock seconds up to ``step`` (evaluation time excluded)
``sec_per_step``          training seconds per environment step since the previous point
``peak_mem_mb``           peak resident memory (MiB) of the process running the run, up to ``step``
``metrics``               extra numbers of the suite, ``{name: float}`` (e.g. rumour ``accuracy``)
========================  ==========================================================

Reading is strict: a line that does not parse, a missing or ill-typed field, a duplicate
evaluation point, or a run whose points are not all present raises :class:`ResultsError` naming
the file and the line, so a damaged file never turns into a wrong table. Writes append whole
runs (one ``write`` of all of a run's rows, then ``fsync``; a failed write is truncated away);
:func:`recover_tail` removes what a crash in the middle of a write left, so a resume recovers
by itself; :func:`rewrite_rows` replaces the file atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rlcore.common.serialization import atomic_write

FIELDS: tuple[str, ...] = (
    "suite",
    "run_id",
    "algorithm",
    "env",
    "n",
    "seed",
    "point",
    "n_points",
    "step",
    "return",
    "return_std",
    "episodes",
    "wall_time",
    "sec_per_step",
    "peak_mem_mb",
    "metrics",
)
"""Columns of a results row, in file order."""

_STR = ("suite", "run_id", "algorithm", "env")
_INT = ("n", "seed", "point", "n_points", "step", "episodes")
_FLOAT = ("return", "return_std", "wall_time", "sec_per_step", "peak_mem_mb")

Row = dict[str, Any]


class ResultsError(ValueError):
    """A results file is malformed: the message names the file, the line and the problem."""


def results_format(path: str | Path) -> str:
    """``"jsonl"`` or ``"csv"`` from the file name's suffix; anything else is an error."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise ResultsError(f"{str(path)!r}: unknown results format {suffix!r}, expected .jsonl or .csv")


# ----------------------------------------------------------------------------- validation
def validate_row(row: Any, where: str) -> Row:
    """Check one row's fields and types; return it with canonical types.

    Args:
        row: a mapping read from a file (values may be strings when read from CSV).
        where: ``"file, line k"`` used in error messages.
    """
    if not isinstance(row, dict):
        raise ResultsError(f"{where}: expected an object with fields {list(FIELDS)}, got {row!r}")
    missing = [f for f in FIELDS if f not in row or row[f] in ("", None)]
    if missing:
        raise ResultsError(f"{where}: missing field(s) {missing}")
    extra = [f for f in row if f not in FIELDS]
    if extra:
        raise ResultsError(f"{where}: unknown field(s) {extra}; expected exactly {list(FIELDS)}")
    out: Row = {}
    for f in _STR:
        if not isinstance(row[f], str):
            raise ResultsError(f"{where}: field {f!r} must be a string, got {row[f]!r}")
        out[f] = row[f]
    for f in _INT:
        out[f] = _as_int(row[f], f, where)
    for f in _FLOAT:
        out[f] = _as_float(row[f], f, where)
    out["metrics"] = _as_metrics(row["metrics"], where)
    _check_ranges(out, where)
    # keep the file order of the fields
    return {f: out[f] for f in FIELDS}


def _as_int(value: Any, field: str, where: str) -> int:
    if isinstance(value, bool):
        raise ResultsError(f"{where}: field {field!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ResultsError(f"{where}: field {field!r} must be an integer, got {value!r}")


def _as_float(value: Any, field: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ResultsError(f"{where}: field {field!r} must be a finite number, got {value!r}")
    try:
        x = float(value)
    except ValueError:
        raise ResultsError(
            f"{where}: field {field!r} must be a finite number, got {value!r}"
        ) from None
    if not math.isfinite(x):
        raise ResultsError(f"{where}: field {field!r} must be a finite number, got {value!r}")
    return x


def _as_metrics(value: Any, where: str) -> dict[str, float]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ResultsError(
                f"{where}: field 'metrics' is not valid JSON ({e.msg}): {value!r}"
            ) from None
    if not isinstance(value, dict):
        raise ResultsError(
            f"{where}: field 'metrics' must be an object {{name: number}}, got {value!r}"
        )
    return {str(k): _as_float(v, f"metrics.{k}", where) for k, v in value.items()}


def _check_ranges(row: Row, where: str) -> None:
    checks = [
        ("n", row["n"] >= 1, ">= 1"),
        ("n_points", row["n_points"] >= 1, ">= 1"),
        ("point", 0 <= row["point"] < row["n_points"], f"in [0, n_points={row['n_points']})"),
        ("step", row["step"] >= 0, ">= 0"),
        ("episodes", row["episodes"] >= 1, ">= 1"),
        ("return_std", row["return_std"] >= 0, ">= 0"),
        ("wall_time", row["wall_time"] >= 0, ">= 0"),
        ("sec_per_step", row["sec_per_step"] >= 0, ">= 0"),
        ("peak_mem_mb", row["peak_mem_mb"] >= 0, ">= 0"),
    ]
    for field, ok, expected in checks:
        if not ok:
            raise ResultsError(f"{where}: field {field!r} must be {expected}, got {row[field]!r}")


def check_complete(rows: Sequence[Row], lines: Sequence[int], path: str | Path) -> None:
    """Every run has each of its ``n_points`` points exactly once, with consistent fields.

    Args:
        rows: validated rows.
        lines: file line number of each row (for the messages).
        path: the file (for the messages).
    """
    runs: dict[str, dict[int, int]] = {}
    first: dict[str, tuple[Row, int]] = {}
    for row, line in zip(rows, lines, strict=True):
        rid = row["run_id"]
        if rid not in first:
            first[rid] = (row, line)
        ref, ref_line = first[rid]
        for f in ("suite", "algorithm", "env", "n", "seed", "n_points"):
            if row[f] != ref[f]:
                raise ResultsError(
                    f"{path}, line {line}: run {rid!r} has {f}={row[f]!r} but {ref[f]!r} at line {ref_line}"
                )
        points = runs.setdefault(rid, {})
        if row["point"] in points:
            raise ResultsError(
                f"{path}, line {line}: duplicate evaluation point {row['point']} of run {rid!r} "
                f"(first at line {points[row['point']]})"
            )
        points[row["point"]] = line
    for rid, points in runs.items():
        n_points = first[rid][0]["n_points"]
        absent = sorted(set(range(n_points)) - set(points))
        if absent:
            raise ResultsError(
                f"{path}: run {rid!r} is missing evaluation point(s) {absent} of {n_points} "
                f"(its rows are at lines {sorted(points.values())}); the file is incomplete or "
                "was edited: delete the run's rows and rerun `rlcore bench run` to redo it"
            )


# ------------------------------------------------------------------------------- reading
def read_rows(path: str | Path) -> list[Row]:
    """Read and validate a whole results file (``.jsonl`` or ``.csv``).

    Returns:
        The rows in file order, with canonical Python types.

    Raises:
        FileNotFoundError: no such file.
        ResultsError: a malformed line or an incomplete run (message: file, line, problem).
    """
    path = Path(path)
    fmt = results_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    rows, lines = _parse_jsonl(text, path) if fmt == "jsonl" else _parse_csv(text, path)
    check_complete(rows, lines, path)
    return rows


def _parse_jsonl(text: str, path: Path) -> tuple[list[Row], list[int]]:
    rows, lines = [], []
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise ResultsError(f"{path}, line {k}: empty line (a row is missing or was cut)")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ResultsError(
                f"{path}, line {k}: not valid JSON ({e.msg}): {line[:120]!r}"
            ) from None
        rows.append(validate_row(obj, f"{path}, line {k}"))
        lines.append(k)
    if text and not text.endswith("\n"):
        raise ResultsError(
            f"{path}, line {len(lines)}: the last line is not terminated (cut write?)"
        )
    return rows, lines


def _parse_csv(text: str, path: Path) -> tuple[list[Row], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    header = next(reader, None)
    if header is None:
        return rows, lines
    if tuple(header) != FIELDS:
        raise ResultsError(
            f"{path}, line 1: header {header} differs from the expected {list(FIELDS)}"
        )
    for cells in reader:
        k = reader.line_num
        if len(cells) != len(FIELDS):
            raise ResultsError(
                f"{path}, line {k}: {len(cells)} cells, expected {len(FIELDS)} ({', '.join(FIELDS)})"
            )
        rows.append(validate_row(dict(zip(FIELDS, cells, strict=True)), f"{path}, line {k}"))
        lines.append(k)
    if text and not text.endswith("\n"):
        raise ResultsError(
            f"{path}, line {reader.line_num}: the last line is not terminated (cut write?)"
        )
    return rows, lines


# ------------------------------------------------------------------------------- writing
def _encode(rows: Iterable[Row], fmt: str, header: bool) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps({f: row[f] for f in FIELDS}) + "\n" for row in rows)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(FIELDS)
    for row in rows:
        writer.writerow([json.dumps(row[f]) if f == "metrics" else row[f] for f in FIELDS])
    return buf.getvalue()


def append_rows(path: str | Path, rows: Sequence[Row]) -> None:
    """Append the rows of one finished run in a single write, then flush to disk.

    Rows are validated first (an invalid row is never written). A new CSV file gets its header.
    The write is all or nothing as far as this process can tell: if it fails (a full disk,
    ``ENOSPC``; an I/O error) the file is truncated back to its previous size and the error is
    raised with the file's name. A crash in the middle of the write can still leave a cut last
    line; :func:`recover_tail` removes it when the run resumes.

    Raises:
        OSError: the write failed (the message names the file; the file is as before).
    """
    path = Path(path)
    fmt = results_format(path)
    rows = [validate_row(r, f"row to write to {path}") for r in rows]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        data = memoryview(_encode(rows, fmt, header=size == 0).encode("utf-8"))
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError as e:
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
                state = f"the file was restored to its previous {size} bytes"
            except OSError:
                state = "the cut rows are removed when the run resumes"
            raise OSError(
                e.errno,
                f"writing {len(rows)} row(s) of run {rows[0]['run_id'] if rows else '?'!r} to "
                f"{path} failed: {e.strerror or e}; {state}; free space and rerun the same "
                "command to resume",
            ) from e
    finally:
        os.close(fd)


def recover_tail(path: str | Path) -> str | None:
    """Remove what a write cut by a crash left at the end of a results file.

    Rows are appended one run per write, so a crash (``kill -9``, power loss, a full disk in
    another process) can only damage the end of the file: an unterminated last line, and
    complete rows of a run whose other points never made it. Exactly those are removed (the
    file is truncated); the run is then redone by the resume. Damage anywhere else is not the
    trace of a cut write and is left for :func:`read_rows` to report.

    Returns:
        A description of what was removed, or None when the file ended cleanly.
    """
    path = Path(path)
    fmt = results_format(path)
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # end of the last complete line
    cut = len(data) - end
    lines = data[:end].split(b"\n")[:-1]
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    first = 1 if fmt == "csv" and lines else 0  # CSV header
    # the trailing block of lines that belong to one run, and whether that run is incomplete
    block: list[Row] = []
    for k in range(len(lines) - 1, first - 1, -1):
        try:
            text = lines[k].decode("utf-8")
            rows, _ = (
                _parse_jsonl(text + "\n", path)
                if fmt == "jsonl"
                else _parse_csv(",".join(FIELDS) + "\n" + text + "\n", path)
            )
        except (ResultsError, UnicodeDecodeError):
            break
        if not rows or (block and rows[0]["run_id"] != block[0]["run_id"]):
            break
        block.insert(0, rows[0])
    start = len(lines) - len(block)
    drop_rows = 0
    if block:
        rid, n_points = block[0]["run_id"], block[0]["n_points"]
        earlier = 0
        for line in lines[first:start]:
            earlier += int(f'"{rid}"'.encode() in line or f",{rid},".encode() in line)
        if earlier == 0 and len({r["point"] for r in block}) < n_points:
            drop_rows = len(block)
    if not cut and not drop_rows:
        return None
    keep = offsets[len(lines) - drop_rows]
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    what = []
    if drop_rows:
        what.append(f"{drop_rows} row(s) of the unfinished run {block[0]['run_id']!r}")
    if cut:
        what.append(f"an unterminated last line of {cut} byte(s)")
    return f"{path}: removed what a cut write left: {' and '.join(what)}; the run is redone"


def replace_atomically(path: Path, data: str) -> None:
    """Write ``data`` (UTF-8 text) to ``path`` atomically with the package's one atomic writer,
    :func:`rlcore.common.serialization.atomic_write` (temporary file, fsync, rename, folder
    fsync; the replaced file's permissions kept; the temporary file removed on failure)."""
    encoded = data.encode("utf-8")
    atomic_write(path, lambda f: f.write(encoded), size_hint=len(encoded))


def rewrite_rows(path: str | Path, rows: Sequence[Row]) -> None:
    """Replace the file's content with ``rows`` atomically (write a temporary file, rename)."""
    path = Path(path)
    fmt = results_format(path)
    rows = [validate_row(r, f"row to write to {path}") for r in rows]
    replace_atomically(path, _encode(rows, fmt, header=True))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    replace_atomically(Path(path), json.dumps(obj, indent=2, sort_keys=True) + "\n")


def prepare_folder(out: str | Path) -> Path:
    """Create the results folder ``out`` if needed; a clear :class:`ResultsError` when it is a
    file or cannot be created (whether it is writable is checked by taking its lock)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ResultsError(
            f"--out {str(out)!r} is a file, not a folder: give a folder for the results "
            "(it is created if needed)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(
            f"cannot create the results folder {str(out)!r}: {e.strerror or e}"
        ) from None
    return out


def folder_kind(path: str | Path) -> str | None:
    """The ``"kind"`` of the results folder ``path`` (``"timing"``, ``"protocol"``), read from
    its ``manifest.json``; ``None`` for a learning suite's folder, a file, or an unreadable
    manifest (its reader then gives the clear error)."""
    manifest = Path(path) / "manifest.json"
    if not Path(path).is_dir() or not manifest.exists():
        return None
    try:
        obj = json.loads(manifest.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    return kind if isinstance(kind, str) else None


def read_json_lines(file: Path) -> list[tuple[int, Any]]:
    """``(line number, object)`` of each non-blank line of a JSON-lines file.

    Raises:
        ResultsError: a line that is not valid JSON, named by file and line.
    """
    out = []
    for i, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            raise ResultsError(f"{file}, line {i}: not valid JSON ({e.msg})") from None
    return out
