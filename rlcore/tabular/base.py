"""Shared machinery of the tabular agents: environment handling, the training loop, acting,
prediction, SB3-compatible callbacks and logging, and safe save / load.

A subclass only writes its update rule (:meth:`TabularAgent._update`), which calls
:meth:`TabularAgent._argmax` to maximize over actions. ``_argmax`` is the one switch between
the exact maximizer (all ``n`` actions) and the stochastic one (:mod:`rlcore.stochmax`,
``C = R ∪ M`` with ``M(s)`` the actions most recently exploited in state ``s``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    ProgressBarCallback,
)
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from rlcore.common.checks import check_finite_rewards, check_table_fits, require_discrete
from rlcore.common.serialization import load_checkpoint, save_checkpoint
from rlcore.stochmax import StateActionMemory, stoch_argmax

Maximizer = Literal["exact", "stochastic"]
MaybeCallback = BaseCallback | list[BaseCallback] | Callable[..., bool] | None


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
            linearly from ``exploration_initial_eps`` to ``exploration_final_eps`` (as SB3 DQN).
        exploration_initial_eps: epsilon at the start of ``learn``.
        exploration_final_eps: epsilon after the decay.
        maximizer: ``"exact"`` (max over all ``n`` actions, ``O(n)`` per step) or
            ``"stochastic"`` (max over ``C = R ∪ M``, ``O(log n)`` per step); ``None`` takes
            the class default (exact for ``QLearning``, stochastic for ``StochQLearning``...).
        num_random: ``|R|``, the number of uniformly drawn candidates; ``None`` means
            ``ceil(log2 n)``. Stochastic maximizer only.
        memory_size: ``|M(s)|``, how many recently exploited actions each state remembers.
            Stochastic maximizer only.
        q_init: initial value of every Q entry (0 keeps the table lazily allocated).
        dtype: float dtype of the Q-table(s).
        seed: seed of the agent's random generator and of the environment.
        verbose: 0 silent, 1 prints training statistics through SB3's logger.

    The Q-table(s) hold ``n_states x n_actions`` entries each: a ``MemoryError`` is raised
    before allocation when they would not fit in the memory available.
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
            maximizer=maximizer or self.default_maximizer,
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
        if q_init != 0.0:
            self.q.fill(q_init)
        self.set_env(vec_env)

    # ------------------------------------------------------------------ set-up
    @property
    def name(self) -> str:
        return type(self).__name__

    def _set_hparams(self, **hp: Any) -> None:
        self.lr_schedule: Callable[[float], float] = (
            hp["learning_rate"] if callable(hp["learning_rate"]) else lambda _: hp["learning_rate"]
        )
        self.alpha = self._check_alpha(self.lr_schedule(1.0))
        if not 0.0 <= hp["gamma"] <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {hp['gamma']!r}")
        for key in ("exploration_initial_eps", "exploration_final_eps"):
            if not 0.0 <= hp[key] <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {hp[key]!r}")
        if not 0.0 < hp["exploration_fraction"] <= 1.0:
            raise ValueError(
                f"exploration_fraction must be in (0, 1], got {hp['exploration_fraction']!r}"
            )
        if hp["maximizer"] not in ("exact", "stochastic"):
            raise ValueError(f"maximizer must be 'exact' or 'stochastic', got {hp['maximizer']!r}")
        if hp["num_random"] is not None and hp["num_random"] < 1:
            raise ValueError(f"num_random must be >= 1 or None, got {hp['num_random']!r}")
        if hp["memory_size"] < 0:
            raise ValueError(f"memory_size must be >= 0, got {hp['memory_size']!r}")
        self.hparams = hp | {"learning_rate": self.alpha}
        for key, value in hp.items():
            setattr(self, key, value)
        self.rng = np.random.default_rng(hp["seed"])
        self.exploration_rate = hp["exploration_initial_eps"]
        self.num_timesteps = 0
        self.env: VecEnv | None = None
        self._last_obs: np.ndarray | None = None
        self._next_actions: np.ndarray | None = None
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=100)
        self._episode_num = 0
        fmts = [HumanOutputFormat(sys.stdout)] if hp["verbose"] >= 1 else []
        self.logger = Logger(folder=None, output_formats=fmts)

    @staticmethod
    def _check_alpha(alpha: float) -> float:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {alpha!r}")
        return float(alpha)

    def _build(self, n_states: int, n_actions: int, obs_start: int, action_start: int) -> None:
        self.n_states, self.n_actions = n_states, n_actions
        self.obs_start, self.action_start = obs_start, action_start
        shape = (self.n_tables, n_states, n_actions)
        check_table_fits(shape, np.dtype(self.dtype), self.name)
        self.q = np.zeros(shape, dtype=self.dtype)
        """Q-table(s), shape ``(n_tables, n_states, n_actions)``."""
        self.memory = StateActionMemory(n_states, self.memory_size)
        """Per-state memory ``M(s)`` of recently exploited actions, ``(n_states, memory_size)``."""

    def _make_vec_env(self, env: gym.Env | VecEnv | str) -> VecEnv:
        if isinstance(env, str):
            env = gym.make(env)
        if isinstance(env, VecEnv):
            return env
        if not isinstance(env, gym.Env):
            raise TypeError(
                f"{self.name} needs a gymnasium.Env, a VecEnv or an env id, got {env!r}"
            )
        require_discrete(env.observation_space, "observation", self.name)
        require_discrete(env.action_space, "action", self.name)
        if not is_wrapped(env, Monitor):
            env = Monitor(env)
        return DummyVecEnv([lambda: env])

    def set_env(self, env: gym.Env | VecEnv | str) -> None:
        """Use ``env`` for further training; its spaces must match the Q-table's."""
        vec_env = self._make_vec_env(env)
        obs_space = require_discrete(vec_env.observation_space, "observation", self.name)
        act_space = require_discrete(vec_env.action_space, "action", self.name)
        if (int(obs_space.n), int(act_space.n)) != (self.n_states, self.n_actions):
            raise ValueError(
                f"{self.name} has a Q-table for {self.n_states} states x {self.n_actions} actions, "
                f"but the env has {obs_space.n} x {act_space.n}"
            )
        self.env = vec_env
        self._last_obs = None
        self._next_actions = None
        if self.seed is not None:
            vec_env.seed(self.seed)
            vec_env.action_space.seed(self.seed)

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
        if total_timesteps < 1:
            raise ValueError(f"total_timesteps must be >= 1, got {total_timesteps!r}")
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
        callback = self._init_callback(callback, progress_bar)
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

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    # ----------------------------------------------------------------- predict
    def predict(
        self,
        observation: int | np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | np.int64, None]:
        """Actions for observations (SB3's ``predict``; ``evaluate_policy`` works with it).

        Args:
            observation: a state index, or an int array of shape ``(B,)`` of state indices.
            state, episode_start: unused (no recurrent state); kept for SB3 compatibility.
            deterministic: True returns the greedy action of the learned table, the exact
                argmax of ``Q(s, .)`` (summed tables for double learning), a pure function of
                the table; False samples the epsilon-greedy action with the agent's maximizer
                and current exploration rate, as during training.

        Returns:
            ``(actions, None)``: int64 array of the observation's shape, or an ``np.int64``
            scalar for a scalar observation (so ``env.step(action)`` works on any env).
        """
        obs = np.asarray(observation)
        if obs.dtype.kind not in "iu":
            raise ValueError(
                f"{self.name}.predict expects integer state indices, got {observation!r}"
            )
        states = obs.reshape(-1).astype(np.int64) - self.obs_start
        if states.size and (states.min() < 0 or states.max() >= self.n_states):
            raise ValueError(
                f"{self.name}.predict: observation {observation!r} outside "
                f"[{self.obs_start}, {self.obs_start + self.n_states})"
            )
        if deterministic:
            actions = self.q[:, states].sum(axis=0).argmax(axis=1)
        else:
            actions = np.array([self._act(int(s)) for s in states], dtype=np.int64)
        actions = actions + self.action_start
        if obs.ndim == 0:  # a numpy scalar, hashable: toy-text envs index dicts with it
            return actions[0], None
        return actions.reshape(obs.shape), None

    def q_values(self, observation: int | np.ndarray) -> np.ndarray:
        """Q-values of all actions: shape ``(n_actions,)`` for a state, ``(B, n_actions)`` for many
        (summed over the tables for double learning)."""
        states = np.asarray(observation, dtype=np.int64) - self.obs_start
        return self.q[:, states].sum(axis=0)

    # -------------------------------------------------------------- save / load
    def save(self, path: str | Path) -> Path:
        """Save the agent to ``path`` (``.npz`` appended if there is no suffix), atomically.

        The file holds the Q-table(s), the per-state memory, the hyper-parameters and the random
        generator's state (so training resumes bit for bit); it contains no pickled objects.
        """
        params = {
            "hparams": self.hparams | {"learning_rate": self.alpha},
            "spaces": [self.n_states, self.n_actions, self.obs_start, self.action_start],
            "num_timesteps": self.num_timesteps,
            "exploration_rate": self.exploration_rate,
            "rng_state": json.dumps(self.rng.bit_generator.state),
        }
        arrays = {"q": self.q, "memory": self.memory.table}
        return save_checkpoint(path, self.name, params, arrays)

    @classmethod
    def load(cls, path: str | Path, env: gym.Env | VecEnv | str | None = None) -> Self:
        """Load an agent saved by :meth:`save` of the same class.

        Raises:
            ValueError: the file is not an rlcore checkpoint or holds another algorithm.
        """
        params, arrays = load_checkpoint(path, algorithm=cls.__name__)
        agent = cls.__new__(cls)
        agent._set_hparams(**params["hparams"])
        n_states, n_actions, obs_start, action_start = params["spaces"]
        agent.n_states, agent.n_actions = n_states, n_actions
        agent.obs_start, agent.action_start = obs_start, action_start
        expected = (cls.n_tables, n_states, n_actions)
        if arrays["q"].shape != expected:
            raise ValueError(
                f"{str(path)!r}: Q-table shape {arrays['q'].shape}, expected {expected}"
            )
        agent.q = arrays["q"]
        agent.memory = StateActionMemory(n_states, agent.memory_size)
        agent.memory.table = arrays["memory"]
        agent.num_timesteps = params["num_timesteps"]
        agent.exploration_rate = params["exploration_rate"]
        agent.rng.bit_generator.state = json.loads(params["rng_state"])
        if env is not None:
            agent.set_env(env)
        return agent
