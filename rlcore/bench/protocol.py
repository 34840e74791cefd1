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


def _evaluates_exact_argmax_too(model: Any, env: VecEnv) -> bool:
    """True for an agent with a stochastic maximizer and an exact-argmax opt-in
    (``exact_predict``) on a ``Discrete`` action space of at most :data:`EXACT_EVAL_MAX_N`."""
    n = getattr(env.action_space, "n", None)
    return (
        getattr(model, "maximizer", None) == "stochastic"
        and hasattr(model, "exact_predict")
        and n is not None
        and int(n) <= EXACT_EVAL_MAX_N
    )


EVALUATORS: dict[str, type[Evaluator]] = {"episodes": Evaluator}
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
    "get_evaluator",
    "peak_memory_mb",
    "reset_peak_memory",
    "train_with_eval_points",
]
