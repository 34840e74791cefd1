"""Learning benchmark of StochDQN / StochDDQN: is the O(log n) policy itself good?

Every trained network is evaluated with **its own O(log n) policy** (``predict(deterministic=
True)``: the algorithm's stochastic argmax, no exploration) and with **the exact argmax of the
same network** (``predict(..., exact=True)``, O(n)), so the cost of the approximation is visible,
next to a uniformly random policy (the trivial baseline). Variants differ only by the candidate
proposal used in training and acting (identical hyper-parameters, budget and seeds):

* ``stochdqn:local`` (the default proposal): ``C = R ∪ M`` + the replay action of ``s'`` in the
  TD target (state-conditioned memory) + ``refine_rounds`` rounds of multi-scale coordinate
  refinement on the action grid when acting (``stochdqn:local:3``: 3 rounds);
* ``stochdqn:state``: ``C = R ∪ M`` + the replay action of ``s'`` (no refinement);
* ``stochdqn:paper``: the paper's ``C = R ∪ M`` exactly;
* ``stochddqn:<proposal>``: the same with StochDDQN; ``sb3dqn``: SB3's DQN (a different
  architecture: per-action output layer, exact max).

Tasks (``--task``):

* ``reach2d_1024``, ``reach2d_1e6``, ``reach1d_1e5``: rlcore/TargetReach-v0 (2-D, n = 1024;
  2-D, n = 10^6; 1-D, n = 10^5). Final evaluation after the whole budget: mean regret per step
  over ``eval_states`` fresh targets (the same targets for every policy of a seed).
* ``cheetah``: rlcore/DiscreteHalfCheetah-v0 (4 bins per joint, 4096 actions). Evaluations
  (``--eval-episodes`` episodes of the O(log n) policy) at 80 %, 90 % and 100 % of the budget;
  the final return is their mean (no best-evaluation, no early stop); the exact argmax of the
  same network is evaluated at the end.

Seeds: the reported runs use seeds 0, 1, 2; the defaults (proposal, refinement rounds) were
chosen on validation seeds 100, 101 (``--tag validation``), never on the reported ones.
Results are written atomically after every run to ``benchmarks/results/deep_learning_<task>
[_<tag>].json``; ``--report`` prints Markdown tables (mean ± 95 % CI over seeds, Student t).

Usage::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/deep_learning.py --task reach2d_1024 \\
        --variants stochdqn:local stochdqn:paper --seeds 0 1 2
    python benchmarks/deep_learning.py --task reach2d_1024 --report
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from rlcore.bench.stats import bootstrap_ci
from rlcore.stochdqn import StochDDQN, StochDQN

RESULTS = Path(__file__).resolve().parent / "results"

# Shared hyper-parameters (identical for every variant of every task).
COMMON: dict[str, Any] = dict(
    learning_rate=1e-3,
    buffer_size=100_000,
    learning_starts=1000,
    batch_size=64,
    gamma=0.99,
    train_freq=1,
    gradient_steps=1,
    target_update_interval=1000,
    exploration_fraction=0.1,
    exploration_initial_eps=1.0,
    exploration_final_eps=0.05,
    policy_kwargs=dict(net_arch=[64, 64]),
)
REACH = "rlcore/TargetReach-v0"
TASKS: dict[str, dict[str, Any]] = {
    "reach2d_1024": dict(env_id=REACH, env_kwargs={"n_actions": 1024, "dim": 2}, steps=5000),
    "reach2d_1e6": dict(env_id=REACH, env_kwargs={"n_actions": 10**6, "dim": 2}, steps=10_000),
    "reach1d_1e5": dict(env_id=REACH, env_kwargs={"n_actions": 10**5, "dim": 1}, steps=10_000),
    "cheetah": dict(env_id="rlcore/DiscreteHalfCheetah-v0", env_kwargs={}, steps=20_000),
}
EVAL_STATES = {"reach2d_1024": 1000, "reach2d_1e6": 100, "reach1d_1e5": 300}


def make_model(variant: str, env: gym.Env, seed: int) -> Any:
    """``variant`` = ``sb3dqn`` or ``stochdqn|stochddqn[:proposal[:refine_rounds]]``, or
    ``stochdqn:exact`` (exact max, same network)."""
    if variant == "sb3dqn":
        return DQN("MlpPolicy", env, seed=seed, max_grad_norm=10, **COMMON)
    algo, *rest = variant.split(":")
    cls = {"stochdqn": StochDQN, "stochddqn": StochDDQN}.get(algo)
    if cls is None:
        raise ValueError(f"unknown variant {variant!r}")
    kwargs: dict[str, Any] = {}
    if rest and rest[0] == "exact":
        kwargs["maximizer"] = "exact"
    elif rest:
        kwargs["proposal"] = rest[0]
        if len(rest) > 1:
            kwargs["refine_rounds"] = int(rest[1])
    return cls("MlpPolicy", env, seed=seed, **kwargs, **COMMON)


class ResultsFile:
    """A JSON list of run records, rewritten atomically after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        old = json.loads(path.read_text()) if path.exists() else []
        # records of an earlier protocol (no "variant": best-evaluation / threshold-stopped
        # runs, exact-argmax evaluation) are dropped
        self.records: list[dict[str, Any]] = [r for r in old if "variant" in r]

    def record(self, run: dict[str, Any]) -> None:
        self.records = [r for r in self.records if r["run"] != run["run"]] + [run]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(self.records, indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def reach_regrets(model: Any, env: gym.Env, n_states: int, seed: int) -> dict[str, float]:
    """Mean regret per step over ``n_states`` fresh targets of the O(log n) policy, the exact
    argmax of the same network and a uniformly random policy (same targets for all)."""
    base = env.unwrapped
    rng = np.random.default_rng(20_000 + seed)
    targets = rng.uniform(-1, 1, (n_states, base.dim))
    obs = np.clip(targets + rng.normal(0, base.obs_noise, targets.shape), -2, 2).astype(np.float32)
    idx = np.clip(np.floor((targets + 1.0) * base.bins / 2.0), 0, base.bins - 1).astype(np.int64)
    best = np.linalg.norm(base.action_coordinates(idx @ base._strides) - targets, axis=1)

    def regret(actions: np.ndarray) -> float:
        dist = np.linalg.norm(base.action_coordinates(actions) - targets, axis=1)
        return float(np.mean(dist - best))

    out = {"random": regret(rng.integers(0, base.n_actions, n_states))}
    if isinstance(model, DQN):
        out["sb3"] = regret(model.predict(obs, deterministic=True)[0])
        return out
    start = time.perf_counter()
    out["logn"] = regret(model.predict(obs, deterministic=True)[0])
    out["logn_seconds_per_state"] = (time.perf_counter() - start) / n_states
    start = time.perf_counter()
    out["exact"] = regret(model.predict(obs, deterministic=True, exact=True)[0])
    out["exact_seconds_per_state"] = (time.perf_counter() - start) / n_states
    return out


def run_one(
    task: str, variant: str, seed: int, args: argparse.Namespace, results: ResultsFile
) -> None:
    spec = TASKS[task]
    steps = args.steps or spec["steps"]
    env = gym.make(spec["env_id"], **spec["env_kwargs"])
    model = make_model(variant, env, seed)
    run: dict[str, Any] = dict(
        run=f"{task}/{variant}/seed{seed}", task=task, variant=variant, seed=seed, budget=steps
    )
    start = time.time()
    if task.startswith("reach"):
        model.learn(steps)
        run["train_seconds"] = time.time() - start
        run["regret"] = reach_regrets(model, env, EVAL_STATES[task], seed)
    else:
        eval_env = Monitor(gym.make(spec["env_id"], **spec["env_kwargs"]))
        eval_env.reset(seed=10_000 + seed)
        evals = []
        done = 0
        for frac in (0.8, 0.9, 1.0):
            model.learn(int(frac * steps) - done, reset_num_timesteps=done == 0)
            done = int(frac * steps)
            mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
            evals.append([done, float(mean)])
            print(f"  {run['run']} t={done} eval={mean:.1f}", flush=True)
        run["train_seconds"] = time.time() - start
        run["evals"] = evals
        run["final"] = float(np.mean([v for _, v in evals]))
        if not isinstance(model, DQN) and model.maximizer == "stochastic":
            model.exact_predict = True
            run["final_exact"] = float(
                evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)[0]
            )
    run["steps_done"] = int(model.num_timesteps)
    run["seconds"] = time.time() - start
    results.record(run)
    print(f"done {json.dumps(run)}", flush=True)


def mean_ci(values: list[float]) -> str:
    """``mean [low, high]``: the 95 % percentile-bootstrap interval across seeds
    (:func:`rlcore.bench.stats.bootstrap_ci`, the same as ``rlcore bench report``); ``mean``
    alone for one value."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():.4g}" if len(v) else "-"
    m, lo, hi = bootstrap_ci(v)
    return f"{m:.4g} [{lo:.4g}, {hi:.4g}]"


def report(task: str, tag: str | None) -> None:
    path = RESULTS / f"deep_learning_{task}{'_' + tag if tag else ''}.json"
    if not path.exists():
        print(f"no results in {path}")
        return
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in json.loads(path.read_text()):
        if "variant" in r:  # records of this protocol only
            by_variant.setdefault(r["variant"], []).append(r)
    spec = TASKS[task]
    print(f"#### {task}: {spec['env_id']} {spec['env_kwargs']} ({path.name})\n")
    if task.startswith("reach"):
        print(
            "| variant (training proposal) | seeds | steps | regret, O(log n) policy | "
            "regret, exact argmax (same net) | O(log n) / exact | random policy |"
        )
        print("|---|---|---|---|---|---|---|")
        for variant, runs in by_variant.items():
            runs.sort(key=lambda r: r["seed"])
            reg = [r["regret"] for r in runs]
            key = "sb3" if "sb3" in reg[0] else "logn"
            logn = [g[key] for g in reg]
            exact = [g["exact"] for g in reg if "exact" in g]
            ratio = mean_ci([g[key] / g["exact"] for g in reg]) if exact else "-"
            print(
                f"| {variant} | {[r['seed'] for r in runs]} | {runs[0]['steps_done']} | "
                f"{mean_ci(logn)} | {mean_ci(exact) if exact else '-'} | {ratio} | "
                f"{mean_ci([g['random'] for g in reg])} |"
            )
    else:
        print(
            "| variant | seeds | steps | final return (mean of evals at 80/90/100 %): "
            "StochDQN's O(log n) policy, SB3's own exact argmax | exact argmax of the same "
            "StochDQN net (at 100 %) |"
        )
        print("|---|---|---|---|---|")
        for variant, runs in by_variant.items():
            runs.sort(key=lambda r: r["seed"])
            exact = [r["final_exact"] for r in runs if "final_exact" in r]
            print(
                f"| {variant} | {[r['seed'] for r in runs]} | {runs[0]['steps_done']} | "
                f"{mean_ci([r['final'] for r in runs])} | {mean_ci(exact) if exact else '-'} |"
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=tuple(TASKS), required=True)
    parser.add_argument("--variants", nargs="+", default=["stochdqn:local", "stochdqn:paper"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="step budget (task default)")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--tag", default=None, help="results file suffix, e.g. validation")
    parser.add_argument("--report", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    if args.report:
        report(args.task, args.tag)
        return
    th.set_num_threads(1)
    RESULTS.mkdir(exist_ok=True)
    results = ResultsFile(
        RESULTS / f"deep_learning_{args.task}{'_' + args.tag if args.tag else ''}.json"
    )
    for seed in args.seeds:
        for variant in args.variants:
            run_one(args.task, variant, seed, args, results)
    report(args.task, args.tag)


if __name__ == "__main__":
    main()
