"""Learning benchmark of StochDQN / StochDDQN against exact-max DQN and SB3's DQN.

Tasks (``--task``):

* ``pendulum``: rlcore/DiscreteInvertedPendulum-v0 (1000 actions). Deterministic evaluation
  (10 episodes) every ``--eval-freq`` steps; criterion: best evaluation return >= 950 on at
  least 4 of 5 seeds within ``--steps`` (100k). With ``--stop-at`` (default 950) a run stops at
  the first evaluation that reaches it: the best evaluation return can only grow with more
  steps, so stopping early does not change whether the criterion is met and saves CPU time.
* ``cheetah``: rlcore/DiscreteHalfCheetah-v0 (4096 actions). Every algorithm gets the same step
  budget; final deterministic return over 10 episodes. Criterion: StochDQN's and StochDDQN's
  mean final return >= exact-max DQN's and >= SB3 DQN's. ``exactdqn`` is the same code and
  network as StochDQN with ``maximizer="exact"`` (it scores 64 x 4096 (state, action) rows per
  target: about 0.66 s per step on the 2-core test machine, so 100k steps take ~18 h);
  ``exactdqn_head`` is exact-max DQN with the per-action head network (``ActionHeadPolicy``),
  whose exact max is one matrix product.
* ``reach``: rlcore/TargetReach-v0 with 10^5 actions. Criterion: StochDQN's mean regret per step
  (deterministic policy, 2000 fresh targets) < 10% of a uniformly random policy's.

Results are written after every evaluation (atomically) to
``benchmarks/results/deep_learning_<task>.json`` so that partial results survive; ``--report``
prints the tables from that file.

Usage::

    nice -n 5 python benchmarks/deep_learning.py --task pendulum --seeds 0 1 2 3 4
    python benchmarks/deep_learning.py --task pendulum --report
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
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from rlcore.stochdqn import StochDDQN, StochDQN

RESULTS = Path(__file__).resolve().parent / "results"

# Shared hyper-parameters (identical for every algorithm of a task).
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
TASKS: dict[str, dict[str, Any]] = {
    "pendulum": dict(env_id="rlcore/DiscreteInvertedPendulum-v0", env_kwargs={}, steps=100_000),
    "cheetah": dict(env_id="rlcore/DiscreteHalfCheetah-v0", env_kwargs={}, steps=100_000),
    "reach": dict(env_id="rlcore/TargetReach-v0", env_kwargs={"n_actions": 100_000}, steps=20_000),
}
ALGOS = ("stochdqn", "stochddqn", "exactdqn", "exactdqn_head", "sb3dqn")


def make_model(algo: str, env: gym.Env, seed: int) -> Any:
    """The algorithm ``algo`` with the shared hyper-parameters on ``env``."""
    if algo == "stochdqn":
        return StochDQN("MlpPolicy", env, seed=seed, **COMMON)
    if algo == "stochddqn":
        return StochDDQN("MlpPolicy", env, seed=seed, **COMMON)
    if algo == "exactdqn":
        return StochDQN("MlpPolicy", env, seed=seed, maximizer="exact", **COMMON)
    if algo == "exactdqn_head":  # exact max is one matrix product with a per-action head
        return StochDQN("ActionHeadPolicy", env, seed=seed, maximizer="exact", **COMMON)
    if algo == "sb3dqn":
        return DQN("MlpPolicy", env, seed=seed, max_grad_norm=10, **COMMON)
    raise ValueError(f"unknown algorithm {algo!r}, expected one of {ALGOS}")


class ResultsFile:
    """A JSON list of run records, rewritten atomically after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []

    def record(self, run: dict[str, Any]) -> dict[str, Any]:
        self.records = [r for r in self.records if r["run"] != run["run"]] + [run]
        self.save()
        return run

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.records, indent=1))
        os.replace(tmp, self.path)


class RecordEvaluations(BaseCallback):
    """``callback_after_eval`` of an EvalCallback: save each evaluation, stop at a threshold."""

    def __init__(self, results: ResultsFile, run: dict[str, Any], stop_at: float | None) -> None:
        super().__init__()
        self.results, self.run, self.stop_at = results, run, stop_at

    def _on_step(self) -> bool:
        parent = self.parent
        assert isinstance(parent, EvalCallback)
        self.run["evals"].append([int(self.num_timesteps), float(parent.last_mean_reward)])
        self.run["best"] = max(e[1] for e in self.run["evals"])
        self.run["seconds"] = time.time() - self.run["_start"]
        self.results.record({k: v for k, v in self.run.items() if not k.startswith("_")})
        print(f"  {self.run['run']} t={self.num_timesteps} eval={parent.last_mean_reward:.1f}")
        return self.stop_at is None or self.run["best"] < self.stop_at


def run_one(
    task: str, algo: str, seed: int, args: argparse.Namespace, results: ResultsFile
) -> None:
    spec = TASKS[task]
    steps = args.steps or spec["steps"]
    env = gym.make(spec["env_id"], **spec["env_kwargs"])
    eval_env = Monitor(gym.make(spec["env_id"], **spec["env_kwargs"]))
    eval_env.reset(seed=10_000 + seed)
    model = make_model(algo, env, seed)
    run: dict[str, Any] = dict(
        run=f"{task}/{algo}/seed{seed}", task=task, algo=algo, seed=seed, budget=steps, evals=[]
    )
    run["_start"] = time.time()
    if task == "pendulum":
        record = RecordEvaluations(results, run, args.stop_at)
        callback = EvalCallback(
            eval_env,
            callback_after_eval=record,
            n_eval_episodes=10,
            eval_freq=args.eval_freq,
            deterministic=True,
            verbose=0,
        )
        model.learn(steps, callback=callback)
        run["steps_done"] = int(model.num_timesteps)
    elif task == "cheetah":
        model.learn(steps)
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
        run.update(final=float(mean), final_std=float(std), steps_done=int(model.num_timesteps))
    else:
        model.learn(steps)
        run.update(steps_done=int(model.num_timesteps), **reach_regrets(model, eval_env, seed))
    run["seconds"] = time.time() - run.pop("_start")
    results.record(run)
    print(f"done {run['run']}: " + json.dumps({k: v for k, v in run.items() if k != "evals"}))


def reach_regrets(model: Any, env: gym.Env, seed: int, n_steps: int = 2000) -> dict[str, float]:
    """Mean regret per step of the deterministic policy, of the training-time greedy policy
    (stochastic argmax, no exploration) and of a uniformly random policy, on fresh targets."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in ("deterministic", "stochastic_greedy", "random"):
        obs, _ = env.reset(seed=20_000 + seed)
        regrets = []
        model.exploration_rate = 0.0
        for _ in range(n_steps):
            if name == "random":
                action = int(rng.integers(env.action_space.n))
            else:
                action, _ = model.predict(obs, deterministic=name == "deterministic")
            obs, _, term, trunc, info = env.step(action)
            regrets.append(info["regret"])
            if term or trunc:
                obs, _ = env.reset()
        out[f"regret_{name}"] = float(np.mean(regrets))
    return out


def step_costs(task: str, algos: list[str], steps: int = 30) -> None:
    """Seconds per training step (acting + 1 gradient step) of each algorithm on ``task``,
    measured after the warm-up (``learning_starts``), one after the other."""
    spec = TASKS[task]
    for algo in algos:
        model = make_model(algo, gym.make(spec["env_id"], **spec["env_kwargs"]), seed=0)
        model.learn(COMMON["learning_starts"] + 10)
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        per_step = (time.perf_counter() - start) / steps
        print(
            f"{task} {algo:14s} {per_step * 1e3:9.2f} ms/step -> 100k steps ~ {per_step * 1e5 / 3600:.2f} h"
        )


def report(task: str) -> None:
    path = RESULTS / f"deep_learning_{task}.json"
    if not path.exists():
        print(f"no results in {path}")
        return
    records = json.loads(path.read_text())
    by_algo: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_algo.setdefault(r["algo"], []).append(r)
    print(f"task {task} ({path.name})")
    for algo, runs in by_algo.items():
        runs.sort(key=lambda r: r["seed"])
        if task == "pendulum":
            done = [r for r in runs if "steps_done" in r]
            best = [round(r.get("best", float("nan")), 1) for r in runs]
            ok = sum(r.get("best", 0) >= 950 for r in runs)
            first = [next((t for t, v in r["evals"] if v >= 950), None) for r in runs]
            print(
                f"  {algo:10s} seeds={[r['seed'] for r in runs]} best_eval={best} "
                f"steps_to_950={first} seeds>=950: {ok}/{len(runs)} finished={len(done)}"
            )
        elif task == "cheetah":
            finals = [round(r["final"], 1) for r in runs if "final" in r]
            mean = np.mean(finals) if finals else float("nan")
            print(f"  {algo:10s} final returns={finals} mean={mean:.1f} budget={runs[0]['budget']}")
        else:
            for r in runs:
                ratio = r["regret_deterministic"] / r["regret_random"]
                print(
                    f"  {algo:10s} seed={r['seed']} steps={r['steps_done']} "
                    f"regret det={r['regret_deterministic']:.4f} "
                    f"stoch-greedy={r['regret_stochastic_greedy']:.4f} "
                    f"random={r['regret_random']:.4f} det/random={ratio:.3f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=tuple(TASKS), required=True)
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="step budget (task default)")
    parser.add_argument("--eval-freq", type=int, default=5000)
    parser.add_argument("--stop-at", type=float, default=950.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="print the tables and exit")
    parser.add_argument("--step-cost", action="store_true", help="time each algorithm's step")
    args = parser.parse_args()
    if args.report:
        report(args.task)
        return
    th.set_num_threads(args.threads)
    if args.step_cost:
        step_costs(args.task, args.algos or list(ALGOS))
        return
    RESULTS.mkdir(exist_ok=True)
    results = ResultsFile(RESULTS / f"deep_learning_{args.task}.json")
    default_algos = {
        "pendulum": ["stochdqn"],
        "cheetah": ["stochdqn", "stochddqn", "exactdqn", "sb3dqn"],
        "reach": ["stochdqn"],
    }
    default_seeds = {"pendulum": [0, 1, 2, 3, 4], "cheetah": [0, 1, 2], "reach": [0]}
    for seed in args.seeds or default_seeds[args.task]:
        for algo in args.algos or default_algos[args.task]:
            run_one(args.task, algo, seed, args, results)
    report(args.task)


if __name__ == "__main__":
    main()
