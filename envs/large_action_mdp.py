"""A tabular MDP with a large action set where only a few actions per state are good.

Structure (fixed by ``mdp_seed``, independent of the episode seed):

* each state ``s`` has ``n_good`` distinct *good* actions ``good_actions[s, j]``; the first
  has mean reward ``good_reward`` and the others means drawn uniformly in
  ``[0.2, 0.8] * good_reward``; a good action moves deterministically to
  ``good_next[s, j]``;
* every other action has mean reward ``bad_reward`` and moves to a uniformly random state;
* every reward carries Gaussian noise of standard deviation ``reward_std`` (the paper's
  synthetic benchmark uses normally distributed rewards and 256 actions);
* episodes start in a uniformly random state and never terminate; the registered id
  ``rlcore/LargeActionMDP-v0`` truncates them after 50 steps.

A step costs ``O(n_good)`` whatever ``n_actions`` is (no ``n``-sized work), and the memory
is ``O(n_states * n_good)``. Because all bad actions of a state share one mean and one
transition law, the optimal values of the infinite-horizon discounted MDP are computed exactly
in ``O(n_states * n_good)`` per iteration, independent of ``n_actions``:
:meth:`LargeActionMDPEnv.optimal_values`, :meth:`~LargeActionMDPEnv.optimal_q`,
:meth:`~LargeActionMDPEnv.policy_values` and :meth:`~LargeActionMDPEnv.optimality_gap`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcore.common.checks import check_action, check_float, check_int
from rlcore.stochmax import sample_distinct

MAX_ACTIONS = 2**62
"""Largest ``n_actions`` (actions are int64 indices drawn with ``Generator.integers``)."""
MAX_STRUCTURE = 10**7
"""Largest ``n_states * n_good``: the MDP stores three such arrays (240 MB at this bound)."""
MAX_ABS_REWARD = 1e9
"""Largest ``|good_reward|``, ``|bad_reward|`` (values stay far from float overflow)."""


class LargeActionMDPEnv(gym.Env[np.int64, np.int64]):
    """Tabular MDP with ``n_states`` states and ``n_actions`` actions, few of them good.

    Args:
        n_states: number of states (``Discrete(n_states)`` observations), an integer >= 1 with
            ``n_states * n_good <= 10**7`` (:data:`MAX_STRUCTURE`).
        n_actions: number of actions (``Discrete(n_actions)``), an integer in ``[1, 2**62]``.
        n_good: good actions per state, an integer in ``[1, n_actions]``.
        reward_std: standard deviation of the Gaussian reward noise, finite, in ``[0, 1e9]``.
        good_reward: mean reward of each state's best action, finite, in ``[-1e9, 1e9]``.
        bad_reward: mean reward of every non-good action, finite, in ``[-1e9, 1e9]``.
        mdp_seed: seed of the MDP's structure (which actions are good, where they lead), an
            integer >= 0.
        render_mode: None, ``"ansi"`` (``render()`` returns a line of text) or ``"rgb_array"``
            (a ``(64, 256, 3)`` uint8 picture: the states as cells, the current one red, a bar
            for the last reward; SB3's ``make_vec_env`` asks for it by default).

    Reset options: ``{"state": s}`` starts the episode in state ``s`` (an integer in
    ``[0, n_states)``) instead of a uniformly random one; any other key is refused.
    Every invalid argument raises a ``ValueError`` naming it and the accepted range.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        n_states: int = 10,
        n_actions: int = 256,
        n_good: int = 2,
        reward_std: float = 1.0,
        good_reward: float = 1.0,
        bad_reward: float = 0.0,
        mdp_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        self.n_states = check_int("n_states", n_states, 1, MAX_STRUCTURE)
        self.n_actions = check_int("n_actions", n_actions, 1, MAX_ACTIONS)
        self.n_good = check_int("n_good", n_good, 1, self.n_actions)
        if self.n_states * self.n_good > MAX_STRUCTURE:
            raise ValueError(
                f"n_states * n_good must be <= {MAX_STRUCTURE:.0e} (the MDP stores three "
                f"arrays of that size), got n_states={n_states!r} x n_good={n_good!r}"
            )
        self.reward_std = check_float("reward_std", reward_std, 0.0, MAX_ABS_REWARD)
        good_reward = check_float("good_reward", good_reward, -MAX_ABS_REWARD, MAX_ABS_REWARD)
        self.bad_reward = check_float("bad_reward", bad_reward, -MAX_ABS_REWARD, MAX_ABS_REWARD)
        mdp_seed = check_int("mdp_seed", mdp_seed, 0)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None, 'ansi' or 'rgb_array', got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(self.n_actions)

        rng = np.random.default_rng(mdp_seed)
        self.good_actions = sample_distinct(rng, self.n_actions, self.n_good, self.n_states)
        """Good actions, int64 ``(n_states, n_good)``; column 0 is each state's best."""
        means = rng.uniform(0.2, 0.8, size=(self.n_states, self.n_good)) * good_reward
        means[:, 0] = good_reward
        self.good_means = means
        """Mean rewards of the good actions, ``(n_states, n_good)``."""
        self.good_next = rng.integers(0, self.n_states, size=(self.n_states, self.n_good))
        """Next state of each good action, ``(n_states, n_good)``."""
        self._state = 0
        self._last: tuple[int, float] | None = None

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        start = options.pop("state", None)
        if options:
            raise ValueError(
                f"unknown reset option(s) {sorted(options)}; LargeActionMDP accepts 'state'"
            )
        if start is None:
            self._state = int(self.np_random.integers(self.n_states))
        else:
            self._state = check_int("reset option 'state'", start, 0, self.n_states - 1)
        self._last = None
        return np.int64(self._state), {}

    def step(self, action: Any) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        a = check_action(action, self.n_actions)
        s = self._state
        hit = np.flatnonzero(self.good_actions[s] == a)
        if hit.size:
            mean = self.good_means[s, hit[0]]
            self._state = int(self.good_next[s, hit[0]])
        else:
            mean = self.bad_reward
            self._state = int(self.np_random.integers(self.n_states))
        reward = float(mean + self.reward_std * self.np_random.standard_normal())
        self._last = (a, reward)
        return np.int64(self._state), reward, False, False, {}

    def render(self) -> str | np.ndarray | None:
        """The current state and the last action and reward, as text (``"ansi"``) or a picture
        (``"rgb_array"``, shape ``(64, 256, 3)``, uint8); None without a render mode."""
        if self.render_mode == "rgb_array":
            img = np.full((64, 256, 3), 255, dtype=np.uint8)
            cells = min(self.n_states, 256)
            edges = np.linspace(0, 256, cells + 1).astype(int)
            img[8:40, :] = 200
            img[8:40, edges[:-1]] = 120  # cell borders
            cell = self._state * cells // self.n_states
            img[8:40, edges[cell] : max(edges[cell + 1], edges[cell] + 1)] = (220, 40, 40)
            if self._last is not None:  # the last reward, relative to the best mean reward
                scale = max(abs(float(self.good_means.max())), abs(self.bad_reward), 1e-12)
                width = int(np.clip(abs(self._last[1]) / scale, 0.0, 1.0) * 255)
                img[48:58, : width + 1] = (40, 160, 40) if self._last[1] >= 0 else (160, 40, 40)
            return img
        if self.render_mode != "ansi":
            return None
        last = (
            ""
            if self._last is None
            else f" after action {self._last[0]} (reward {self._last[1]:+.3f})"
        )
        return f"state {self._state}{last}\n"

    # ------------------------------------------------------------ exact values
    def optimal_values(self, gamma: float = 0.99, tol: float = 1e-12) -> np.ndarray:
        """Optimal state values ``V*`` of the discounted MDP, shape ``(n_states,)``.

        Value iteration on the compressed model (``n_good + 1`` distinct actions per state),
        run until the Bellman residual is below ``tol`` (it contracts by ``gamma`` per sweep).
        """
        gamma = check_float("gamma", gamma, 0.0, 1.0, high_open=True)
        tol = check_float("tol", tol, 0.0, 1.0, low_open=True)
        v = np.zeros(self.n_states)
        while True:
            q_good = self.good_means + gamma * v[self.good_next]
            q_bad = self.bad_reward + gamma * v.mean()
            v_new = (
                np.maximum(q_good.max(axis=1), q_bad)
                if self.n_good < self.n_actions
                else q_good.max(axis=1)
            )
            residual = np.max(np.abs(v_new - v))
            if not np.isfinite(residual):  # pragma: no cover - finite bounded rewards prevent it
                raise FloatingPointError("value iteration diverged (non-finite values)")
            if residual < tol:
                return v_new
            v = v_new

    def optimal_q(self, states: np.ndarray, actions: np.ndarray, gamma: float = 0.99) -> np.ndarray:
        """``Q*(s, a)`` for pairs: ``states`` and ``actions`` int arrays of one shape ``(B,)``."""
        states, actions = np.asarray(states), np.asarray(actions)
        if states.shape != actions.shape or states.ndim != 1:
            raise ValueError(
                f"states and actions must be 1-D arrays of one shape, got {states.shape} and "
                f"{actions.shape}"
            )
        for name, arr, n in (
            ("states", states, self.n_states),
            ("actions", actions, self.n_actions),
        ):
            if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() >= n)):
                raise ValueError(f"{name} must be integers in [0, {n}), got {arr!r:.200}")
        states, actions = states.astype(np.int64), actions.astype(np.int64)
        v = self.optimal_values(gamma)
        match = self.good_actions[states] == actions[:, None]
        q_good = self.good_means[states] + gamma * v[self.good_next[states]]
        q_bad = self.bad_reward + gamma * v.mean()
        return np.where(match.any(axis=1), (q_good * match).sum(axis=1), q_bad)

    def optimal_actions(self, gamma: float = 0.99) -> np.ndarray:
        """An optimal action per state, int64 ``(n_states,)``."""
        v = self.optimal_values(gamma)
        q_good = self.good_means + gamma * v[self.good_next]
        return self.good_actions[np.arange(self.n_states), q_good.argmax(axis=1)]

    def policy_values(self, policy: np.ndarray, gamma: float = 0.99) -> np.ndarray:
        """Exact values ``V^pi`` of a deterministic policy, shape ``(n_states,)``.

        Args:
            policy: int array ``(n_states,)``, the action taken in each state.
        """
        gamma = check_float("gamma", gamma, 0.0, 1.0, high_open=True)
        policy = np.asarray(policy)
        if policy.shape != (self.n_states,) or policy.dtype.kind not in "iu":
            raise ValueError(
                f"policy must be an integer array of shape ({self.n_states},), got "
                f"{policy.dtype} {policy.shape}"
            )
        policy = policy.astype(np.int64)
        s = np.arange(self.n_states)
        match = self.good_actions == policy[:, None]
        good = match.any(axis=1)
        j = match.argmax(axis=1)
        r = np.where(good, self.good_means[s, j], self.bad_reward)
        if self.n_states <= 2_000:  # exact linear solve, O(n_states**2) memory
            p = np.where(good[:, None], 0.0, 1.0 / self.n_states) * np.ones((1, self.n_states))
            p[s[good], self.good_next[s[good], j[good]]] = 1.0
            return np.linalg.solve(np.eye(self.n_states) - gamma * p, r)
        # iterative policy evaluation, O(n_states) per sweep (a gamma-contraction)
        nxt = self.good_next[s, j]
        v = np.zeros(self.n_states)
        while True:
            v_new = r + gamma * np.where(good, v[nxt], v.mean())
            if np.max(np.abs(v_new - v)) < 1e-12 * max(1.0, float(np.max(np.abs(v_new)))):
                return v_new
            v = v_new

    def optimality_gap(self, policy: np.ndarray, gamma: float = 0.99) -> float:
        """Relative regret of ``policy`` from a uniform start state:
        ``mean(V* - V^pi) / mean(|V*|)`` (0 for an optimal policy)."""
        v_star = self.optimal_values(gamma)
        v_pi = self.policy_values(policy, gamma)
        return float(np.mean(v_star - v_pi) / max(np.mean(np.abs(v_star)), 1e-12))
