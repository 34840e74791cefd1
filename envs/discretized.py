"""Continuous-control tasks with a discretized (flattened) action space.

Built on Gymnasium's own :class:`gymnasium.wrappers.DiscretizeAction` (uniform bins, bin centres,
C-order flattening of the per-dimension bins into one ``Discrete`` space). The thin subclass
:class:`CoordinateDiscretizeAction` only *exposes* each discrete action's continuous coordinates,
so that state-action Q-networks can use them as action features:

* ``env.get_wrapper_attr("action_grid")`` -> ``{"low": (d,), "high": (d,), "bins": (d,)}``
* ``env.get_wrapper_attr("action_coordinates")(actions)`` -> float array ``actions.shape + (d,)``

Registered ids (see :mod:`rlcore.envs`): ``rlcore/DiscreteInvertedPendulum-v0`` (1000 actions),
``rlcore/DiscreteHalfCheetah-v0`` (4 levels per joint, 4**6 = 4096 actions),
``rlcore/DiscretePendulum-v0`` (Pendulum-v1, no MuJoCo; 1000 actions by default). The number of
bins is a keyword argument: ``gym.make("rlcore/DiscreteHalfCheetah-v0", bins=3)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import DiscretizeAction


class CoordinateDiscretizeAction(DiscretizeAction):
    """:class:`~gymnasium.wrappers.DiscretizeAction` (flat ``Discrete`` mode) that also exposes
    the continuous coordinates (bin centres) of every discrete action."""

    def __init__(self, env: gym.Env, bins: int | tuple[int, ...]) -> None:
        if isinstance(bins, bool) or not all(
            isinstance(b, int | np.integer) and b >= 1 for b in np.atleast_1d(bins)
        ):
            raise ValueError(f"bins must be a positive integer or a tuple of them, got {bins!r}")
        super().__init__(env, bins=bins, multidiscrete=False)
        self._strides = np.r_[np.cumprod(self.bins[::-1])[:-1][::-1], 1].astype(np.int64)
        self._centers = [np.asarray(c, dtype=np.float64) for c in self.bin_centers]

    @property
    def action_grid(self) -> dict[str, list]:
        """``{"low": (d,), "high": (d,), "bins": (d,)}`` of the uniform grid of bin centres."""
        return {
            "low": [float(x) for x in self.low],
            "high": [float(x) for x in self.high],
            "bins": [int(b) for b in self.bins],
        }

    def action_coordinates(self, actions: Any) -> np.ndarray:
        """Continuous action of each discrete action: int array ``S`` -> float array ``S + (d,)``."""
        a = np.asarray(actions, dtype=np.int64)
        n = int(self.action_space.n)
        if a.size and (a.min() < 0 or a.max() >= n):
            raise ValueError(f"actions must lie in [0, {n}), got {actions!r}")
        idx = (a[..., None] // self._strides) % self.bins
        return np.stack([self._centers[j][idx[..., j]] for j in range(self.n_dims)], axis=-1)


def make_discrete_inverted_pendulum(bins: int = 1000, **kwargs: Any) -> gym.Env:
    """InvertedPendulum-v5 (force in [-3, 3]) with ``bins`` discrete actions (default 1000)."""
    return CoordinateDiscretizeAction(gym.make("InvertedPendulum-v5", **kwargs), bins)


def make_discrete_half_cheetah(bins: int | tuple[int, ...] = 4, **kwargs: Any) -> gym.Env:
    """HalfCheetah-v5 with ``bins`` levels per joint (default 4 -> 4**6 = 4096 actions)."""
    return CoordinateDiscretizeAction(gym.make("HalfCheetah-v5", **kwargs), bins)


def make_discrete_pendulum(bins: int = 1000, **kwargs: Any) -> gym.Env:
    """Pendulum-v1 (torque in [-2, 2]) with ``bins`` discrete actions (default 1000)."""
    return CoordinateDiscretizeAction(gym.make("Pendulum-v1", **kwargs), bins)
