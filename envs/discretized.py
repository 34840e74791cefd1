"""Any continuous-action environment as a large discrete-action one, with action coordinates.

Built on Gymnasium's own :class:`gymnasium.wrappers.DiscretizeAction` (uniform bins, bin centres,
C-order flattening of the per-dimension bins into one ``Discrete`` space). The thin subclass
:class:`CoordinateDiscretizeAction` also *exposes* each discrete action's continuous coordinates,
which the state-action Q-networks of :class:`rlcore.StochDQN` use as action features:

* ``env.get_wrapper_attr("action_grid")`` -> ``{"low": (d,), "high": (d,), "bins": (d,)}``
* ``env.get_wrapper_attr("action_coordinates")(actions)`` -> float array ``actions.shape + (d,)``

Register your own (any Gymnasium id whose action space is a bounded ``Box``)::

    import gymnasium as gym
    import rlcore.envs

    rlcore.envs.register_discretized("MyDiscreteReacher-v0", "Reacher-v5", bins=100)
    env = gym.make("MyDiscreteReacher-v0")  # Discrete(100**2) actions, render_mode etc. pass on

Registered by the package (see :mod:`rlcore.envs`): ``rlcore/DiscreteInvertedPendulum-v0``
(1000 actions), ``rlcore/DiscreteHalfCheetah-v0`` (4 levels per joint, 4**6 = 4096 actions),
``rlcore/DiscretePendulum-v0`` (Pendulum-v1, no MuJoCo; 1000 actions by default). The number of
bins is a keyword argument: ``gym.make("rlcore/DiscreteHalfCheetah-v0", bins=3)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import DiscretizeAction

from rlcore.common.checks import check_action

__all__ = [
    "CoordinateDiscretizeAction",
    "make_discretized",
    "register_discretized",
    "MAX_BINS_PER_DIM",
    "MAX_ACTIONS",
]

MAX_BINS_PER_DIM = 10**7
"""Largest number of bins in one dimension (the wrapper stores every bin centre)."""
MAX_ACTIONS = 2**62
"""Largest number of discrete actions (the product of the bins)."""


def _check_bins(bins: Any, n_dims: int) -> tuple[int, ...]:
    """``bins`` (an int, or one int per action dimension) as a tuple of ``n_dims`` ints."""
    flat = list(bins) if isinstance(bins, tuple | list | np.ndarray) else [bins]
    ok = bool(flat) and all(
        not isinstance(b, bool) and isinstance(b, int | np.integer) and 1 <= b <= MAX_BINS_PER_DIM
        for b in flat
    )
    if not ok:
        raise ValueError(
            f"bins must be a positive integer (at most {MAX_BINS_PER_DIM:.0e}) or a tuple of "
            f"them, one per action dimension; got {bins!r}"
        )
    if len(flat) == 1:
        flat = flat * n_dims
    if len(flat) != n_dims:
        raise ValueError(
            f"bins has {len(flat)} entries but the action space has {n_dims} dimensions; got {bins!r}"
        )
    out = tuple(int(b) for b in flat)
    total = 1
    for b in out:
        total *= b
    if total > MAX_ACTIONS:
        raise ValueError(f"bins {out} give {total} actions, more than {MAX_ACTIONS} (2**62)")
    return out


class CoordinateDiscretizeAction(DiscretizeAction):
    """:class:`~gymnasium.wrappers.DiscretizeAction` (flat ``Discrete`` mode) that also exposes
    the continuous coordinates (bin centres) of every discrete action.

    Args:
        env: an environment with a bounded ``Box`` action space.
        bins: bins per dimension: an integer (the same for every dimension) or one integer per
            dimension, each in ``[1, 10**7]``, their product at most ``2**62``.
    """

    def __init__(self, env: gym.Env, bins: int | tuple[int, ...]) -> None:
        space = env.action_space
        if not isinstance(space, spaces.Box):
            raise ValueError(
                f"only an environment with a Box action space can be discretized; "
                f"{env.spec.id if env.spec else env!r} has {space!r}"
            )
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ValueError(
                f"the Box action space must be bounded to be discretized, got low={space.low}, "
                f"high={space.high}"
            )
        bins = _check_bins(bins, int(np.prod(space.shape, dtype=np.int64)))
        super().__init__(env, bins=bins, multidiscrete=False)
        self._strides = np.r_[np.cumprod(self.bins[::-1])[:-1][::-1], 1].astype(np.int64)
        self._centers = [np.asarray(c, dtype=np.float64) for c in self.bin_centers]

    def action(self, act: Any) -> np.ndarray:
        """The continuous action (bin centres) of the discrete action ``act``.

        Raises:
            ValueError: ``act`` is not one integer in ``[0, n)`` (Gymnasium's wrapper would
                index out of range or clip it silently).
        """
        return super().action(check_action(act, int(self.action_space.n)))

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


def make_discretized(base_id: str, bins: int | tuple[int, ...] = 10, **kwargs: Any) -> gym.Env:
    """``gym.make(base_id, **kwargs)`` with its ``Box`` actions discretized into ``bins``.

    Args:
        base_id: a registered Gymnasium id (or an ``EnvSpec``) with a bounded ``Box`` action space.
        bins: bins per action dimension (see :class:`CoordinateDiscretizeAction`).
        **kwargs: passed to ``gym.make`` of the base environment (``render_mode``,
            ``max_episode_steps``, the environment's own arguments...).

    Returns:
        the base environment (with its own wrappers, e.g. its ``TimeLimit``) wrapped in
        :class:`CoordinateDiscretizeAction`: ``Discrete(prod(bins))`` actions.
    """
    return CoordinateDiscretizeAction(gym.make(base_id, **kwargs), bins)


def register_discretized(
    id: str,
    base_id: str,
    bins: int | tuple[int, ...] = 10,
    **kwargs: Any,
) -> None:
    """Register ``id`` as ``base_id`` with its ``Box`` actions discretized into ``bins``.

    After this, ``gym.make(id)``, ``gym.make_vec(id)`` and SB3's ``make_vec_env(id)`` (also in
    subprocesses: the registration is a string entry point plus keyword arguments) give
    :func:`make_discretized` ``(base_id, bins, **kwargs)``; keyword arguments of ``gym.make(id,
    ...)`` override ``kwargs`` (``gym.make(id, bins=5)`` changes the bins). The discrete actions
    carry their continuous coordinates for the networks (``action_grid``,
    ``action_coordinates``; see :class:`CoordinateDiscretizeAction`).

    Args:
        id: the new id, e.g. ``"MyDiscreteReacher-v0"`` or ``"myproject/Reacher-v0"``.
        base_id: a registered Gymnasium id whose action space is a bounded ``Box``.
        bins: bins per action dimension: an integer or one per dimension.
        **kwargs: default arguments of the base environment (passed to its ``gym.make``).

    Raises:
        ValueError: ``id`` is already registered, ``base_id`` is not, or ``bins`` is invalid.
    """
    if not isinstance(id, str) or not id:
        raise ValueError(f"id must be a non-empty string, got {id!r}")
    if id in gym.registry:
        raise ValueError(f"{id!r} is already registered; choose another id")
    if not isinstance(base_id, str) or base_id not in gym.registry:
        raise ValueError(f"base_id must be a registered Gymnasium id, got {base_id!r}")
    _check_bins(bins, len(bins) if isinstance(bins, tuple | list) else 1)
    gym.register(
        id=id,
        entry_point="rlcore.envs.discretized:make_discretized",
        kwargs={"base_id": base_id, "bins": bins, **kwargs},
    )


def make_discrete_inverted_pendulum(bins: int = 1000, **kwargs: Any) -> gym.Env:
    """InvertedPendulum-v5 (force in [-3, 3]) with ``bins`` discrete actions (default 1000)."""
    return make_discretized("InvertedPendulum-v5", bins, **kwargs)


def make_discrete_half_cheetah(bins: int | tuple[int, ...] = 4, **kwargs: Any) -> gym.Env:
    """HalfCheetah-v5 with ``bins`` levels per joint (default 4 -> 4**6 = 4096 actions)."""
    return make_discretized("HalfCheetah-v5", bins, **kwargs)


def make_discrete_pendulum(bins: int = 1000, **kwargs: Any) -> gym.Env:
    """Pendulum-v1 (torque in [-2, 2]) with ``bins`` discrete actions (default 1000)."""
    return make_discretized("Pendulum-v1", bins, **kwargs)
