"""Algorithm adapters: one uniform way to build, train and evaluate every algorithm.

Each algorithm of the benchmark is an :class:`Adapter` in :data:`REGISTRY`, looked up by name.
An adapter says which environments it applies to, builds a model from an env and a seed with
its default hyper-parameters (a suite may override them), and runs the shared protocol of
:mod:`rlcore.bench.protocol`: one ``learn(budget)`` call with evaluation points, deterministic
evaluation with SB3's ``evaluate_policy`` on an identically seeded evaluation env.

Families:

* ``rlcore-tabular``: :mod:`rlcore.tabular` agents (exact and stochastic max);
* ``rlcore-deep``: ``rlcore.StochDQN`` / ``rlcore.StochDDQN``: ``-stochastic`` (the default
  O(log n) maximizer, proposal ``"local"``), ``-paper`` (the paper's ``C = R ∪ M``,
  ``proposal="paper"``) and ``-exact`` (``maximizer="exact"``, the same network); for the
  validation of the default proposal, ``StochDQN-state`` (``proposal="state"``: no refinement)
  and ``StochDQN-refine1`` / ``-refine2`` (``refine_rounds`` 1 / 2 instead of 4);
* ``sb3``: Stable-Baselines3 DQN, PPO and A2C (``MlpPolicy``, 64-64 networks);
* ``random``: a uniformly random policy (a lower bound, and the env's own cost per step);
* ``rlcore-erd``: ``rlcore.ERD`` (see :mod:`rlcore.bench.rumour`).

Hyper-parameters default to the same exploration schedule for every value-based agent
(epsilon from 1 to 0.05 over the first half of the budget) and to the same discount 0.99.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv

from rlcore import tabular
from rlcore.bench.protocol import Point, get_evaluator, train_with_eval_points
from rlcore.common.sb3_glue import MaybeCallback, init_callback, make_logger, seed_env, wrap_env

if TYPE_CHECKING:
    from rlcore.bench.spec import RunSpec


# ------------------------------------------------------------------------ random policy
class RandomPolicy:
    """Uniformly random actions, with the SB3 ``learn`` / ``predict`` interface.

    ``learn`` steps the environment with random actions (so its seconds per step are the
    environment's own cost) and calls SB3 callbacks; ``predict`` samples from a generator
    seeded with ``seed`` (``deterministic`` has no meaning for it and is ignored). The env
    wrapping, logger and callback handling are the tabular agents' own
    (:mod:`rlcore.common.sb3_glue`).

    Args:
        env: a Gymnasium env (wrapped in SB3's ``Monitor`` unless it is, then in a
            ``DummyVecEnv``), an SB3 ``VecEnv`` or a registered env id.
        seed: seeds the env's first reset, its action space and the action generator.
    """

    def __init__(self, env: gym.Env | VecEnv | str, seed: int) -> None:
        self.env: VecEnv = wrap_env(env, type(self).__name__)
        seed_env(self.env, seed)
        self.action_space = self.env.action_space
        self.rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        self.logger: Logger = make_logger(verbose=0)

    def get_env(self) -> VecEnv:
        """The training environment (an SB3 ``VecEnv``), as SB3's ``get_env``."""
        return self.env

    def _sample(self, batch: int) -> np.ndarray:
        if not isinstance(self.action_space, spaces.Discrete):
            return np.stack([self.action_space.sample() for _ in range(batch)])
        n, start = int(self.action_space.n), int(self.action_space.start)
        return self.rng.integers(n, size=batch) + start

    def learn(self, total_timesteps: int, callback: MaybeCallback = None) -> RandomPolicy:
        """Step the env ``total_timesteps`` times with random actions, calling ``callback`` (SB3
        callback(s) or a function ``f(locals, globals) -> bool``; False stops)."""
        cb = init_callback(callback, self)
        cb.on_training_start(locals(), globals())
        self.env.reset()
        end = self.num_timesteps + total_timesteps
        while self.num_timesteps < end:
            self.env.step(self._sample(self.env.num_envs))
            self.num_timesteps += self.env.num_envs
            cb.update_locals(locals())
            if not cb.on_step():
                break
        cb.on_training_end()
        return self

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Random actions, one per observation of the batch ``observation`` (shape ``(B, ...)``)."""
        return self._sample(len(np.asarray(observation))), None


# ------------------------------------------------------------------------------ adapters
@dataclass
class Adapter:
    """How the benchmark builds, trains and evaluates one algorithm.

    Attributes:
        name: the name in results files and reports.
        family: ``rlcore-tabular``, ``rlcore-deep``, ``sb3``, ``random`` or ``rlcore-erd``.
        target: ``"module:Class"`` of the model class (imported lazily, so a missing optional
            module only matters for the suites that use it).
        fixed: keyword arguments always passed (e.g. ``maximizer="exact"``).
        defaults: ``defaults(budget) -> dict`` of default hyper-parameters for a step budget.
        needs_discrete_obs: True for tabular agents.
    """

    name: str
    family: str
    target: str
    fixed: dict[str, Any] = field(default_factory=dict)
    defaults: Callable[[int], dict[str, Any]] = lambda budget: {}
    needs_discrete_obs: bool = False

    def model_class(self) -> Any:
        """Import and return the model class; a clear ImportError if it is not available."""
        module, _, attr = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ImportError(
                f"benchmark algorithm {self.name!r} needs {self.target!r}, which cannot be "
                f"imported ({type(e).__name__}: {e})"
            ) from e

    def unsupported(self, env: gym.Env) -> str | None:
        """Why the algorithm cannot run on ``env`` (None when it can)."""
        if not isinstance(env.action_space, spaces.Discrete):
            return f"needs a Discrete action space, got {env.action_space}"
        if self.needs_discrete_obs and not isinstance(env.observation_space, spaces.Discrete):
            return f"needs a Discrete observation space, got {env.observation_space}"
        return None

    def hparams(self, budget: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Default hyper-parameters for ``budget`` steps, updated with ``overrides``."""
        return self.defaults(budget) | dict(overrides or {})

    def build(self, env: gym.Env, seed: int, hparams: dict[str, Any]) -> Any:
        """A fresh model on ``env`` seeded with ``seed``."""
        cls = self.model_class()
        if self.family == "random":
            return cls(env, seed=seed)
        if self.family == "rlcore-tabular":
            return cls(env, seed=seed, **self.fixed, **hparams)
        return cls("MlpPolicy", env, seed=seed, verbose=0, **self.fixed, **hparams)

    def run(self, spec: RunSpec) -> list[Point]:
        """Train on ``spec``'s env for ``spec.budget`` steps, evaluating at ``spec.eval_steps``."""
        env = spec.env.make(self.family)
        model = self.build(env, spec.seed, spec.hparams)
        evaluator = get_evaluator(spec.env.evaluator)(
            lambda: spec.env.make(self.family, evaluation=True), spec.seed, spec.eval_episodes
        )
        try:
            return train_with_eval_points(model, spec.budget, spec.eval_steps, evaluator)
        finally:
            env.close()
            evaluator.close()


# ------------------------------------------------------------------- default hparams
def _tabular_defaults(budget: int) -> dict[str, Any]:
    return {
        "learning_rate": 0.1,
        "gamma": 0.99,
        "exploration_fraction": 0.5,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.05,
    }


def _dqn_defaults(budget: int) -> dict[str, Any]:
    """DQN-family settings for short budgets (SB3's defaults assume ~1M steps)."""
    return {
        "learning_rate": 1e-3,
        "gamma": 0.99,
        "buffer_size": max(min(budget, 100_000), 64),
        "learning_starts": max(min(1_000, budget // 10), 32),
        "batch_size": 64,
        "train_freq": 4,
        "gradient_steps": 1,
        "target_update_interval": int(np.clip(budget // 50, 50, 1_000)),
        "exploration_fraction": 0.5,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.05,
    }


def _ppo_defaults(budget: int) -> dict[str, Any]:
    n_steps = int(np.clip(budget // 8, 32, 1024))
    return {
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "n_steps": n_steps,
        "batch_size": min(64, n_steps),
        "n_epochs": 4,
    }


def _a2c_defaults(budget: int) -> dict[str, Any]:
    return {"learning_rate": 7e-4, "gamma": 0.99, "n_steps": 8}


REGISTRY: dict[str, Adapter] = {}
"""Every algorithm the benchmark knows, by name."""


def register(adapter: Adapter) -> Adapter:
    """Add ``adapter`` to :data:`REGISTRY` (its name must be new)."""
    if adapter.name in REGISTRY:
        raise ValueError(f"benchmark algorithm {adapter.name!r} is already registered")
    REGISTRY[adapter.name] = adapter
    return adapter


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name``; a KeyError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown benchmark algorithm {name!r}; known: {sorted(REGISTRY)}") from None


TABULAR: tuple[str, ...] = tuple(name for name in tabular.__all__ if name != "TabularAgent")
"""The package's tabular agents (exact and stochastic), as exported by :mod:`rlcore.tabular`."""

for _cls in TABULAR:
    register(
        Adapter(
            _cls,
            "rlcore-tabular",
            f"rlcore.tabular:{_cls}",
            defaults=_tabular_defaults,
            needs_discrete_obs=True,
        )
    )
for _cls in ("StochDQN", "StochDDQN"):
    # "-stochastic": the default O(log n) maximizer (proposal "local"); "-paper": the paper's
    # C = R ∪ M exactly (proposal "paper"); "-exact": the exact max on the same network
    for _name, _fixed in (
        ("stochastic", {"maximizer": "stochastic"}),
        ("paper", {"maximizer": "stochastic", "proposal": "paper"}),
        ("exact", {"maximizer": "exact"}),
    ):
        register(
            Adapter(
                f"{_cls}-{_name}",
                "rlcore-deep",
                f"rlcore.stochdqn:{_cls}",
                fixed=_fixed,
                defaults=_dqn_defaults,
            )
        )
# proposals compared on validation seeds only (how the default was chosen; see the reach suite)
for _name, _fixed in (
    ("state", {"proposal": "state"}),
    ("refine1", {"proposal": "local", "refine_rounds": 1}),
    ("refine2", {"proposal": "local", "refine_rounds": 2}),
):
    register(
        Adapter(
            f"StochDQN-{_name}",
            "rlcore-deep",
            "rlcore.stochdqn:StochDQN",
            fixed={"maximizer": "stochastic"} | _fixed,
            defaults=_dqn_defaults,
        )
    )
register(Adapter("SB3-DQN", "sb3", "stable_baselines3:DQN", defaults=_dqn_defaults))
register(Adapter("SB3-PPO", "sb3", "stable_baselines3:PPO", defaults=_ppo_defaults))
register(Adapter("SB3-A2C", "sb3", "stable_baselines3:A2C", defaults=_a2c_defaults))
register(Adapter("Random", "random", "rlcore.bench.algorithms:RandomPolicy"))

BASELINE = "SB3-DQN"
"""The algorithm reports compare against (time-per-step ratios, return differences)."""
