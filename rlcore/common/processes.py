"""Child processes that end with their parent (used by ``rlcore bench --jobs N`` workers).

Kept free of heavy imports: a spawned worker imports this module first, so the protection is
in place within a fraction of a second of the worker's start, before torch and SB3 load.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time


def end_with_parent(parent_pid: int, poll_seconds: float = 1.0) -> None:
    """Make this process exit when the process ``parent_pid`` (its parent) is gone.

    On Linux the kernel sends SIGTERM when the parent dies (``PR_SET_PDEATHSIG``); on every
    platform a daemon thread also checks the parent every ``poll_seconds`` and calls
    ``os._exit(1)`` once it has changed. SIGINT is ignored: Ctrl-C in a terminal reaches the
    whole process group, and the parent decides what its workers do (it terminates them).

    Args:
        parent_pid: the pid of the parent this process must not outlive.
        poll_seconds: interval of the watchdog's checks (> 0).
    """
    if poll_seconds <= 0:
        raise ValueError(f"poll_seconds must be > 0, got {poll_seconds!r}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(poll_seconds)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


__all__ = ["end_with_parent"]
