"""Validation sweep of the grid refinement: how many rounds does the O(log n) policy need?

Trains one StochDQN (default proposal, validation seed 100) on rlcore/TargetReach-v0, then, on
the same network and the same ``K`` fresh targets, measures the mean regret of the O(log n)
greedy policy for ``refine_rounds`` in 0..8 and ``steps_per_octave`` in 1, 2, 4, against the
exact argmax of the network. Used to choose the default ``refine_rounds`` (never the reported
seeds). The trained model is cached in ``/tmp/refine_sweep_<dim>_<n>.zip``.

Usage (the runs quoted in ``refine_sweep_validation.txt`` next to this file)::

    OMP_NUM_THREADS=1 nice -n 5 python scripts/diagnostics/refine_sweep.py 1 100000 10000 400
    OMP_NUM_THREADS=1 nice -n 5 python scripts/diagnostics/refine_sweep.py 2 1000000 10000 100
"""

from __future__ import annotations

import os
import sys

import gymnasium as gym
import numpy as np
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th

from rlcore.bench.suites import PAPER_DQN  # the reach / paper suites' DQN setting
from rlcore.stochdqn import StochDQN
from rlcore.stochmax import GridNeighbourhood


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit("usage: refine_sweep.py DIM N_ACTIONS TRAIN_STEPS N_TARGETS")
    dim, n, steps, k = (int(x) for x in sys.argv[1:])
    th.set_num_threads(1)
    env = gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)
    path = f"/tmp/refine_sweep_{dim}_{n}.zip"
    if os.path.exists(path):
        model = StochDQN.load(path, env=env)
    else:
        model = StochDQN("MlpPolicy", env, seed=100, **PAPER_DQN)
        model.learn(steps)
        model.save(path)
    base = env.unwrapped
    rng = np.random.default_rng(5)
    targets = rng.uniform(-1, 1, (k, dim))
    obs = np.clip(targets + rng.normal(0, 0.01, targets.shape), -2, 2).astype(np.float32)
    idx = np.clip(np.floor((targets + 1) * base.bins / 2), 0, base.bins - 1).astype(np.int64)
    best = np.linalg.norm(base.action_coordinates(idx @ base._strides) - targets, axis=1)

    def regret(actions: np.ndarray) -> float:
        dist = np.linalg.norm(base.action_coordinates(actions) - targets, axis=1)
        return float(np.mean(dist - best))

    exact = regret(model.predict(obs, deterministic=True, exact=True)[0])
    print("exact", exact, flush=True)
    bins = model.q_net.action_bins
    for spo in (1, 2, 4):
        model._grid = GridNeighbourhood(bins, spo)
        for rounds in (0, 1, 2, 3, 4, 6, 8):
            model.refine_rounds = rounds
            logn = regret(model.predict(obs, deterministic=True)[0])
            print(
                f"spo={spo} rounds={rounds} size={model._grid.size} logn={logn:.4f} "
                f"ratio={logn / exact:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
