"""Shared machinery of the tabular agents: environment handling, the training loop, acting,
prediction, SB3-compatible callbacks and logging (the SB3 glue itself is
:mod:`rlcore.common.sb3_glue`, shared with the benchmark's random policy), and safe save / load.

A subclass only writes its update rule (:meth:`TabularAgent._update`), which calls
:meth:`TabularAgent._argmax` to maximize over actions. ``_argmax`` is the one switch between
the exact maximizer (all ``n`` actions) and the stochastic one (:mod:`rlcore.stochmax`,
``C = R ∪ M`` with ``M(s)`` the actions most recently exploited in state ``s``). The greedy
policy of :meth:`TabularAgent.predict` uses the same maximizer (``O(log n)`` for the stochastic
agents); the exact argmax is the opt-in ``predict(obs, exact=True)``.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import gymnasium as gym
import numpy as np
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv

from rlcore.common.checks import (
    check_finite_rewards,
    check_float,
    check_int,
    check_table_fits,
    require_discrete,
)
from rlcore.common.sb3_glue import MaybeCallback, init_callback, make_logger, seed_env, wrap_env
from rlcore.common.serialization import CheckpointError, load_checkpoint, save_checkpoint
from rlcore.common.tables import lazy_zeros
from rlcore.stochmax import StateActionMemory, argmax_over_candidates, candidate_set, stoch_argmax

Maximizer = Literal["exact", "stochastic"]

_EXACT_CHUNK = 1 << 20  # entries per piece of the exact greedy argmax (bounded extra memory)
_MAX_SEED = 2**128 - 1
_HPARAMS = (
    "learning_rate",
    "gamma",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "maximizer",
    "num_random",
    "memory_size",
    "q_init",
    "dtype",
    "seed",
    "verbose",
)


class TabularAgent:
    """Base class of the tabular agents (SB3-style API).

    Args:
        env: a Gymnasium env (or its registered id, or an SB3 ``VecEnv``) with ``Discrete``
            observation and action spaces.
        learning_rate: step size ``alpha`` of the tabular update, in ``(0, 1]``, or a schedule
            (as in SB3): a function of the remaining progress (1 at the start of ``learn``, 0 at
            the end) returning ``alpha``, e.g. ``stable_baselines3.common.utils
            .LinearSchedule(0.3, 0.01, 1.0)``. A schedule is saved as its last value.
        gamma: discount factor, in ``[0, 1]``.
        exploration_fraction: fraction of ``total_timesteps`` over which epsilon decays
            linearly from ``exploration_initial_eps`` to ``exploration_final_eps`` (as SB3 DQN),
            in ``(0, 1]``.
        exploration_initial_eps: epsilon at the start of ``learn``, in ``[0, 1]``.
        exploration_final_eps: epsilon after the decay, in ``[0, 1]``.
        maximizer: ``"exact"`` (max over all ``n`` actions, ``O(n)`` per step) or
            ``"stochastic"`` (max over ``C = R ∪ M``, ``O(log n)`` per step); ``None`` takes
            the class default (exact for ``QLearning``, stochastic for ``StochQLearning``...).
        num_random: ``|R|``, the number of uniformly drawn candidates, an integer in
            ``[1, 2**31]``; ``None`` means ``ceil(log2 n)``. Stochastic maximizer only.
        memory_size: ``|M(s)|``, how many recently exploited actions each state remembers, an
            integer in ``[0, 1024]``. Stochastic maximizer only.
        q_init: initial value of every Q entry, a finite number. 0 (the default) keeps the
            table lazily committed; any other value writes (commits) the whole table at once.
        dtype: float dtype of the Q-table(s): ``"float16"``, ``"float32"`` or ``"float64"``.
        seed: seed (an integer >= 0) of the agent's random generators and of the environment;
            None draws fresh entropy.
        verbose: 0 silent, 1 prints training statistics through SB3's logger.

    Memory: the Q-table(s) hold ``n_tables x n_states x n_actions`` entries. A ``MemoryError`` is
    raised before allocation when they (with the per-state memory) would not fit in the memory
    available. The table is allocated zero-filled and committed lazily in 4 KiB pages
    (:func:`rlcore.common.tables.lazy_zeros`, huge pages off): each training step writes one
    entry, so resident memory grows by at most 4 KiB per step and never beyond the table's size.

    Greedy policy: ``predict(obs)`` (``deterministic=True``, what ``evaluate_policy`` and
    ``EvalCallback`` use) acts with the agent's maximizer and no exploration. For the stochastic
    agents that is the ``O(log n)`` stochastic argmax over ``C = R ∪ M(s)``: it reads
    ``|R| + |M(s)|`` entries per table and state, whatever ``n`` is; ``R`` is drawn from a
    separate seeded generator (saved with the agent, so a reloaded agent predicts the same
    actions) and ``M(s)`` is only read, so evaluating never changes training. The exact argmax
    over all ``n`` actions is an explicit ``O(n)`` opt-in: ``predict(obs, exact=True)`` (or the
    attribute ``exact_predict = True``, for ``evaluate_policy``), as for :class:`rlcore.StochDQN`.
    The exact agents' greedy policy is the exact argmax.
    """

    n_tables: ClassVar[int] = 1
    default_maximizer: ClassVar[Maximizer] = "exact"

    def __init__(
        self,
        env: gym.Env | VecEnv | str,
        learning_rate: float | Callable[[float], float] = 0.1,
        gamma: float = 0.99,
        exploration_fraction: float = 0.5,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        maximizer: Maximizer | None = None,
        num_random: int | None = None,
        memory_size: int = 1,
        q_init: float = 0.0,
        dtype: str = "float64",
        seed: int | None = None,
        verbose: int = 0,
    ) -> None:
        self._set_hparams(
            learning_rate=learning_rate,
            gamma=gamma,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            maximizer=self.default_maximizer if maximizer is None else maximizer,
            num_random=num_random,
            memory_size=memory_size,
            q_init=q_init,
            dtype=dtype,
            seed=seed,
            verbose=verbose,
        )
        vec_env = self._make_vec_env(env)
        obs_space = require_discrete(vec_env.observation_space, "observation", self.name)
        act_space = require_discrete(vec_env.action_space, "action", self.name)
        self._build(int(obs_space.n), int(act_space.n), int(obs_space.start), int(act_space.start))
        if self.q_init != 0.0:
            self.q.fill(self.q_init)
        self.set_env(vec_env)

    # ------------------------------------------------------------------ set-up
    @property
    def name(self) -> str:
        return type(self).__name__

    def _set_hparams(self, **hp: Any) -> None:
        """Check every hyper-parameter (clear ``ValueError`` naming it and its range) and set it."""
        lr = hp["learning_rate"]
        if callable(lr):
            self.lr_schedule: Callable[[float], float] = lr
        else:
            lr = check_float("learning_rate", lr, 0.0, 1.0, low_open=True)
            self.lr_schedule = lambda _: lr
        self.alpha = self._check_alpha(self.lr_schedule(1.0))
        hp["gamma"] = check_float("gamma", hp["gamma"], 0.0, 1.0)
        for key in ("exploration_initial_eps", "exploration_final_eps"):
            hp[key] = check_float(key, hp[key], 0.0, 1.0)
        hp["exploration_fraction"] = check_float(
            "exploration_fraction", hp["exploration_fraction"], 0.0, 1.0, low_open=True
        )
        if hp["maximizer"] not in ("exact", "stochastic") or not isinstance(hp["maximizer"], str):
            raise ValueError(f"maximizer must be 'exact' or 'stochastic', got {hp['maximizer']!r}")
        if hp["num_random"] is not None:
            hp["num_random"] = check_int("num_random (or None)", hp["num_random"], 1, 2**31)
        hp["memory_size"] = check_int("memory_size", hp["memory_size"], 0, 1024)
        hp["q_init"] = check_float("q_init", hp["q_init"])
        try:
            dt = np.dtype(hp["dtype"])
        except TypeError:
            dt = None
        if dt is None or dt.kind != "f":
            raise ValueError(
                f"dtype must be a float dtype ('float16', 'float32' or 'float64'), got {hp['dtype']!r}"
            )
        hp["dtype"] = dt.name
        if hp["seed"] is not None:
            hp["seed"] = check_int("seed (or None)", hp["seed"], 0, _MAX_SEED)
        hp["verbose"] = check_int("verbose", hp["verbose"], 0, 2)
        self.hparams = hp | {"learning_rate": self.alpha}
        for key, value in hp.items():
            setattr(self, key, value)
        self.rng = np.random.default_rng(hp["seed"])
        self._greedy_rng = np.random.default_rng(None if hp["seed"] is None else [hp["seed"], 1])
        """Draws the random candidates of the stochastic greedy policy (``predict``); separate
        from ``rng`` so that evaluating never changes training."""
        self.exploration_rate = hp["exploration_initial_eps"]
        self.exact_predict = False
        """True: ``predict(obs)`` (deterministic) gives the exact ``O(n)`` argmax (diagnostics)."""
        self.num_timesteps = 0
        self.env: VecEnv | None = None
        self._last_obs: np.ndarray | None = None
        self._next_actions: np.ndarray | None = None
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=100)
        self._episode_num = 0
        self.logger: Logger = make_logger(hp["verbose"])

    @staticmethod
    def _check_alpha(alpha: float) -> float:
        return check_float("learning_rate", alpha, 0.0, 1.0, low_open=True)

    def _table_shape(self, n_states: int, n_actions: int) -> tuple[int, int, int]:
        return (self.n_tables, n_states, n_actions)

    def _check_fits(self, n_states: int, n_actions: int) -> None:
        memory_bytes = n_states * self.memory_size * 8
        shape = self._table_shape(n_states, n_actions)
        check_table_fits(shape, np.dtype(self.dtype), self.name, extra_bytes=memory_bytes)

    def _build(self, n_states: int, n_actions: int, obs_start: int, action_start: int) -> None:
        self.n_states, self.n_actions = n_states, n_actions
        self.obs_start, self.action_start = obs_start, action_start
        self._check_fits(n_states, n_actions)
        self.q = lazy_zeros(self._table_shape(n_states, n_actions), self.dtype)
        """Q-table(s), shape ``(n_tables, n_states, n_actions)``, committed lazily."""
        self.memory = StateActionMemory(n_states, self.memory_size)
        """Per-state memory ``M(s)`` of recently exploited actions, ``(n_states, memory_size)``."""

    def _make_vec_env(self, env: gym.Env | VecEnv | str) -> VecEnv:
        def discrete_spaces(e: gym.Env) -> None:
            require_discrete(e.observation_space, "observation", self.name)
            require_discrete(e.action_space, "action", self.name)

        return wrap_env(env, self.name, check=discrete_spaces)

    def set_env(self, env: gym.Env | VecEnv | str) -> None:
        """Use ``env`` for further training; its spaces must match the Q-table's."""
        vec_env = self._make_vec_env(env)
        obs_space = require_discrete(vec_env.observation_space, "observation", self.name)
        act_space = require_discrete(vec_env.action_space, "action", self.name)
        self._check_spaces(obs_space, act_space, "the env")
        self.env = vec_env
        self._last_obs = None
        self._next_actions = None
        if self.seed is not None:
            seed_env(vec_env, self.seed)

    def _check_spaces(
        self, obs_space: gym.spaces.Discrete, act_space: gym.spaces.Discrete, where: str
    ) -> None:
        """Raise ValueError unless the spaces are the Q-table's (sizes and ``start`` offsets)."""
        have = (int(obs_space.n), int(obs_space.start), int(act_space.n), int(act_space.start))
        want = (self.n_states, self.obs_start, self.n_actions, self.action_start)
        if have != want:
            raise ValueError(
                f"{self.name} has a Q-table for Discrete({self.n_states}, start={self.obs_start}) "
                f"observations x Discrete({self.n_actions}, start={self.action_start}) actions, "
                f"but {where} has Discrete({have[0]}, start={have[1]}) x "
                f"Discrete({have[2]}, start={have[3]})"
            )

    def get_env(self) -> VecEnv | None:
        """The training environment (an SB3 ``VecEnv``), as SB3's ``get_env``."""
        return self.env

    def get_vec_normalize_env(self) -> None:
        """Tabular agents never normalize (SB3 callbacks ask)."""
        return None

    def set_logger(self, logger: Logger) -> None:
        """Use an SB3 ``Logger`` (e.g. ``stable_baselines3.common.logger.configure(...)``)."""
        self.logger = logger

    # --------------------------------------------------------------- maximizer
    def _argmax(self, scores: Callable[[Any], np.ndarray], state: int) -> tuple[int, float]:
        """Argmax and max over actions of ``scores`` in ``state``.

        ``scores(idx)`` returns the values of the actions ``idx`` (an index array, or
        ``slice(None)`` for all actions). Exact: over all ``n`` actions, ties broken uniformly
        at random (with first-index ties a zero-initialized table never explores past its
        first action). Stochastic: over ``C = R ∪ M(state)`` (ties go to the first candidate,
        which is a random action), then the winner is pushed into ``M(state)``.
        """
        if self.maximizer == "exact":
            row = scores(slice(None))
            best = row.max()
            ties = np.flatnonzero(row == best)
            a = int(ties[self.rng.integers(ties.size)] if ties.size > 1 else ties[0])
            return a, float(best)
        mem = self.memory.get(np.array([state]))
        actions, values, _ = stoch_argmax(
            lambda cand: scores(cand[0])[None, :],
            self.n_actions,
            self.rng,
            num_random=self.num_random,
            memory=mem,
        )
        a = int(actions[0])
        self.memory.push(state, a)
        return a, float(values[0])

    def _greedy_scores(self, state: int) -> Callable[[Any], np.ndarray]:
        """Scores used to act greedily in ``state`` (sum of the tables for double learning)."""
        if self.n_tables == 1:
            row = self.q[0, state]
            return lambda idx: row[idx]
        rows = self.q[:, state]
        return lambda idx: rows[:, idx].sum(axis=0)

    def _act(self, state: int) -> int:
        """Epsilon-greedy action in ``state`` with the agent's maximizer."""
        if self.exploration_rate > 0 and self.rng.random() < self.exploration_rate:
            return int(self.rng.integers(self.n_actions))
        return self._argmax(self._greedy_scores(state), state)[0]

    def _update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> int | None:
        """Apply one tabular update for the transition ``(s, a, r, s_next)``.

        Returns the next action when the rule is on-policy (Sarsa), else None.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------- learn
    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """Train for ``total_timesteps`` environment steps (SB3's ``learn``).

        Args:
            total_timesteps: number of environment steps (summed over the VecEnv's envs).
            callback: SB3 callback(s), or a function ``f(locals, globals) -> bool``; returning
                False stops training.
            log_interval: log every this many episodes (when ``verbose >= 1``).
            tb_log_name: unused (kept for SB3 signature compatibility).
            reset_num_timesteps: restart the timestep counter (and the episode) if True.
            progress_bar: show a progress bar (tqdm / rich).
        """
        if self.env is None:
            raise ValueError(f"{self.name} has no environment: call set_env(env) before learn()")
        total_timesteps = check_int("total_timesteps", total_timesteps, 1)
        log_interval = check_int("log_interval", log_interval, 0)
        if reset_num_timesteps or self._last_obs is None:
            if reset_num_timesteps:
                self.num_timesteps = 0
            self._last_obs = self.env.reset()
            self._next_actions = None
        env, n_envs = self.env, self.env.num_envs
        start, end = self.num_timesteps, self.num_timesteps + total_timesteps
        schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        callback = init_callback(callback, self, progress_bar)
        callback.on_training_start(locals(), globals())
        t0 = time.perf_counter()
        while self.num_timesteps < end:
            progress_remaining = 1.0 - (self.num_timesteps - start) / total_timesteps
            self.exploration_rate = schedule(progress_remaining)
            self.alpha = self._check_alpha(self.lr_schedule(progress_remaining))
            obs = self._last_obs - self.obs_start
            if self._next_actions is None:
                actions = np.array([self._act(int(s)) for s in obs], dtype=np.int64)
            else:
                actions = self._next_actions
            new_obs, rewards, dones, infos = env.step(actions + self.action_start)
            self.num_timesteps += n_envs
            check_finite_rewards(rewards, self.num_timesteps)
            next_actions = np.empty(n_envs, dtype=np.int64)
            for i in range(n_envs):
                done = bool(dones[i])
                s_next = int(infos[i]["terminal_observation"] if done else new_obs[i])
                terminated = done and not infos[i].get("TimeLimit.truncated", False)
                s_next -= self.obs_start
                a_next = self._update(
                    int(obs[i]), int(actions[i]), float(rewards[i]), s_next, terminated
                )
                if done:
                    a_next = (
                        self._act(int(new_obs[i]) - self.obs_start) if a_next is not None else None
                    )
                    self._record_episode(infos[i])
                next_actions[i] = -1 if a_next is None else a_next
            self._next_actions = next_actions if (next_actions >= 0).all() else None
            self._last_obs = new_obs
            callback.update_locals(locals())
            if not callback.on_step():
                break
            if (
                self.verbose
                and log_interval
                and dones.any()
                and self._episode_num % log_interval == 0
            ):
                self._dump_logs(t0, start)
        callback.on_training_end()
        return self

    def _record_episode(self, info: dict[str, Any]) -> None:
        self._episode_num += 1
        if "episode" in info:
            self.ep_info_buffer.append(info["episode"])

    def _dump_logs(self, t0: float, start: int) -> None:
        elapsed = max(time.perf_counter() - t0, 1e-9)
        if self.ep_info_buffer:
            self.logger.record(
                "rollout/ep_rew_mean", float(np.mean([e["r"] for e in self.ep_info_buffer]))
            )
            self.logger.record(
                "rollout/ep_len_mean", float(np.mean([e["l"] for e in self.ep_info_buffer]))
            )
        self.logger.record("rollout/exploration_rate", self.exploration_rate)
        self.logger.record("time/episodes", self._episode_num)
        self.logger.record("time/fps", int((self.num_timesteps - start) / elapsed))
        self.logger.record("time/total_timesteps", self.num_timesteps)
        self.logger.dump(step=self.num_timesteps)

    def dump_logs(self) -> None:
        """Write the current logger values (SB3 callbacks call this)."""
        self.logger.dump(step=self.num_timesteps)

    # ----------------------------------------------------------------- predict
    def _states(self, observation: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``(obs, states)``: the observation as an array and its flat 0-based state indices."""
        obs = np.asarray(observation)
        if obs.dtype.kind not in "iu":
            raise ValueError(
                f"{self.name}.{what} expects integer state indices, got {observation!r} "
                f"(dtype {obs.dtype})"
            )
        states = obs.reshape(-1).astype(np.int64) - self.obs_start
        if states.size and (states.min() < 0 or states.max() >= self.n_states):
            raise ValueError(
                f"{self.name}.{what}: observation {observation!r} outside "
                f"[{self.obs_start}, {self.obs_start + self.n_states})"
            )
        return obs, states

    def _greedy_stochastic(self, states: np.ndarray) -> np.ndarray:
        """Stochastic argmax over ``C = R ∪ M(s)`` for each state, no exploration.

        Reads ``n_tables x B x |C|`` table entries in one gather (``O(B log n)``); ``R`` comes
        from ``_greedy_rng`` and ``M(s)`` is read, not updated.
        """
        cand = candidate_set(
            self._greedy_rng,
            self.n_actions,
            states.size,
            self.num_random,
            self.memory.get(states),
        )
        scores = self.q[:, states[:, None], cand]  # (n_tables, B, |C|)
        actions, _ = argmax_over_candidates(scores.sum(axis=0), cand)
        return actions

    def _greedy_exact(self, states: np.ndarray) -> np.ndarray:
        """Exact argmax over all ``n`` actions (first index on ties, as ``np.argmax``).

        ``O(n)`` time per state; extra memory ``O(B)`` plus one piece of at most 2**20 entries
        (no copy of whole rows).
        """
        n, t = self.n_actions, self.n_tables
        if t == 1:
            table = self.q[0]
            return np.array([table[s].argmax() for s in states.tolist()], dtype=np.int64)
        out = np.empty(states.size, dtype=np.int64)
        for i, s in enumerate(states.tolist()):
            best_value, best = -np.inf, 0
            for lo in range(0, n, _EXACT_CHUNK):
                hi = min(lo + _EXACT_CHUNK, n)
                piece = self.q[0, s, lo:hi] + self.q[1, s, lo:hi]
                j = int(piece.argmax())
                if piece[j] > best_value or lo == 0:
                    best_value, best = piece[j], lo + j
            out[i] = best
        return out

    def predict(
        self,
        observation: int | np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
        exact: bool | None = None,
    ) -> tuple[np.ndarray | np.int64, None]:
        """Actions for observations (SB3's ``predict``; ``evaluate_policy`` works with it).

        Args:
            observation: a state index, or an int array of any shape (e.g. ``(B,)``) of state
                indices; an empty array gives an empty result.
            state, episode_start: unused (no recurrent state); kept for SB3 compatibility.
            deterministic: True returns the greedy action (no exploration) with the agent's
                maximizer: for the stochastic agents the ``O(log n)`` stochastic argmax over
                ``C = R ∪ M(s)`` (``R`` from a separate seeded generator, ``M(s)`` only read),
                for the exact agents the exact argmax (summed tables for double learning).
                False samples the epsilon-greedy action with the agent's maximizer and current
                exploration rate, as during training (this updates ``M(s)`` and uses the
                training generator).
            exact: with ``deterministic=True``, True gives the exact argmax over all ``n``
                actions instead (first index on ties, as ``np.argmax``): **O(n) per state**, a
                diagnostic (the best action of the learned table, to see what the ``O(log n)``
                policy loses). None: the attribute ``exact_predict`` (False unless set; set it
                to evaluate the exact argmax with ``evaluate_policy``). As
                :meth:`rlcore.StochDQN.predict`.

        Returns:
            ``(actions, None)``: int64 array of the observation's shape, or an ``np.int64``
            scalar for a scalar observation (so ``env.step(action)`` works on any env).
        """
        if not isinstance(deterministic, bool | np.bool_):
            raise ValueError(f"deterministic must be True or False, got {deterministic!r}")
        if exact is not None and not isinstance(exact, bool | np.bool_):
            raise ValueError(f"exact must be True, False or None, got {exact!r}")
        if exact and not deterministic:
            raise ValueError("exact=True applies to deterministic=True predictions only")
        obs, states = self._states(observation, "predict")
        if deterministic:
            use_exact = self.exact_predict if exact is None else bool(exact)
            if states.size == 0:
                actions = np.empty(0, dtype=np.int64)
            elif use_exact or self.maximizer == "exact":
                actions = self._greedy_exact(states)
            else:
                actions = self._greedy_stochastic(states)
        else:
            actions = np.array([self._act(int(s)) for s in states], dtype=np.int64)
        actions = actions + self.action_start
        if obs.ndim == 0:  # a numpy scalar, hashable: toy-text envs index dicts with it
            return actions[0], None
        return actions.reshape(obs.shape), None

    def q_values(self, observation: int | np.ndarray, actions: Any = None) -> np.ndarray:
        """Q-values (summed over the tables for double learning).

        Args:
            observation: a state index or an int array of shape ``S`` of them.
            actions: None for every action, or action(s) (with the env's ``start`` offset)
                broadcastable against ``observation``.

        Returns:
            ``actions=None``: shape ``S + (n_actions,)`` (one row per state: the output is
            ``B x n``, with no other copy of the rows); with ``actions``: the broadcast shape of
            ``observation`` and ``actions``, reading only those entries (``O(B)``).
        """
        obs, states = self._states(observation, "q_values")
        if actions is not None:
            acts = np.asarray(actions)
            if acts.dtype.kind not in "iu":
                raise ValueError(f"{self.name}.q_values expects integer actions, got {actions!r}")
            a = acts.astype(np.int64) - self.action_start
            if a.size and (a.min() < 0 or a.max() >= self.n_actions):
                raise ValueError(
                    f"{self.name}.q_values: action {actions!r} outside "
                    f"[{self.action_start}, {self.action_start + self.n_actions})"
                )
            s, a = np.broadcast_arrays(states.reshape(obs.shape), a)
            return self.q[:, s, a].sum(axis=0)
        out = np.empty((states.size, self.n_actions), dtype=self.q.dtype)
        for i, s in enumerate(states.tolist()):
            out[i] = self.q[0, s]
            for t in range(1, self.n_tables):
                out[i] += self.q[t, s]
        return out.reshape(obs.shape + (self.n_actions,))

    # -------------------------------------------------------------- save / load
    def save(self, path: str | Path, compress: bool = False) -> Path:
        """Save the agent to ``path`` (``.npz`` appended if there is no suffix), atomically.

        The file holds the Q-table(s), the per-state memory, the hyper-parameters and the random
        generators' states (so training resumes bit for bit and the greedy policy predicts the
        same actions); it contains no pickled objects. The table is streamed into the file: no
        second copy of it is made in memory; the file is as large as the table unless
        ``compress=True`` (zip deflate: much smaller for a sparsely visited table, slower).

        Raises:
            OSError: the folder's disk lacks the space (checked before writing) or a write
                failed; the previous file at ``path`` is then unchanged.
        """
        params = {
            "hparams": self.hparams | {"learning_rate": self.alpha},
            "spaces": [self.n_states, self.n_actions, self.obs_start, self.action_start],
            "num_timesteps": self.num_timesteps,
            "exploration_rate": self.exploration_rate,
            "rng_state": json.dumps(self.rng.bit_generator.state),
            "greedy_rng_state": json.dumps(self._greedy_rng.bit_generator.state),
        }
        arrays = {"q": self.q, "memory": self.memory.table}
        return save_checkpoint(path, self.name, params, arrays, compress=compress)

    @classmethod
    def load(cls, path: str | Path, env: gym.Env | VecEnv | str | None = None) -> Self:
        """Load an agent saved by :meth:`save` of the same class.

        The Q-table is read into a lazily committed buffer (its all-zero parts stay
        uncommitted); a ``MemoryError`` is raised before reading when it would not fit.

        Args:
            path: the checkpoint file.
            env: optional environment to continue training in; its spaces (sizes and
                ``Discrete.start``) must be the checkpoint's.

        Raises:
            CheckpointError: (a ``ValueError``) the file is not an rlcore checkpoint, holds
                another algorithm, a newer format, or invalid contents; the message names the
                file and the problem.
        """
        p = Path(path)
        agent = cls.__new__(cls)

        def bad(problem: str) -> CheckpointError:
            return CheckpointError(p, problem)

        def allocate(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
            if name == "q":
                expected = agent._table_shape(agent.n_states, agent.n_actions)
                if shape != expected or dtype != np.dtype(agent.dtype):
                    raise bad(
                        f"Q-table is {dtype} of shape {shape}, expected {agent.dtype} of shape "
                        f"{expected}"
                    )
                agent._check_fits(agent.n_states, agent.n_actions)
                return lazy_zeros(shape, dtype)
            if name == "memory":
                if shape != (agent.n_states, agent.memory_size) or dtype != np.int64:
                    raise bad(
                        f"memory is {dtype} of shape {shape}, expected int64 of shape "
                        f"{(agent.n_states, agent.memory_size)}"
                    )
                return None
            raise bad(f"unexpected entry {name!r} (a tabular checkpoint holds 'q' and 'memory')")

        def checked_params(params: dict[str, Any]) -> None:
            keys = {"hparams", "spaces", "num_timesteps", "exploration_rate", "rng_state"}
            if missing := sorted(keys - params.keys()):
                raise bad(f"metadata lacks {', '.join(missing)}")
            hp = params["hparams"]
            if not isinstance(hp, dict) or set(hp) != set(_HPARAMS):
                raise bad(
                    f"hparams must be an object with the keys {list(_HPARAMS)}, got {hp!r:.200}"
                )
            try:
                agent._set_hparams(**hp)
            except (TypeError, ValueError) as exc:
                raise bad(f"invalid hyper-parameters: {exc}") from exc
            spaces_ = params["spaces"]
            if not (
                isinstance(spaces_, list)
                and len(spaces_) == 4
                and all(type(x) is int for x in spaces_)
                and spaces_[0] >= 1
                and spaces_[1] >= 1
            ):
                raise bad(
                    "spaces must be [n_states >= 1, n_actions >= 1, obs_start, action_start] "
                    f"(integers), got {spaces_!r:.80}"
                )
            agent.n_states, agent.n_actions, agent.obs_start, agent.action_start = spaces_

        params, arrays = load_checkpoint(
            p, algorithm=cls.__name__, check_params=checked_params, allocate=allocate
        )
        for name in ("q", "memory"):
            if name not in arrays:
                raise bad(f"no {name!r} entry")
        memory = arrays["memory"]
        if memory.size and (memory.min() < -1 or memory.max() >= agent.n_actions):
            raise bad(f"memory holds actions outside [-1, {agent.n_actions})")
        agent.q = arrays["q"]
        agent.memory = StateActionMemory(agent.n_states, agent.memory_size)
        agent.memory.table = memory
        steps = params["num_timesteps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise bad(f"num_timesteps must be an integer >= 0, got {steps!r}")
        agent.num_timesteps = steps
        try:
            agent.exploration_rate = check_float(
                "exploration_rate", params["exploration_rate"], 0.0, 1.0
            )
        except ValueError as exc:
            raise bad(str(exc)) from exc
        for key, gen in (("rng_state", agent.rng), ("greedy_rng_state", agent._greedy_rng)):
            if key not in params:  # checkpoints of earlier versions: seeded anew
                continue
            try:
                gen.bit_generator.state = json.loads(params[key])
            except (TypeError, ValueError, KeyError) as exc:
                raise bad(f"{key} is not a valid random generator state: {exc}") from exc
        if env is not None:
            agent.set_env(env)
        return agent
