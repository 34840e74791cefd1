"""Seconds per environment step of StochDQN vs SB3's DQN as the number of actions grows.

One step = acting (epsilon-greedy, epsilon = 0.05 fixed) + one gradient step (batch 64,
train_freq 1), measured inside ``learn()`` on rlcore/TargetReach-v0 with n = 10^2 ... 10^6
actions (1-D grid), after a warm-up that fills the replay buffer. All configurations are
measured in one run, interleaved over ``--repeats`` rounds, and the median is reported, so
the ratios are robust to the load of a shared machine. Single torch thread.

Algorithms: ``stochdqn`` (StochDQN, MlpPolicy: state-action scorer fed with the action
coordinates), ``stochdqn_head`` (StochDQN, ActionHeadPolicy: per-action head with sparse rows,
an n-row table, lazy Adam), ``sb3dqn`` (stable_baselines3.DQN, MlpPolicy: a dense n-way output
layer and dense Adam). Same hyper-parameters for all (target_update_interval 1000).

Targets (issue 3): StochDQN(10^6) <= 1.5 x StochDQN(10^2) and <= 1.5 x SB3 DQN(10^2).

Usage::

    nice -n 5 python benchmarks/deep_scaling.py            # writes results/deep_scaling.json
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

from rlcore.stochdqn import StochDQN

RESULTS = Path(__file__).resolve().parent / "results"
HYPER: dict[str, Any] = dict(
    learning_rate=1e-3,
    buffer_size=20_000,
    learning_starts=200,
    batch_size=64,
    train_freq=1,
    gradient_steps=1,
    target_update_interval=1000,
    exploration_initial_eps=0.05,
    exploration_final_eps=0.05,
    policy_kwargs=dict(net_arch=[64, 64]),
)


def make(algo: str, n: int) -> Any:
    env = gym.make("rlcore/TargetReach-v0", n_actions=n)
    if algo == "stochdqn":
        return StochDQN("MlpPolicy", env, seed=0, **HYPER)
    if algo == "stochdqn_head":
        return StochDQN("ActionHeadPolicy", env, seed=0, **HYPER)
    if algo == "sb3dqn":
        return DQN("MlpPolicy", env, seed=0, max_grad_norm=10, **HYPER)
    raise ValueError(f"unknown algorithm {algo!r}")


def seconds_per_step(model: Any, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", nargs="+", type=int, default=[10**2, 10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--algos", nargs="+", default=["stochdqn", "stochdqn_head", "sb3dqn"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5, help="target time per measure")
    args = parser.parse_args()
    th.set_num_threads(1)

    models: dict[tuple[str, int], Any] = {}
    steps: dict[tuple[str, int], int] = {}
    for n in args.ns:
        for algo in args.algos:
            model = make(algo, n)
            model.learn(HYPER["learning_starts"] + 50)  # fill the buffer, first updates
            probe = seconds_per_step(model, 20)
            key = (algo, n)
            models[key] = model
            steps[key] = int(np.clip(args.seconds / probe, 20, 3000))
            print(f"ready {algo} n={n}: ~{probe * 1e3:.2f} ms/step -> {steps[key]} steps/measure")

    times: dict[tuple[str, int], list[float]] = {k: [] for k in models}
    for r in range(args.repeats):
        for key, model in models.items():
            times[key].append(seconds_per_step(model, steps[key]))
        print(f"round {r + 1}/{args.repeats} done")

    med = {k: float(np.median(v)) for k, v in times.items()}
    n0 = args.ns[0]
    header = f"{'n':>9} | " + " | ".join(f"{a + ' ms/step':>20}" for a in args.algos)
    header += " | StochDQN(n)/StochDQN(1e2) | StochDQN(n)/SB3(1e2) | SB3(n)/StochDQN(n)"
    print(header)
    print("-" * len(header))
    for n in args.ns:
        cells = " | ".join(f"{med[(a, n)] * 1e3:20.3f}" for a in args.algos)
        s = med.get(("stochdqn", n))
        extra = ""
        if s is not None:
            extra += f" | {s / med[('stochdqn', n0)]:25.2f}"
            if ("sb3dqn", n0) in med:
                extra += f" | {s / med[('sb3dqn', n0)]:20.2f} | {med[('sb3dqn', n)] / s:18.1f}"
        print(f"{n:>9} | {cells}{extra}")
    nmax = args.ns[-1]
    if ("stochdqn", nmax) in med and ("sb3dqn", n0) in med:
        r_own = med[("stochdqn", nmax)] / med[("stochdqn", n0)]
        r_sb3 = med[("stochdqn", nmax)] / med[("sb3dqn", n0)]
        print(
            f"targets: StochDQN(n={nmax})/StochDQN(n={n0}) = {r_own:.2f} (<= 1.5: "
            f"{'PASS' if r_own <= 1.5 else 'FAIL'}); StochDQN(n={nmax})/SB3DQN(n={n0}) = "
            f"{r_sb3:.2f} (<= 1.5: {'PASS' if r_sb3 <= 1.5 else 'FAIL'})"
        )
    RESULTS.mkdir(exist_ok=True)
    out = {
        "unit": "seconds per env step (acting + 1 gradient step, batch 64, train_freq 1)",
        "hyper": {k: v for k, v in HYPER.items() if k != "policy_kwargs"},
        "median": {f"{a}/{n}": med[(a, n)] for a, n in med},
        "all": {f"{a}/{n}": t for (a, n), t in times.items()},
        "steps_per_measure": {f"{a}/{n}": s for (a, n), s in steps.items()},
    }
    tmp = RESULTS / "deep_scaling.json.tmp"
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, RESULTS / "deep_scaling.json")


if __name__ == "__main__":
    main()
