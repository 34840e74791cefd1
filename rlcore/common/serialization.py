"""Safe, atomic checkpoints: one ``.npz`` file of named arrays plus JSON metadata.

No Python object is ever unpickled on load (``allow_pickle=False``), so loading a checkpoint
from an untrusted source cannot run code. Saves write to a temporary file in the target folder
and ``os.replace`` it onto the final name, so a crash mid-save never leaves a truncated file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "rlcore-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "__rlcore_meta__"


def _with_suffix(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.suffix else p.with_suffix(".npz")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: str,
    params: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
) -> Path:
    """Save ``arrays`` and JSON-serializable ``params`` under ``algorithm``'s name.

    Args:
        path: target file; ``.npz`` is appended when it has no suffix.
        algorithm: name checked on load (e.g. ``"StochQLearning"``).
        params: hyper-parameters and other metadata (JSON types only).
        arrays: named numpy arrays (numeric dtypes only).

    Returns:
        the path written.
    """
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "algorithm": algorithm, "params": params}
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    for name, arr in arrays.items():
        if name == _META_KEY:
            raise ValueError(f"array name {name!r} is reserved")
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved safely")
    buf = io.BytesIO()
    np.savez(buf, **{_META_KEY: blob}, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(_with_suffix(path), buf.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], algorithm: str | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file (``.npz`` is tried when the path has no suffix and does not exist).
        algorithm: if given, the checkpoint must have been saved by this algorithm.

    Returns:
        ``(params, arrays)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an rlcore checkpoint, or saved by another algorithm.
    """
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = _with_suffix(p)
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {str(p)!r}")
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{str(p)!r} is not an rlcore checkpoint (.npz): {exc}") from exc
    if _META_KEY not in arrays:
        raise ValueError(f"{str(p)!r} is not an rlcore checkpoint: no metadata entry")
    meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(p)!r} is not an rlcore checkpoint (format {meta.get('format')!r})")
    if algorithm is not None and meta.get("algorithm") != algorithm:
        raise ValueError(
            f"{str(p)!r} holds a {meta.get('algorithm')!r} checkpoint, not {algorithm!r}; "
            f"load it with {meta.get('algorithm')}.load"
        )
    return meta["params"], arrays
