"""Safe, atomic checkpoints: one ``.npz`` file of named numeric arrays plus JSON metadata.

Safety: no Python object is ever unpickled on load. The reader below parses the ``.npz`` (a zip
of ``.npy`` entries) itself and accepts only numeric dtypes (bool, integers, floats), so loading a
checkpoint from an untrusted source cannot run code. Every problem with a file raises
:class:`CheckpointError` (a ``ValueError``) naming the file and what is wrong: not a zip, no or
invalid metadata, another algorithm's checkpoint, a newer format version, an entry of a
non-numeric dtype, a truncated or corrupt entry (CRC checked).

Atomicity: :func:`atomic_write` streams into a temporary file in the target's folder
(``.NAME.HOST.PID.XXXX.tmp``), fsyncs it, gives it the permissions of the file it replaces (a new
file gets the umask's default, not ``mkstemp``'s 0600), ``os.replace``-s it onto the final name
and fsyncs the folder, so the previous file survives any crash or write error (ENOSPC...). A
temporary file is removed on any exception; one left behind by a process that was killed
outright (SIGKILL cannot be caught) is removed by the next save or load of the same path, once its
process is gone.

Memory: saving streams each array into the file (numpy writes an entry in 16 MiB pieces), so a
save needs no second copy of the data; before writing, the free disk space is checked against
the size of the arrays. Loading can read an entry straight into a caller-provided zero-filled
buffer, skipping all-zero pieces (see ``allocate`` in :func:`load_checkpoint`), so a large,
mostly-zero table stays lazily committed after a load.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "atomic_write",
    "atomic_write_bytes",
    "save_checkpoint",
    "load_checkpoint",
    "remove_stale_temporaries",
]

FORMAT = "rlcore-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "__rlcore_meta__"
_NUMERIC_KINDS = "biuf"  # bool, signed / unsigned integers, floats
_MAX_META_BYTES = 64 * 2**20
_CHUNK_BYTES = 16 * 2**20
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _umask()

Allocator = Callable[[str, tuple[int, ...], np.dtype], "np.ndarray | None"]


class CheckpointError(ValueError):
    """A checkpoint file is missing something, malformed, or of another algorithm / version.

    The message starts with the file's path; ``path`` holds it too.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{str(self.path)!r}: {problem}")


def _with_suffix(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.suffix else p.with_suffix(".npz")


# ---------------------------------------------------------------------------- atomic write
def _temp_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(target.name)}\.{_HOST}\.(\d+)\.[^.]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that killed saves of ``path`` left behind.

    Only files named like this module's temporaries for ``path`` (``.NAME.HOST.PID.XXXX.tmp``),
    written on this host by a process that no longer exists, are removed.

    Returns:
        the paths removed.
    """
    target = Path(path)
    pattern = _temp_pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except FileNotFoundError:
                pass
    return removed


def _open_for_write(fd: int) -> IO[bytes]:
    """File object of a temporary file's descriptor (a seam for fault-injection tests)."""
    return os.fdopen(fd, "wb")


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - filesystems that refuse to fsync a folder
        pass
    finally:
        os.close(dfd)


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], None], size_hint: int = 0
) -> Path:
    """Create or replace ``path`` atomically with what ``write(file)`` writes.

    ``write`` streams into a temporary file in the same folder, which is then fsynced and
    renamed onto ``path`` (and the folder fsynced). On any exception the temporary file is
    removed and ``path`` is left as it was.

    Args:
        path: the file to create or replace; its folder is created if needed.
        write: called once with a binary file object open for writing.
        size_hint: bytes about to be written; when the folder's filesystem has less free space
            an ``OSError(ENOSPC)`` is raised before anything is written.

    Returns:
        ``path`` as a ``Path``.
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot save to {str(p)!r}: it is a folder")
    p.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(p)
    if size_hint > 0:
        free = shutil.disk_usage(p.parent).free
        if free < size_hint:
            raise OSError(
                errno.ENOSPC,
                f"not enough free disk space to save {str(p)!r}: about {size_hint / 2**20:.1f} "
                f"MiB needed, {free / 2**20:.1f} MiB free; the previous file is unchanged",
            )
    fd, tmp = tempfile.mkstemp(
        prefix=f".{p.name}.{_HOST}.{os.getpid()}.", suffix=".tmp", dir=p.parent
    )
    try:
        try:
            f = _open_for_write(fd)
        except BaseException:
            os.close(fd)
            raise
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600: give the file the permissions it had (or a new file's default)
        os.chmod(tmp, p.stat().st_mode & 0o7777 if p.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, p)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None and not exc.filename:
            raise OSError(
                exc.errno,
                f"could not write {str(p)!r}: {exc.strerror or exc}; the previous file is unchanged",
            ) from exc
        raise
    _fsync_dir(p.parent)
    return p


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data), size_hint=len(data))


# -------------------------------------------------------------------------------- save
def save_checkpoint(
    path: str | os.PathLike[str],
    algorithm: str,
    params: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    compress: bool = False,
) -> Path:
    """Save ``arrays`` and JSON-serializable ``params`` under ``algorithm``'s name, atomically.

    Args:
        path: target file; ``.npz`` is appended when it has no suffix.
        algorithm: name checked on load (e.g. ``"StochQLearning"``).
        params: hyper-parameters and other metadata (JSON types only).
        arrays: named numpy arrays of numeric dtypes (bool, integer, float).
        compress: deflate the entries (smaller files for sparse tables, slower).

    Returns:
        the path written.

    The arrays are streamed into the file (no in-memory copy of them is made).
    """
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "algorithm": algorithm, "params": params}
    blob = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    entries: dict[str, np.ndarray] = {_META_KEY: blob}
    for name, arr in arrays.items():
        if name == _META_KEY:
            raise ValueError(f"array name {name!r} is reserved")
        a = np.asarray(arr)
        if a.dtype.kind not in _NUMERIC_KINDS or a.dtype.hasobject:
            raise TypeError(
                f"array {name!r} has dtype {a.dtype}; only bool, integer and float arrays "
                "can be saved safely"
            )
        entries[name] = a
    size = sum(a.nbytes + 4096 for a in entries.values())
    saver = np.savez_compressed if compress else np.savez

    def write(f: IO[bytes]) -> None:
        saver(f, allow_pickle=False, **entries)

    return atomic_write(_with_suffix(path), write, size_hint=0 if compress else size)


# -------------------------------------------------------------------------------- load
def _read_header(p: Path, name: str, fp: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(p, f"entry {name!r} is not a valid .npy array: {exc}") from exc
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS:
        raise CheckpointError(
            p,
            f"entry {name!r} has dtype {dtype}; a checkpoint holds only bool, integer and float "
            "arrays (object arrays would need pickle, which is never used)",
        )
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _read_entry(
    p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, allocate: Allocator | None
) -> np.ndarray:
    name = info.filename[: -len(".npy")]
    with zf.open(info) as fp:
        shape, fortran, dtype = _read_header(p, name, fp)
        header_len = fp.tell()
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.file_size - header_len != nbytes:
            raise CheckpointError(
                p,
                f"entry {name!r} declares shape {shape} ({dtype}, {nbytes} bytes) but holds "
                f"{info.file_size - header_len} bytes: the file is truncated or corrupt",
            )
        out = allocate(name, shape, dtype) if allocate is not None and not fortran else None
        skip_zeros = out is not None
        if out is None:
            out = np.empty(shape[::-1] if fortran else shape, dtype=dtype.newbyteorder("="))
        flat = out.reshape(-1)  # a view: the buffers are C-contiguous
        per = max(1, _CHUNK_BYTES // max(dtype.itemsize, 1))
        try:
            for start in range(0, flat.size, per):
                stop = min(start + per, flat.size)
                want = (stop - start) * dtype.itemsize
                data = fp.read(want)
                if len(data) != want:
                    raise EOFError(f"entry ended after {start * dtype.itemsize + len(data)} bytes")
                piece = np.frombuffer(data, dtype=dtype)
                if skip_zeros:  # the buffer is zero-filled: write only the non-zero entries,
                    nz = np.flatnonzero(piece)  # so untouched pages stay uncommitted
                    flat[start + nz] = piece[nz]
                else:
                    flat[start:stop] = piece
            if fp.read(1):
                raise ValueError("entry has trailing bytes")
        except (EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise CheckpointError(p, f"entry {name!r} is truncated or corrupt: {exc}") from exc
    return out.T if fortran else out


def _read_meta(p: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(_META_KEY + ".npy")
    except KeyError:
        raise CheckpointError(p, "not an rlcore checkpoint: no metadata entry") from None
    if info.file_size > _MAX_META_BYTES:
        raise CheckpointError(p, f"metadata entry of {info.file_size} bytes is implausibly large")
    blob = _read_entry(p, zf, info, None)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise CheckpointError(
            p, f"metadata entry must be uint8 bytes, got {blob.dtype} {blob.shape}"
        )
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(p, f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(p, f"metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def load_checkpoint(
    path: str | os.PathLike[str],
    algorithm: str | None = None,
    *,
    check_params: Callable[[dict[str, Any]], None] | None = None,
    allocate: Allocator | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load a checkpoint written by :func:`save_checkpoint`, without unpickling anything.

    Args:
        path: the file (``.npz`` is tried when the path has no suffix and does not exist).
        algorithm: if given, the checkpoint must have been saved by this algorithm.
        check_params: optional ``check_params(params)`` called after the metadata checks and
            before any array is read; it may raise (e.g. a :class:`CheckpointError`).
        allocate: optional ``allocate(name, shape, dtype) -> array | None`` called (after the
            metadata checks) for each entry before it is read: it may refuse the entry (raise,
            e.g. a ``MemoryError`` or a ``CheckpointError`` for a wrong dtype) or return a
            **zero-filled**, C-contiguous array of that shape to read into (all-zero pieces of
            the entry are then skipped, so lazily committed pages stay uncommitted); ``None``
            lets the reader allocate.

    Returns:
        ``(params, arrays)``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) not an rlcore checkpoint, another algorithm's, a
            newer format version, non-numeric or corrupt entries; the message names the file.
    """
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = _with_suffix(p)
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, f"no checkpoint at {str(p)!r}", str(p))
    if p.is_dir():
        raise CheckpointError(p, "is a folder, not a checkpoint file")
    remove_stale_temporaries(p)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(p, f"not an rlcore checkpoint (.npz zip archive): {exc}") from exc
    with zf:
        meta = _read_meta(p, zf)
        if meta.get("format") != FORMAT:
            raise CheckpointError(p, f"not an rlcore checkpoint (format {meta.get('format')!r})")
        version = meta.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CheckpointError(p, f"format version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                p,
                f"format version {version} is newer than this rlcore reads ({FORMAT_VERSION}); "
                "upgrade rlcore to load it",
            )
        saved_by = meta.get("algorithm")
        if not isinstance(saved_by, str):
            raise CheckpointError(p, f"metadata names no algorithm (got {saved_by!r})")
        if algorithm is not None and saved_by != algorithm:
            raise CheckpointError(
                p,
                f"holds a {saved_by!r} checkpoint, not {algorithm!r}; load it with {saved_by}.load",
            )
        params = meta.get("params")
        if not isinstance(params, dict):
            raise CheckpointError(p, f"metadata has no 'params' object (got {params!r:.80})")
        if check_params is not None:
            check_params(params)
        arrays = {}
        for info in zf.infolist():
            if info.filename == _META_KEY + ".npy":
                continue
            if not info.filename.endswith(".npy") or info.is_dir():
                raise CheckpointError(p, f"unexpected entry {info.filename!r} (not a .npy array)")
            arrays[info.filename[: -len(".npy")]] = _read_entry(p, zf, info, allocate)
    return params, arrays
