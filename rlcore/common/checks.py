"""Input checks shared by the agents: clear errors naming the bad value and what was expected."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from gymnasium import spaces


def require_discrete(space: spaces.Space, what: str, algorithm: str) -> spaces.Discrete:
    """Return ``space`` if it is ``Discrete`` with at least one element, else raise ValueError.

    Args:
        space: the observation or action space to check.
        what: ``"observation"`` or ``"action"`` (used in the message).
        algorithm: the algorithm's name (used in the message).
    """
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"{algorithm} needs a Discrete {what} space, got {space!r} "
            f"(type {type(space).__name__}); discretize it first, e.g. with "
            "gymnasium.wrappers.DiscretizeAction / DiscretizeObservation"
        )
    if int(space.n) < 1:
        raise ValueError(f"{algorithm}: the {what} space must have n >= 1, got n={space.n}")
    return space


def check_finite_rewards(rewards: np.ndarray, step: int) -> None:
    """Raise ValueError if any reward is NaN or infinite (``rewards``: shape ``(n_envs,)``)."""
    if not np.all(np.isfinite(rewards)):
        raise ValueError(
            f"the environment returned a non-finite reward {rewards.tolist()} at timestep {step}; "
            "rewards must be finite numbers"
        )


def available_memory_bytes() -> int:
    """Memory the OS reports as available now (``MemAvailable``), or total physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_table_fits(
    shape: tuple[int, ...], dtype: np.dtype, algorithm: str, extra_bytes: int = 0
) -> None:
    """Raise MemoryError before allocating a table of ``shape`` that would not fit in memory.

    ``extra_bytes`` counts whatever else the agent allocates with the table (its per-state
    memory, for instance). A table allocated lazily still has to fit: training may write to any
    of its pages.
    """
    nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize + extra_bytes
    avail = available_memory_bytes()
    if nbytes > avail:
        raise MemoryError(
            f"{algorithm}: a Q-table of shape {shape} ({np.dtype(dtype).name}) needs "
            f"{nbytes / 2**30:.2f} GiB but only {avail / 2**30:.2f} GiB of memory is available; "
            "use fewer states or actions, dtype='float32', or a deep agent (rlcore.StochDQN)"
        )


def check_action(action: Any, n: int) -> int:
    """Return ``action`` as an ``int`` if it is one integer action of ``Discrete(n)``.

    Accepts a Python or numpy integer (not a bool) or an integer numpy array holding one element
    (shape ``()`` or ``(1,)``, what some vectorized callers pass), in ``[0, n)``.

    Raises:
        ValueError: naming the action and the accepted range (a float such as ``1.5`` is refused,
            never truncated to another action).
    """
    value = action
    if isinstance(action, np.ndarray) and action.size == 1 and action.ndim <= 1:
        value = action.reshape(-1)[0]
    if not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer):
        a = int(value)
        if 0 <= a < n:
            return a
    raise ValueError(f"action must be an integer in [0, {n}), got {action!r}")


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``.

    Raises:
        ValueError: naming ``name``, the value and the accepted range.
    """
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer)
    if ok:
        value = int(value)
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def check_float(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number in the given interval.

    The interval is ``[low, high]``, open at either end with ``low_open`` / ``high_open``.
    NaN and infinities are always refused.

    Raises:
        ValueError: naming ``name``, the value and the accepted range.
    """
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if ok:
        v = float(value)
        ok = (
            math.isfinite(v)
            and (v > low if low_open else v >= low)
            and (v < high if high_open else v <= high)
        )
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)
