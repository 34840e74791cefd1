"""TargetReach: a cheap environment with a huge discrete action space and a known optimal action.

The observation is a target point ``t`` in ``[-1, 1]^d`` (plus a little Gaussian noise); the
``n = bins**d`` actions are the centres of a regular ``bins x ... x bins`` grid over
``[-1, 1]^d``; the reward is ``-||x(a) - t||_2`` (``x(a)``: the coordinates of action ``a``).
A new target is drawn after every step, so the best action is the grid point nearest to the
target and the *regret* of a step, ``||x(a) - t|| - min_b ||x(b) - t||``, is reported in
``info["regret"]``.

Every step costs ``O(d)`` whatever ``n`` is (actions are decoded with integer division), so the
environment is a clean probe of how an agent's per-step cost grows with the number of actions.

>>> import gymnasium as gym, rlcore
>>> env = gym.make("rlcore/TargetReach-v0", n_actions=10**6, dim=2)  # 1000 x 1000 grid
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcore.common.checks import check_action, check_float, check_int

MAX_ACTIONS = 2**62
"""Largest ``n_actions`` (actions are int64 indices)."""


def _integer_root(n: int, dim: int) -> int | None:
    """``b`` with ``b**dim == n`` exactly, or None (integer arithmetic, exact for huge ``n``)."""
    if dim == 1:
        return n
    guess = round(n ** (1.0 / dim))
    for b in (guess - 1, guess, guess + 1):
        if b >= 1 and b**dim == n:
            return b
    return None


class TargetReachEnv(gym.Env[np.ndarray, np.int64]):
    """Reach a random target with one of ``n_actions`` grid points.

    Args:
        n_actions: number of actions ``n``, an integer in ``[2, 2**62]`` that is a perfect
            ``dim``-th power ``bins**dim``.
        dim: dimension ``d`` of the target / action space, an integer in ``[1, 62]``.
        obs_noise: standard deviation of the Gaussian noise added to the observed target, finite,
            in ``[0, 10]``.
        render_mode: None, ``"ansi"`` (``render()`` returns a line of text) or ``"rgb_array"``
            (a ``(128, 128, 3)`` uint8 picture of ``[-1, 1]^2``, the first two coordinates: the
            target green, the last action red; SB3's ``make_vec_env`` asks for it by default).

    Spaces:
        observation: ``Box(-2, 2, (d,), float32)``, the noisy target (clipped to ``[-2, 2]``).
        action: ``Discrete(n)``; action ``a`` is the grid point of multi-index
        ``np.unravel_index(a, (bins,) * d)`` (C order, last coordinate fastest).

    Info of every step: ``regret`` (float, ``>= 0``) and ``optimal_reward`` (float).
    Episodes never terminate; the registered id truncates them after 100 steps. ``reset``
    takes no options (any key is refused). Every invalid argument raises a ``ValueError`` naming
    it and the accepted range.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        n_actions: int = 1000,
        dim: int = 1,
        obs_noise: float = 0.01,
        render_mode: str | None = None,
    ) -> None:
        dim = check_int("dim", dim, 1, 62)
        n_actions = check_int("n_actions", n_actions, 2, MAX_ACTIONS)
        bins = _integer_root(n_actions, dim)
        if bins is None or bins < 2:
            raise ValueError(
                f"n_actions={n_actions} is not a perfect dim-th power (dim={dim}): "
                f"TargetReach needs n_actions = bins**dim with bins >= 2, e.g. "
                f"{max(2, round(n_actions ** (1 / dim))) ** dim}"
            )
        obs_noise = check_float("obs_noise", obs_noise, 0.0, 10.0)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None, 'ansi' or 'rgb_array', got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.n_actions = int(n_actions)
        self.dim = int(dim)
        self.bins = int(bins)
        self.obs_noise = float(obs_noise)
        self.observation_space = spaces.Box(-2.0, 2.0, shape=(self.dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        self._strides = self.bins ** np.arange(self.dim - 1, -1, -1, dtype=np.int64)
        self._target = np.zeros(self.dim)
        self._last: tuple[int, float] | None = None

    # --- action coordinates (used by state-action Q-networks) ---------------------------------
    @property
    def action_grid(self) -> dict[str, list]:
        """The action grid: ``{"low": (d,), "high": (d,), "bins": (d,)}``; action coordinates
        are bin centres ``low + (i + 0.5) * (high - low) / bins`` (C-order flattening)."""
        return {"low": [-1.0] * self.dim, "high": [1.0] * self.dim, "bins": [self.bins] * self.dim}

    def action_coordinates(self, actions: Any) -> np.ndarray:
        """Coordinates of actions: int array of any shape ``S`` -> float array ``S + (d,)``."""
        a = np.asarray(actions, dtype=np.int64)
        if a.size and (a.min() < 0 or a.max() >= self.n_actions):
            raise ValueError(f"actions must lie in [0, {self.n_actions}), got {actions!r}")
        idx = (a[..., None] // self._strides) % self.bins
        return -1.0 + (2.0 * idx + 1.0) / self.bins

    def optimal_action(self, target: np.ndarray) -> int:
        """The grid point nearest to ``target`` (a finite array of shape ``(d,)``)."""
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (self.dim,) or not np.all(np.isfinite(target)):
            raise ValueError(
                f"target must be a finite array of shape ({self.dim},), got {target!r}"
            )
        idx = np.clip(np.floor((target + 1.0) * self.bins / 2.0), 0, self.bins - 1)
        return int((idx.astype(np.int64) * self._strides).sum())

    # --- gymnasium API -------------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        noise = self.np_random.normal(0.0, self.obs_noise, self.dim) if self.obs_noise else 0.0
        return np.clip(self._target + noise, -2.0, 2.0).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; TargetReach takes none")
        self._target = self.np_random.uniform(-1.0, 1.0, self.dim)
        self._last = None
        return self._observe(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = check_action(action, self.n_actions)
        dist = float(np.linalg.norm(self.action_coordinates(a) - self._target))
        best = self.action_coordinates(self.optimal_action(self._target))
        best_dist = float(np.linalg.norm(best - self._target))
        info = {"regret": dist - best_dist, "optimal_reward": -best_dist}
        self._last = (a, info["regret"])
        self._target = self.np_random.uniform(-1.0, 1.0, self.dim)
        return self._observe(), -dist, False, False, info

    def render(self) -> str | np.ndarray | None:
        """The current target and the last action, as text (``"ansi"``) or a picture
        (``"rgb_array"``, ``(128, 128, 3)`` uint8); None without a render mode."""
        if self.render_mode == "rgb_array":
            img = np.full((128, 128, 3), 255, dtype=np.uint8)
            img[64, :] = img[:, 64] = 220  # axes

            def dot(point: np.ndarray, color: tuple[int, int, int]) -> None:
                xy = np.zeros(2)
                xy[: min(2, self.dim)] = point[:2]
                col, row = np.clip(((xy + 1.0) * 63.5).astype(int), 2, 125)
                img[127 - row - 2 : 127 - row + 3, col - 2 : col + 3] = color

            dot(self._target, (40, 160, 40))
            if self._last is not None:
                dot(self.action_coordinates(self._last[0]), (220, 40, 40))
            return img
        if self.render_mode != "ansi":
            return None
        target = np.array2string(self._target, precision=3)
        last = (
            ""
            if self._last is None
            else f", last action {self._last[0]} (regret {self._last[1]:.4f})"
        )
        return f"target {target}{last}\n"
