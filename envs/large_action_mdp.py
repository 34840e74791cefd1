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

from rlcore.stochmax import sample_distinct


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class LargeActionMDPEnv(gym.Env[np.int64, np.int64]):
    """Tabular MDP with ``n_states`` states and ``n_actions`` actions, few of them good.

    Args:
        n_states: number of states (``Discrete(n_states)`` observations).
        n_actions: number of actions (``Discrete(n_actions)``), from 1 up to 10**9.
        n_good: good actions per state (``<= n_actions``).
        reward_std: standard deviation of the Gaussian reward noise.
        good_reward: mean reward of each state's best action.
        bad_reward: mean reward of every non-good action.
        mdp_seed: seed of the MDP's structure (which actions are good, where they lead).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        n_states: int = 10,
        n_actions: int = 256,
        n_good: int = 2,
        reward_std: float = 1.0,
        good_reward: float = 1.0,
        bad_reward: float = 0.0,
        mdp_seed: int = 0,
    ) -> None:
        self.n_states = _positive_int("n_states", n_states)
        self.n_actions = _positive_int("n_actions", n_actions)
        self.n_good = _positive_int("n_good", n_good)
        if self.n_good > self.n_actions:
            raise ValueError(f"n_good must be <= n_actions={n_actions}, got {n_good!r}")
        if not np.isfinite(reward_std) or reward_std < 0:
            raise ValueError(f"reward_std must be a finite number >= 0, got {reward_std!r}")
        self.reward_std = float(reward_std)
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
        self.bad_reward = float(bad_reward)
        self._state = 0

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = int(self.np_random.integers(self.n_states))
        return np.int64(self._state), {}

    def step(self, action: Any) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        a = int(action)
        if not 0 <= a < self.n_actions:
            raise ValueError(f"action must be in [0, {self.n_actions}), got {action!r}")
        s = self._state
        hit = np.flatnonzero(self.good_actions[s] == a)
        if hit.size:
            mean = self.good_means[s, hit[0]]
            self._state = int(self.good_next[s, hit[0]])
        else:
            mean = self.bad_reward
            self._state = int(self.np_random.integers(self.n_states))
        reward = float(mean + self.reward_std * self.np_random.standard_normal())
        return np.int64(self._state), reward, False, False, {}

    # ------------------------------------------------------------ exact values
    def optimal_values(self, gamma: float = 0.99, tol: float = 1e-12) -> np.ndarray:
        """Optimal state values ``V*`` of the discounted MDP, shape ``(n_states,)``.

        Value iteration on the compressed model (``n_good + 1`` distinct actions per state),
        run until the Bellman residual is below ``tol`` (it contracts by ``gamma`` per sweep).
        """
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
        v = np.zeros(self.n_states)
        while True:
            q_good = self.good_means + gamma * v[self.good_next]
            q_bad = self.bad_reward + gamma * v.mean()
            v_new = (
                np.maximum(q_good.max(axis=1), q_bad)
                if self.n_good < self.n_actions
                else q_good.max(axis=1)
            )
            if np.max(np.abs(v_new - v)) < tol:
                return v_new
            v = v_new

    def optimal_q(self, states: np.ndarray, actions: np.ndarray, gamma: float = 0.99) -> np.ndarray:
        """``Q*(s, a)`` for pairs: ``states`` and ``actions`` int arrays of one shape ``(B,)``."""
        states, actions = np.asarray(states, dtype=np.int64), np.asarray(actions, dtype=np.int64)
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
        policy = np.asarray(policy, dtype=np.int64)
        if policy.shape != (self.n_states,):
            raise ValueError(f"policy must have shape ({self.n_states},), got {policy.shape}")
        s = np.arange(self.n_states)
        match = self.good_actions == policy[:, None]
        good = match.any(axis=1)
        j = match.argmax(axis=1)
        r = np.where(good, self.good_means[s, j], self.bad_reward)
        p = np.where(good[:, None], 0.0, 1.0 / self.n_states) * np.ones((1, self.n_states))
        p[s[good], self.good_next[s[good], j[good]]] = 1.0
        return np.linalg.solve(np.eye(self.n_states) - gamma * p, r)

    def optimality_gap(self, policy: np.ndarray, gamma: float = 0.99) -> float:
        """Relative regret of ``policy`` from a uniform start state:
        ``mean(V* - V^pi) / mean(|V*|)`` (0 for an optimal policy)."""
        v_star = self.optimal_values(gamma)
        v_pi = self.policy_values(policy, gamma)
        return float(np.mean(v_star - v_pi) / max(np.mean(np.abs(v_star)), 1e-12))
