"""The one training / evaluation protocol every algorithm of the benchmark goes through.

* One ``learn(budget, callback=EvalPoints(...))`` call per run (so exploration and learning-rate
  schedules see the whole budget); the callback pauses training at each evaluation step,
  evaluates, and stops training right after the last point, so every algorithm trains for
  exactly the same number of environment steps.
* Evaluation: SB3's :func:`~stable_baselines3.common.evaluation.evaluate_policy` with
  ``deterministic=True`` on a separate evaluation env, re-seeded with the same seed before every
  evaluation, so all algorithms of a seed face the same evaluation episodes. The return is that
  of the policy the agent acts with (for a stochastic-max agent, its O(log n) greedy policy); a
  stochastic-max agent is also evaluated greedy by the exact argmax of the same network or table
  (metric ``return_exact_argmax``, for ``n <= 100,000``), so the cost of the approximation shows.
  The ``reach_regret`` protocol (:class:`ReachRegretEvaluator`, TargetReach) records regrets on
  fixed targets instead of episode returns.
* Timing: wall-clock training seconds (evaluation excluded) and seconds per step per segment.
* Memory: peak resident memory of the process, reset at the start of the run (Linux
  ``/proc/self/clear_refs``); elsewhere the process's lifetime peak (``ru_maxrss``), or 0
  where neither exists (Windows).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation env seed = ``EVAL_SEED_OFFSET + run seed`` (the same for every algorithm)."""


@dataclass
class Point:
    """One evaluation point of a run (becomes one results row)."""

    step: int
    ret: float
    ret_std: float
    episodes: int
    wall_time: float
    sec_per_step: float
    peak_mem_mb: float
    metrics: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------- memory
def reset_peak_memory() -> None:
    """Reset the process's peak-RSS counter (Linux >= 4.0); a no-op where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB since :func:`reset_peak_memory`."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


# --------------------------------------------------------------------------- evaluation
EvalResult = tuple[float, float, int, dict[str, float]]
"""``(mean return, std of returns, episodes, extra metrics)`` of one evaluation."""


class Evaluator:
    """Evaluate a model on a run's evaluation env (base class: the ``episodes`` protocol).

    ``evaluator(model)`` runs ``episodes`` deterministic episodes with SB3's
    :func:`~stable_baselines3.common.evaluation.evaluate_policy`, after re-seeding the env with
    ``EVAL_SEED_OFFSET + seed``: every call, and every algorithm of a seed, sees the same
    episodes.

    Args:
        make_env: builds the evaluation env.
        seed: the run seed.
        episodes: number of evaluation episodes.
    """

    def __init__(self, make_env: Callable[[], gym.Env], seed: int, episodes: int) -> None:
        self.env: VecEnv = DummyVecEnv([make_env])
        self.seed = seed
        self.episodes = episodes

    def _returns(self, model: Any) -> np.ndarray:
        self.env.seed(EVAL_SEED_OFFSET + self.seed)
        returns, _ = evaluate_policy(
            model,
            self.env,
            n_eval_episodes=self.episodes,
            deterministic=True,
            return_episode_rewards=True,
        )
        return np.asarray(returns, dtype=np.float64)

    def __call__(self, model: Any) -> EvalResult:
        r = self._returns(model)
        metrics: dict[str, float] = {}
        if _evaluates_exact_argmax_too(model, self.env):
            # The same trained network (or table), greedy by the exact O(n) argmax: the cost of
            # the O(log n) approximation is the gap between `return` and this metric.
            model.exact_predict = True
            try:
                metrics[EXACT_ARGMAX_METRIC] = float(self._returns(model).mean())
            finally:
                model.exact_predict = False
        return float(r.mean()), float(r.std()), int(r.size), metrics

    def close(self) -> None:
        self.env.close()


EXACT_ARGMAX_METRIC = "return_exact_argmax"
"""Metric name of the exact-argmax evaluation of a stochastic-max agent (see :class:`Evaluator`)."""

EXACT_EVAL_MAX_N = 100_000
"""Largest action count at which a stochastic-max agent is also evaluated by the exact argmax
(an O(n) policy: above this the diagnostic would dominate the run's time)."""


def _has_exact_opt_in(model: Any) -> bool:
    """True for an agent with a stochastic maximizer and an exact-argmax opt-in
    (``exact_predict``: StochDQN / StochDDQN, the stochastic tabular agents)."""
    return getattr(model, "maximizer", None) == "stochastic" and hasattr(model, "exact_predict")


def _evaluates_exact_argmax_too(model: Any, env: VecEnv) -> bool:
    """True for an agent with an exact-argmax opt-in (:func:`_has_exact_opt_in`) on a
    ``Discrete`` action space of at most :data:`EXACT_EVAL_MAX_N`."""
    n = getattr(env.action_space, "n", None)
    return _has_exact_opt_in(model) and n is not None and int(n) <= EXACT_EVAL_MAX_N


REACH_TARGET_SEED_OFFSET = 20_000
"""The reach evaluator's targets come from ``numpy.random.default_rng(REACH_TARGET_SEED_OFFSET
+ seed)`` (as the former ``benchmarks/deep_learning.py`` drew them, so its numbers carry over)."""

REACH_EXACT_MAX_N = 10**6
"""Largest action count at which the reach evaluator also scores a stochastic-max agent's exact
argmax (``O(n)`` per evaluation state: at ``10^6`` and 100 states, seconds to a minute)."""


class ReachRegretEvaluator(Evaluator):
    """Regrets on ``rlcore/TargetReach-v0`` over a fixed set of fresh targets (``"reach_regret"``).

    ``episodes`` targets ``t`` (shape ``(episodes, d)``, uniform in ``[-1, 1]^d``) and their
    noisy observations (the env's ``obs_noise``, clipped to ``[-2, 2]``) are drawn once, from a
    generator seeded with ``REACH_TARGET_SEED_OFFSET + seed``: the same targets at every
    evaluation point and for every algorithm of a seed. The regret of an action
    ``a`` for target ``t`` is ``||x(a) - t|| - min_b ||x(b) - t||`` (``x``: the action's grid
    coordinates; 0 for the nearest grid point); a policy's regret is its mean over the targets
    (the mean regret per step, each target being one step of the env).

    Recorded (one :data:`EvalResult`):

    * ``return`` = **minus** the regret of the model's own deterministic policy
      (``predict(obs, deterministic=True)``, one batched call; for StochDQN / StochDDQN the
      O(log n) stochastic argmax), so that higher is better as everywhere in the report;
      ``return_std`` = the standard deviation of the per-target regrets; ``episodes`` = the
      number of targets;
    * metric ``regret``: that regret itself (``-return``);
    * metric ``regret_exact_argmax``: for an agent with a stochastic maximizer and an exact
      opt-in (``exact_predict``, e.g. ``StochDQN-stochastic`` / ``-paper``), the regret of the
      exact argmax of the same network on the same targets (``O(n)`` per target: a diagnostic,
      computed only for ``n <= REACH_EXACT_MAX_N``);
    * metric ``regret_over_exact``: ``regret / regret_exact_argmax`` (left out when the exact
      argmax has regret 0, where the ratio is undefined);
    * metric ``regret_random``: the regret of uniformly random actions on the same targets (the
      trivial baseline, drawn from the same generator after the targets).

    Cost: one ``predict`` call on ``episodes`` observations (two for the exact diagnostic); no
    ``O(n)`` work besides the documented exact argmax.

    Args:
        make_env: builds the evaluation env (a TargetReach env, possibly wrapped).
        seed: the run seed.
        episodes: number of evaluation targets (an integer >= 1).

    Raises:
        TypeError: the env is not a TargetReach env (no action grid to compute regrets on).
        ValueError: ``episodes`` is not an integer >= 1; the model returns the wrong number
            of actions or actions outside ``[0, n)``.
    """

    def __init__(self, make_env: Callable[[], gym.Env], seed: int, episodes: int) -> None:
        if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
            raise ValueError(
                f"the reach_regret evaluator needs episodes (evaluation targets) >= 1, "
                f"got {episodes!r}"
            )
        self.wrapped = make_env()
        self.base = self.wrapped.unwrapped
        missing = [
            a for a in ("dim", "n_actions", "obs_noise", "action_coordinates", "optimal_action")
            if not hasattr(self.base, a)
        ]  # fmt: skip
        if missing:
            self.wrapped.close()
            raise TypeError(
                f"the reach_regret evaluator needs a TargetReach env (rlcore/TargetReach-v0), "
                f"got {type(self.base).__name__} (no {', '.join(missing)})"
            )
        self.seed = seed
        self.episodes = int(episodes)
        base = self.base
        rng = np.random.default_rng(REACH_TARGET_SEED_OFFSET + seed)
        self.targets = rng.uniform(-1.0, 1.0, (self.episodes, base.dim))
        noisy = self.targets + rng.normal(0.0, base.obs_noise, self.targets.shape)
        self.obs = np.clip(noisy, -2.0, 2.0).astype(np.float32)
        # the env's own nearest grid point (once per target, at construction)
        self.optimal_actions = np.array([base.optimal_action(t) for t in self.targets])
        self._best = self._distances(self.optimal_actions)
        self.random_actions = rng.integers(0, base.n_actions, self.episodes)

    def _distances(self, actions: np.ndarray) -> np.ndarray:
        coords = self.base.action_coordinates(actions)
        return np.linalg.norm(coords - self.targets, axis=1)

    def regrets(self, actions: Any) -> np.ndarray:
        """Per-target regrets (shape ``(episodes,)``) of ``actions`` (one per target)."""
        a = np.asarray(actions).reshape(-1)
        if a.shape != (self.episodes,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"expected {self.episodes} integer actions (one per evaluation target), got "
                f"{np.asarray(actions).dtype} array of shape {np.asarray(actions).shape}"
            )
        return self._distances(a) - self._best

    def _policy_regrets(self, model: Any) -> np.ndarray:
        return self.regrets(model.predict(self.obs, deterministic=True)[0])

    def __call__(self, model: Any) -> EvalResult:
        r = self._policy_regrets(model)
        regret = float(r.mean())
        metrics = {
            "regret": regret,
            "regret_random": float(self.regrets(self.random_actions).mean()),
        }
        if _has_exact_opt_in(model) and self.base.n_actions <= REACH_EXACT_MAX_N:
            before, model.exact_predict = model.exact_predict, True  # the same network, O(n)
            try:
                exact = float(self._policy_regrets(model).mean())
            finally:
                model.exact_predict = before
            metrics["regret_exact_argmax"] = exact
            if exact > 0:
                metrics["regret_over_exact"] = regret / exact
        return -regret, float(r.std()), self.episodes, metrics

    def close(self) -> None:
        self.wrapped.close()


EVALUATORS: dict[str, type[Evaluator]] = {
    "episodes": Evaluator,
    "reach_regret": ReachRegretEvaluator,
}
"""Evaluation protocols by name (``EnvSpec.evaluator``); the rumour suite adds ``"rumour"``."""


def get_evaluator(name: str) -> type[Evaluator]:
    """The evaluator class called ``name`` (a KeyError listing the known ones otherwise)."""
    try:
        return EVALUATORS[name]
    except KeyError:
        raise KeyError(f"unknown evaluator {name!r}; known: {sorted(EVALUATORS)}") from None


class EvalPoints(BaseCallback):
    """SB3 callback: evaluate at given step counts, time the training between them.

    Args:
        eval_steps: increasing step counts at which to evaluate; training stops after the last.
        evaluate_fn: ``evaluate_fn(model) -> EvalResult`` (e.g. an :class:`Evaluator`).
    """

    def __init__(self, eval_steps: Sequence[int], evaluate_fn: Callable[[Any], EvalResult]) -> None:
        super().__init__(verbose=0)
        self.eval_steps = list(eval_steps)
        self.evaluate_fn = evaluate_fn
        self.points: list[Point] = []
        self._train_time = 0.0
        self._resumed = 0.0

    def _on_training_start(self) -> None:
        self._resumed = time.perf_counter()

    def _on_step(self) -> bool:
        if len(self.points) == len(self.eval_steps):
            return False
        target = self.eval_steps[len(self.points)]
        if self.num_timesteps < target:
            return True
        self._train_time += time.perf_counter() - self._resumed
        prev_step = self.points[-1].step if self.points else 0
        prev_time = self.points[-1].wall_time if self.points else 0.0
        seg = max(self.num_timesteps - prev_step, 1)
        mean, std, episodes, metrics = self.evaluate_fn(self.model)
        self.points.append(
            Point(
                step=int(self.num_timesteps),
                ret=mean,
                ret_std=std,
                episodes=episodes,
                wall_time=self._train_time,
                sec_per_step=(self._train_time - prev_time) / seg,
                peak_mem_mb=peak_memory_mb(),
                metrics=metrics,
            )
        )
        self._resumed = time.perf_counter()
        return len(self.points) < len(self.eval_steps)


def train_with_eval_points(
    model: Any,
    budget: int,
    eval_steps: Sequence[int],
    evaluate_fn: Callable[[Any], EvalResult],
) -> list[Point]:
    """Train ``model`` (anything with SB3's ``learn(total_timesteps, callback=...)``) for
    ``budget`` steps, evaluating at ``eval_steps``; returns one :class:`Point` per step.

    Raises:
        RuntimeError: training ended before the last evaluation step.
    """
    cb = EvalPoints(eval_steps, evaluate_fn)
    model.learn(total_timesteps=budget, callback=CallbackList([cb]))
    if len(cb.points) != len(eval_steps):
        raise RuntimeError(
            f"{type(model).__name__} stopped after {len(cb.points)} of {len(eval_steps)} "
            f"evaluation points (steps {list(eval_steps)}); its learn() did not run the budget"
        )
    return cb.points


__all__ = [
    "EVALUATORS",
    "EVAL_SEED_OFFSET",
    "EvalPoints",
    "EvalResult",
    "Evaluator",
    "Point",
    "REACH_EXACT_MAX_N",
    "REACH_TARGET_SEED_OFFSET",
    "ReachRegretEvaluator",
    "get_evaluator",
    "peak_memory_mb",
    "reset_peak_memory",
    "train_with_eval_points",
]
