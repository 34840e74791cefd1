"""Main demo: stochastic vs exact maximization in tabular Q-learning on a large action space.

Part 1 trains every tabular agent (exact and stochastic) on ``rlcore/LargeActionMDP-v0`` with
256 actions (5 states, 2 good actions per state, Gaussian reward noise) and prints the exact
optimality gap of the greedy policy the agent acts with (``predict(obs)``: the ``O(log n)``
stochastic argmax for the stochastic agents), of the exact argmax of the same table
(``predict(obs, exact=True)``, ``O(n)``), and the time per step.
Part 2 times QLearning and StochQLearning per step with a million actions.

    .venv/bin/python examples/stochastic_vs_exact.py
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from stable_baselines3.common.utils import LinearSchedule

from rlcore import (
    DoubleQLearning,
    QLearning,
    Sarsa,
    StochDoubleQLearning,
    StochQLearning,
    StochSarsa,
)

GAMMA = 0.5
N_STATES = 5


def train(
    cls: type[QLearning], n_actions: int, steps: int, seed: int = 0
) -> tuple[QLearning, float]:
    env = gym.make(
        "rlcore/LargeActionMDP-v0", n_states=N_STATES, n_actions=n_actions, reward_std=0.5
    )
    agent = cls(
        env,
        learning_rate=LinearSchedule(0.3, 0.01, 1.0),
        gamma=GAMMA,
        exploration_fraction=0.6,
        exploration_final_eps=0.02,
        seed=seed,
    )
    t0 = time.perf_counter()
    agent.learn(steps)
    return agent, (time.perf_counter() - t0) / steps


def main() -> None:
    steps = 60_000
    print(f"Part 1: LargeActionMDP, {N_STATES} states x 256 actions, {steps} steps, gamma={GAMMA}")
    print(
        "| agent | maximizer | gap of greedy policy (predict) | gap of exact argmax | us / step |"
    )
    print("|---|---|---:|---:|---:|")
    for cls in (
        QLearning,
        StochQLearning,
        DoubleQLearning,
        StochDoubleQLearning,
        Sarsa,
        StochSarsa,
    ):
        agent, sps = train(cls, 256, steps)
        mdp = agent.env.envs[0].unwrapped
        policy, _ = agent.predict(np.arange(N_STATES))
        exact, _ = agent.predict(np.arange(N_STATES), exact=True)
        gap, gap_exact = mdp.optimality_gap(policy, GAMMA), mdp.optimality_gap(exact, GAMMA)
        print(
            f"| {cls.__name__} | {agent.maximizer} | {max(gap, 0.0):.1%} | "
            f"{max(gap_exact, 0.0):.1%} | {sps * 1e6:.0f} |"
        )

    n, steps = 10**6, 3_000
    print(f"\nPart 2: per-step time with n = {n:,} actions ({steps} steps each)")
    print("| agent | us / step |")
    print("|---|---:|")
    times = {}
    for cls in (QLearning, StochQLearning):
        _, sps = train(cls, n, steps)
        times[cls] = sps
        print(f"| {cls.__name__} | {sps * 1e6:.0f} |")
    print(
        f"\nStochQLearning is {times[QLearning] / times[StochQLearning]:.0f}x faster per step at n = {n:,}."
    )


if __name__ == "__main__":
    main()
