"""An exclusive lock on a results folder: one ``rlcore bench run`` writes into it at a time.

The lock is an operating-system lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on the
file ``.rlcore-bench.lock`` of the folder, so it is released by the kernel when its holder
ends, however it ends (``kill -9`` included): a lock of a dead process never blocks a later
run, and there is nothing to clean by hand. The file also holds who took it (pid, host, start
time, command line), which the refusal of a second run quotes.

On a network file system the lock works where the file system supports ``flock`` / byte-range
locks (NFSv4 and most cluster file systems do); the holder's host is named either way.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rlcore.bench.store import ResultsError

LOCK_NAME = ".rlcore-bench.lock"
"""Name of the lock file inside a results folder."""


class FolderLockedError(ResultsError):
    """Another process holds the results folder's lock (the message names it)."""


def _holder_text(info: dict[str, Any]) -> str:
    if not info:
        return "another process (it did not record who it is)"
    parts = [f"pid {info.get('pid', '?')} on host {info.get('host', '?')!r}"]
    if info.get("since"):
        parts.append(f"since {info['since']}")
    if info.get("command"):
        parts.append(f"command {info['command']!r}")
    return ", ".join(parts)


class FolderLock:
    """Exclusive, non-blocking lock on ``folder`` (use as a context manager).

    Args:
        folder: an existing, writable folder.

    Raises (from :meth:`acquire`):
        FolderLockedError: another live process holds it; the message names its pid and host.
        ResultsError: the lock file cannot be created (read-only or unwritable folder).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    # ------------------------------------------------------------------ platform layer
    @staticmethod
    def _try_lock(fd: int) -> bool:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError:
                return False
            return True
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    @staticmethod
    def _unlock(fd: int) -> None:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)

    # ------------------------------------------------------------------------- public
    def holder(self) -> dict[str, Any]:
        """What the lock file says about its (last) holder; ``{}`` if unreadable."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`FolderLockedError` at once (never waits)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this object")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ResultsError(
                f"cannot write to the results folder {str(self.folder)!r}: {e.strerror or e} "
                "(it must be a writable folder on a writable file system; choose another --out)"
            ) from None
        if not self._try_lock(fd):
            os.close(fd)
            raise FolderLockedError(
                f"the results folder {str(self.folder)!r} is in use by another `rlcore bench "
                f"run` ({_holder_text(self.holder())}); wait until it ends, then rerun the same "
                "command to run what is left, or choose another --out"
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv),
        }
        data = (json.dumps(info) + "\n").encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0) if hasattr(os, "pwrite") else os.write(fd, data)
        except OSError:
            pass  # the lock holds; only the holder's description is missing (full disk)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (a no-op if not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            self._unlock(fd)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


__all__ = ["LOCK_NAME", "FolderLock", "FolderLockedError"]
