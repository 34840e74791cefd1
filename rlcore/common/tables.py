"""Large zero-initialized tables that commit memory page by page, with 4 KiB pages only.

``np.zeros`` of a large array is lazily committed too (the OS maps zero pages until the first
write), but numpy advises the kernel to back arrays of 4 MiB or more with *transparent huge
pages*: then the first write anywhere in a 2 MiB region commits (and zeroes) all 2 MiB. A tabular
agent writes one Q entry per step at a random place of an ``n``-wide row, so at ``n = 10**8`` every
step touched a fresh 2 MiB page (about 1 ms to zero it, and memory growing by 2 MiB per step).

:func:`lazy_zeros` maps anonymous memory itself and advises ``MADV_NOHUGEPAGE`` on it: a write
commits one 4 KiB page, so the resident memory of a table grows by **at most 4 KiB per written
entry** and never beyond the table's size.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["lazy_zeros", "LAZY_MIN_BYTES"]

LAZY_MIN_BYTES = 1 << 20
"""Below this size :func:`lazy_zeros` simply returns ``np.zeros`` (one MiB is nothing)."""


def lazy_zeros(shape: tuple[int, ...], dtype: np.dtype | str) -> np.ndarray:
    """A zero-filled, C-contiguous, writable array committed lazily in 4 KiB pages.

    Args:
        shape: the array's shape.
        dtype: its dtype.

    Returns:
        an ``ndarray`` backed by an anonymous memory map (``MADV_NOHUGEPAGE`` where the platform
        has it) for arrays of :data:`LAZY_MIN_BYTES` or more, else ``np.zeros(shape, dtype)``.
        The array pickles, copies and saves like any other.
    """
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if nbytes < LAZY_MIN_BYTES:
        return np.zeros(shape, dtype=dt)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if advice is not None:
        try:
            buf.madvise(advice)
        except OSError:  # pragma: no cover - kernels without transparent huge pages
            pass
    return np.frombuffer(buf, dtype=dt).reshape(shape)
