"""Input checks shared by the agents: clear errors naming the bad value and what was expected."""

from __future__ import annotations

import os

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


def check_table_fits(shape: tuple[int, ...], dtype: np.dtype, algorithm: str) -> None:
    """Raise MemoryError before allocating a table of ``shape`` that would not fit in memory."""
    nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    avail = available_memory_bytes()
    if nbytes > avail:
        raise MemoryError(
            f"{algorithm}: a Q-table of shape {shape} ({np.dtype(dtype).name}) needs "
            f"{nbytes / 2**30:.2f} GiB but only {avail / 2**30:.2f} GiB of memory is available; "
            "use fewer states or actions, dtype='float32', or a deep agent (rlcore.StochDQN)"
        )
