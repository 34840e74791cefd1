"""Per-step time of StochQLearning vs QLearning as the number of actions n grows.

Target (issue 2): StochQLearning's seconds per step at n = 10**6 within 2x of its time at
n = 10**2. Both agents run ``learn`` (acting + update + the env step) on
``rlcore/LargeActionMDP-v0`` whose own step cost does not depend on n. Every measurement is
repeated ``--repeats`` times, interleaved over n and agents, and the minimum is kept (the
usual noise-robust estimate on a shared machine); ratios come from this one run.

    .venv/bin/python benchmarks/tabular_scaling.py            # full table, ~1-2 minutes
    .venv/bin/python benchmarks/tabular_scaling.py --quick    # seconds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)

from rlcore import QLearning, StochQLearning
from rlcore.stochmax import default_num_random


def seconds_per_step(agent: QLearning, steps: int) -> float:
    """Wall seconds per ``learn`` step, continuing the agent's current run."""
    t0 = time.perf_counter()
    agent.learn(steps, reset_num_timesteps=False)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ns", type=int, nargs="+", default=[10**2, 10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--steps", type=int, default=20_000, help="timed steps of StochQLearning")
    parser.add_argument("--exact-steps", type=int, default=2_000, help="timed steps of QLearning")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-states", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "tabular_scaling.json"
    )
    args = parser.parse_args()
    if args.quick:
        args.steps, args.exact_steps, args.repeats = 2_000, 300, 1

    agents = {}
    for n in args.ns:
        for cls in (StochQLearning, QLearning):
            env = gym.make("rlcore/LargeActionMDP-v0", n_states=args.n_states, n_actions=n)
            agent = cls(env, seed=0, exploration_fraction=0.5, exploration_final_eps=0.1)
            agent.learn(200)  # warm-up: first reset, first touches of the table
            agents[cls.__name__, n] = agent

    best: dict[tuple[str, int], float] = {}
    for _ in range(args.repeats):
        for n in args.ns:
            for name, steps in (("StochQLearning", args.steps), ("QLearning", args.exact_steps)):
                t = seconds_per_step(agents[name, n], steps)
                best[name, n] = min(best.get((name, n), float("inf")), t)

    base_s, base_e = best["StochQLearning", args.ns[0]], best["QLearning", args.ns[0]]
    print(
        f"seconds per step on LargeActionMDP ({args.n_states} states), min of {args.repeats} repeats\n"
    )
    print(
        "| n | k = ceil(log2 n) | StochQLearning s/step | ratio to n0 | QLearning s/step | ratio to n0 | QLearning / StochQLearning |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for n in args.ns:
        s, e = best["StochQLearning", n], best["QLearning", n]
        rows.append(
            {"n": n, "k": default_num_random(n), "stoch_s_per_step": s, "exact_s_per_step": e}
        )
        print(
            f"| {n:.0e} | {default_num_random(n)} | {s:.2e} | {s / base_s:.2f} | {e:.2e} | {e / base_e:.2f} | {e / s:.1f} |"
        )
    ratio = best["StochQLearning", args.ns[-1]] / base_s
    ok = ratio <= 2.0
    print(
        f"\nStochQLearning at n={args.ns[-1]:.0e} / at n={args.ns[0]:.0e}: {ratio:.2f} (target <= 2): {'PASS' if ok else 'FAIL'}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "ratio": ratio, "target_met": ok}, indent=2))


if __name__ == "__main__":
    main()
