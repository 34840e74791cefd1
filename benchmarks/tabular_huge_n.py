"""Tabular agents at huge n: per-step time and resident memory, and greedy prediction cost.

Part 1, one run: StochQLearning on ``rlcore/LargeActionMDP-v0`` with 10 states and
n = 10**2, 10**6, 10**8 actions: seconds per ``learn`` step and resident memory (RSS) growth per
step, with the package's lazily committed table (4 KiB pages, :func:`rlcore.common.tables
.lazy_zeros`) and, for comparison, a plain ``np.zeros`` table (numpy advises transparent huge
pages for large arrays: a first write commits 2 MiB). The ``np.zeros`` runs are capped at
``--zeros-steps`` steps, since each may commit 2 MiB.

Part 2: ``predict`` at n = 10**8 for 1 and 10 states: the default greedy policy of
StochQLearning (``O(log n)`` stochastic argmax), the exact argmax opt-in
(``exact=True``, ``O(n)`` time, no row copies) and, for 1 state, the previous
implementation ``q[:, states].sum(axis=0).argmax(axis=1)`` (copies whole rows); time and peak
extra memory allocated (tracemalloc, which sees numpy's allocations).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tabular_huge_n.py          # ~2-3 minutes
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tabular_huge_n.py --quick  # ~1 minute
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)

from rlcore import StochQLearning


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def make_agent(n: int, n_states: int, table: str) -> StochQLearning:
    env = gym.make("rlcore/LargeActionMDP-v0", n_states=n_states, n_actions=n)
    agent = StochQLearning(env, seed=0, exploration_fraction=0.5, exploration_final_eps=0.1)
    if table == "np.zeros":
        agent.q = np.zeros(agent.q.shape, dtype=agent.q.dtype)
    agent.learn(200)  # warm-up: first reset, imports, first pages
    return agent


def step_cost(agent: StochQLearning, steps: int) -> tuple[float, float]:
    """(seconds per step, RSS bytes gained per step) over ``steps`` more training steps."""
    gc.collect()
    r0, t0 = rss_bytes(), time.perf_counter()
    agent.learn(steps, reset_num_timesteps=False)
    return (time.perf_counter() - t0) / steps, (rss_bytes() - r0) / steps


def timed_peak(fn: Callable[[], object], repeats: int) -> tuple[float, int]:
    """(min seconds, peak bytes allocated by numpy/Python during one call)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ns", type=int, nargs="+", default=[10**2, 10**6, 10**8])
    parser.add_argument("--n-states", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--zeros-steps", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "tabular_huge_n.json"
    )
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = 5_000, 1

    print(f"Part 1: StochQLearning, LargeActionMDP with {args.n_states} states")
    print(
        f"(lazy table: min over {args.repeats} interleaved repeats of {args.steps} steps; np.zeros: "
        f"one run of {args.zeros_steps} steps, as each step may commit 2 MiB; RSS growth of the "
        "last repeat)\n"
    )
    rows = []
    plan = (("lazy (rlcore)", args.steps, args.repeats), ("np.zeros", args.zeros_steps, 1))
    for table, steps, repeats in plan:
        agents = {n: make_agent(n, args.n_states, table) for n in args.ns}
        best = {n: (float("inf"), 0.0) for n in args.ns}
        for _ in range(repeats):
            for n in args.ns:
                t, grow = step_cost(agents[n], steps)
                best[n] = (min(best[n][0], t), grow)
        for n in args.ns:
            rows.append(
                {
                    "table": table,
                    "n": n,
                    "steps": steps,
                    "s_per_step": best[n][0],
                    "rss_bytes_per_step": best[n][1],
                    "rss_mib_end": rss_bytes() / 2**20,
                }
            )
        del agents
        gc.collect()
    base = {r["table"]: r["s_per_step"] for r in rows if r["n"] == args.ns[0]}
    print("| table | n | steps | us / step | ratio to n = 1e2 | RSS KiB gained / step |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['table']} | {r['n']:.0e} | {r['steps']} | {r['s_per_step'] * 1e6:.0f} | "
            f"{r['s_per_step'] / base[r['table']]:.2f} | {r['rss_bytes_per_step'] / 1024:.1f} |"
        )

    n = args.ns[-1]
    print(f"\nPart 2: predict at n = {n:.0e} (StochQLearning, {args.n_states}-state table)\n")
    agent = make_agent(n, args.n_states, "lazy (rlcore)")
    agent.learn(args.steps, reset_num_timesteps=False)
    preds = []
    for n_pred in (1, 10):
        states = np.arange(n_pred) % args.n_states
        cases = [
            ("default greedy (stochastic, O(log n))", lambda s=states: agent.predict(s)),
            (
                "exact opt-in (exact=True)",
                lambda s=states: agent.predict(s, exact=True),
            ),
        ]
        if n_pred == 1:
            cases.append(
                (
                    "previous: q[:, states].sum(0).argmax(1)",
                    lambda s=states: agent.q[:, s].sum(axis=0).argmax(axis=1),
                )
            )
        for name, fn in cases:
            t, peak = timed_peak(fn, args.repeats)
            preds.append({"states": n_pred, "method": name, "seconds": t, "peak_bytes": peak})
    print("| states | method | seconds | peak extra memory |")
    print("|---:|---|---:|---:|")
    for p in preds:
        print(
            f"| {p['states']} | {p['method']} | {p['seconds']:.2e} | "
            f"{p['peak_bytes'] / 2**20:.2f} MiB |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"steps": rows, "predict": preds, "args": vars(args) | {"out": str(args.out)}}, indent=2
        )
    )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
