"""The ``rumour`` suite: early rumour detection on ``rlcore/RumourStream-v0``.

Algorithms: ``rlcore.ERD`` (RDM + checkpoint DQN, reading token ids) against SB3 DQN, PPO and
A2C (MLP policies reading the cumulative bag of words of everything read so far: an MLP has no
memory) and a random policy. All train on the training split of the same events with the same
rewards and are evaluated on the test split.

Evaluation (:class:`RumourEvaluator`): every algorithm answers each of the first
``eval_episodes`` test events (all of them when there are fewer), deterministically; from the
decisions (:class:`rlcore.erd.Decision`) come ``return`` (mean episode reward) and the metrics
of :func:`rlcore.erd.compute_metrics` (accuracy, precision, recall, F1, early rate ER, hours to
answer, flip rate, SEA) and ``accuracy@<h>h``: the share of events answered correctly within
``h`` hours of the first post (:func:`rlcore.erd.accuracy_by_deadline`). ERD decides with its
batched greedy :meth:`rlcore.ERD.decide`, SB3 models with :func:`rlcore.erd.baselines.sb3_decisions`
(their later predictions: the answer they prefer on the following chunks), both equal to
stepping the env deterministically; the random policy steps the env and has no later
predictions, so no flip rate and SEA.

ERD's step budget counts checkpoint-module decisions (its ``total_timesteps``; the RDM
pre-training on the training events comes on top and is included in its wall time); it is
evaluated after each of its ``n_rounds`` rounds, one round per evaluation point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from rlcore.bench.algorithms import Adapter, register
from rlcore.bench.protocol import EVALUATORS, EvalResult, Evaluator, Point, peak_memory_mb
from rlcore.bench.suites import SB3, EnvSpec, Group, Profile, register_suite

if TYPE_CHECKING:
    from rlcore.bench.suites import RunSpec

DEADLINES_HOURS: tuple[float, ...] = (1, 2, 4, 8, 12, 24, 48)
"""Deadlines of the ``accuracy@<h>h`` metrics."""


class RumourEvaluator(Evaluator):
    """Decisions on the test events of a ``RumourStreamEnv`` (see the module docstring)."""

    def __init__(self, make_env: Callable[[], gym.Env], seed: int, episodes: int) -> None:
        self.wrapped = make_env()
        self.env = self.wrapped.unwrapped
        self.seed = seed
        self.indices = range(min(episodes, len(self.env.streams)))

    def _decide_stepping(self, model: Any) -> tuple[list[Any], np.ndarray]:
        from rlcore.erd import Decision

        decisions, returns = [], []
        for i in self.indices:
            obs, _ = self.env.reset(seed=self.seed, options={"event_index": i})
            state, start, total, done = None, np.array([True]), 0.0, False
            while not done:
                action, state = model.predict(
                    obs[None], state=state, episode_start=start, deterministic=True
                )
                start = np.array([False])
                obs, reward, terminated, truncated, info = self.env.step(
                    int(np.asarray(action).reshape(-1)[0])
                )
                total += reward
                done = terminated or truncated
            decisions.append(
                Decision(
                    label=info["label"],
                    answer=info["answer"],
                    chunk=info["chunks_read"] - 1,
                    posts_read=info["posts_read"],
                    n_posts=info["n_posts"],
                    time_to_answer=info["elapsed_seconds"],
                )
            )
            returns.append(total)
        return decisions, np.asarray(returns)

    def _returns(self, decisions: list[Any]) -> np.ndarray:
        """Episode rewards of the decisions (a read per chunk before the answer, then the
        answer's reward; a forced stop, ``answer=None``, is wrong), as the env pays them."""
        env = self.env
        return np.asarray(
            [
                d.chunk * env.read_reward
                + (env.correct_reward if d.answer == d.label else env.wrong_reward)
                for d in decisions
            ],
            dtype=np.float64,
        )

    def decide(self, model: Any) -> tuple[list[Any], np.ndarray, bool]:
        """Decisions on the evaluation events, their returns, and whether the decisions carry
        the predictions after the answer (for the flip rate and SEA)."""
        streams = [self.env.streams[i] for i in self.indices]
        if hasattr(model, "decide"):  # ERD: its batched greedy decisions
            decisions = model.decide(streams)
            return decisions, self._returns(decisions), True
        if hasattr(getattr(model, "policy", None), "obs_to_tensor"):  # SB3 (memoryless MLP)
            from rlcore.erd.baselines import sb3_decisions

            view = SimpleNamespace(
                unwrapped=SimpleNamespace(streams=streams, observation=self.env.observation)
            )
            decisions = sb3_decisions(model, view)
            return decisions, self._returns(decisions), True
        decisions, returns = self._decide_stepping(model)
        return decisions, returns, False

    def __call__(self, model: Any) -> EvalResult:
        from rlcore.erd import accuracy_by_deadline, compute_metrics

        decisions, returns, has_later = self.decide(model)
        metrics = compute_metrics(decisions)
        metrics.pop("n", None)
        if not has_later:  # the flip rate needs predictions after the answer
            metrics.pop("flip_rate", None)
            metrics.pop("sea", None)
        acc = accuracy_by_deadline(decisions, [h * 3600.0 for h in DEADLINES_HOURS])
        metrics |= {f"accuracy@{h:g}h": float(a) for h, a in zip(DEADLINES_HOURS, acc, strict=True)}
        return float(returns.mean()), float(returns.std()), len(decisions), metrics

    def close(self) -> None:
        self.wrapped.close()


EVALUATORS["rumour"] = RumourEvaluator


class ERDAdapter(Adapter):
    """``rlcore.ERD``: one evaluation per training round (``n_rounds`` = evaluation points)."""

    def build(self, env: gym.Env, seed: int, hparams: dict[str, Any]) -> Any:
        return self.model_class()(env, seed=seed, **hparams)

    def run(self, spec: RunSpec) -> list[Point]:
        env = spec.env.make(self.family)
        model = self.build(env, spec.seed, spec.hparams | {"n_rounds": len(spec.eval_steps)})
        evaluator = RumourEvaluator(
            lambda: spec.env.make(self.family, evaluation=True), spec.seed, spec.eval_episodes
        )
        points: list[Point] = []
        clock = {"train": 0.0, "resumed": time.perf_counter()}

        def on_round(log: dict[str, float]) -> bool:
            clock["train"] += time.perf_counter() - clock["resumed"]
            prev_step, prev_time = (points[-1].step, points[-1].wall_time) if points else (0, 0.0)
            step = int(model.num_timesteps)
            mean, std, episodes, metrics = evaluator(model)
            points.append(
                Point(
                    step=step,
                    ret=mean,
                    ret_std=std,
                    episodes=episodes,
                    wall_time=clock["train"],
                    sec_per_step=(clock["train"] - prev_time) / max(step - prev_step, 1),
                    peak_mem_mb=peak_memory_mb(),
                    metrics=metrics,
                )
            )
            clock["resumed"] = time.perf_counter()
            return True

        try:
            model.learn(spec.budget, callback=on_round)
        finally:
            env.close()
            evaluator.close()
        if len(points) != len(spec.eval_steps):
            raise RuntimeError(f"ERD ran {len(points)} rounds, expected {len(spec.eval_steps)}")
        return points


def _erd_defaults(budget: int) -> dict[str, Any]:
    return {"learning_starts": max(min(500, budget // 10), 16)}


register(ERDAdapter("ERD", "rlcore-erd", "rlcore.erd:ERD", defaults=_erd_defaults))


def _stream(n_events: int) -> EnvSpec:
    return EnvSpec(
        "rlcore/RumourStream-v0",
        {"synthetic_kwargs": {"n_events": n_events, "seed": 0}, "split": "train"},
        eval_kwargs={"split": "test"},
        family_kwargs={
            fam: {"obs_mode": "bow", "cumulative": True, "vector_size": 512}
            for fam in ("sb3", "random")
        },
        evaluator="rumour",
    )


register_suite(
    "rumour",
    {
        "quick": Profile(
            groups=(Group(("ERD",) + SB3 + ("Random",), (_stream(120),)),),
            seeds=(0,),
            budget=200,
            eval_points=2,
            eval_episodes=20,
            hparams={
                "ERD": {
                    "rdm_pretrain_epochs": 1,
                    "embedding_dim": 16,
                    "hidden_size": 16,
                    "cm_hidden": 16,
                }
            },
        ),
        "full": Profile(
            groups=(Group(("ERD",) + SB3 + ("Random",), (_stream(2000),)),),
            seeds=(0, 1, 2),
            budget=10_000,
            eval_points=4,
            eval_episodes=10_000,
        ),
    },
)
