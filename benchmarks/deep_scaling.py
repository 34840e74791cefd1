"""Cost per step of StochDQN vs SB3's DQN as the number of actions grows, in one run.

Two measures on rlcore/TargetReach-v0 (``--dim``-D grid, n = 10^2 ... 10^6 actions):

* **train**: seconds per environment step inside ``learn()``: acting (epsilon-greedy, epsilon =
  0.05 fixed) + one gradient step (batch 64, train_freq 1), after a warm-up that fills the
  replay buffer;
* **eval**: seconds per ``predict(obs, deterministic=True)`` call on one observation (the
  greedy policy that ``evaluate_policy`` / ``EvalCallback`` use); for StochDQN the default
  O(log n) policy, and once, for reference, the O(n) exact argmax (``exact=True``).

Variants: ``stochdqn`` (StochDQN, default proposal ``local``: ``R ∪ M`` + state memory +
grid refinement), ``stochdqn_paper`` (the paper's ``C = R ∪ M``), ``stochdqn_head``
(StochDQN with ``ActionHeadPolicy``: per-action head rows, scoring is a gather; no action
coordinates, so no refinement), ``sb3dqn``
(stable_baselines3.DQN: dense n-way output layer, exact max; measured up to ``--sb3-max-n``).
Same hyper-parameters for all. All configurations are measured in one process, interleaved
over ``--repeats`` rounds, and the median is reported, so the ratios are robust to the load of
a shared machine. Single torch thread.

Targets (issue 9): train StochDQN(10^6) <= SB3 DQN(10^2); eval StochDQN(10^6) <= 1.5 x
StochDQN(10^2).

Usage::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/deep_scaling.py   # results/deep_scaling.json
    python benchmarks/deep_scaling.py --report
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
OUT = RESULTS / "deep_scaling.json"
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


def make(algo: str, n: int, dim: int) -> Any:
    env = gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)
    if algo == "stochdqn":
        return StochDQN("MlpPolicy", env, seed=0, **HYPER)
    if algo == "stochdqn_paper":
        return StochDQN("MlpPolicy", env, seed=0, proposal="paper", **HYPER)
    if algo == "stochdqn_head":
        return StochDQN("ActionHeadPolicy", env, seed=0, **HYPER)
    if algo == "sb3dqn":
        return DQN("MlpPolicy", env, seed=0, max_grad_norm=10, **HYPER)
    raise ValueError(f"unknown algorithm {algo!r}")


def seconds_per_step(model: Any, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return (time.perf_counter() - start) / steps


def seconds_per_predict(model: Any, obs: np.ndarray, exact: bool = False) -> float:
    kwargs = {"exact": True} if exact else {}
    start = time.perf_counter()
    for o in obs:
        model.predict(o, deterministic=True, **kwargs)
    return (time.perf_counter() - start) / len(obs)


def integer_root_ok(n: int, dim: int) -> bool:
    b = round(n ** (1 / dim))
    return b**dim == n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", nargs="+", type=int, default=[10**2, 10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--dim", type=int, default=1)
    parser.add_argument(
        "--algos", nargs="+", default=["stochdqn", "stochdqn_paper", "stochdqn_head", "sb3dqn"]
    )
    parser.add_argument("--sb3-max-n", type=int, default=10**4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="target time per measure")
    parser.add_argument("--report", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    if args.report:
        report()
        return
    th.set_num_threads(1)
    ns = [n for n in args.ns if integer_root_ok(n, args.dim)]
    models: dict[tuple[str, int], Any] = {}
    steps: dict[tuple[str, int], int] = {}
    for n in ns:
        for algo in args.algos:
            if algo == "sb3dqn" and n > args.sb3_max_n:
                continue
            model = make(algo, n, args.dim)
            model.learn(HYPER["learning_starts"] + 50)  # fill the buffer, first updates
            probe = seconds_per_step(model, 20)
            models[(algo, n)] = model
            steps[(algo, n)] = int(np.clip(args.seconds / probe, 20, 2000))
            print(f"ready {algo} n={n}: ~{probe * 1e3:.2f} ms/step", flush=True)
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (200, args.dim)).astype(np.float32)
    train: dict[tuple[str, int], list[float]] = {k: [] for k in models}
    evals: dict[tuple[str, int], list[float]] = {k: [] for k in models}
    for r in range(args.repeats):
        for key, model in models.items():
            train[key].append(seconds_per_step(model, steps[key]))
            evals[key].append(seconds_per_predict(model, obs))
        print(f"round {r + 1}/{args.repeats} done", flush=True)
    exact = {}
    for algo in ("stochdqn",):
        for n in (ns[0], ns[-1]):
            if (algo, n) in models:
                exact[f"{algo}/{n}"] = seconds_per_predict(models[(algo, n)], obs[:3], exact=True)
    out = {
        "dim": args.dim,
        "units": "seconds per env step (acting + 1 gradient step, batch 64, train_freq 1); "
        "seconds per predict(obs, deterministic=True) call on one observation",
        "hyper": {k: v for k, v in HYPER.items() if k != "policy_kwargs"},
        "train_median": {f"{a}/{n}": float(np.median(v)) for (a, n), v in train.items()},
        "eval_median": {f"{a}/{n}": float(np.median(v)) for (a, n), v in evals.items()},
        "eval_exact": exact,
        "train_all": {f"{a}/{n}": v for (a, n), v in train.items()},
        "eval_all": {f"{a}/{n}": v for (a, n), v in evals.items()},
        "torch": th.__version__,
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(out, indent=1))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, OUT)
    report()


def report() -> None:
    if not OUT.exists():
        print(f"no results in {OUT}")
        return
    res = json.loads(OUT.read_text())
    tr, ev = res["train_median"], res["eval_median"]
    order = ["stochdqn", "stochdqn_paper", "stochdqn_head", "sb3dqn"]
    algos = sorted({k.split("/")[0] for k in tr}, key=order.index)
    ns = sorted({int(k.split("/")[1]) for k in tr})
    n0, n1 = ns[0], ns[-1]
    print(f"TargetReach {res['dim']}-D, medians over interleaved rounds ({OUT.name})\n")
    print(
        "| n | "
        + " | ".join(f"{a} train ms/step" for a in algos)
        + " | "
        + " | ".join(f"{a} eval ms/call" for a in algos if a != "sb3dqn")
        + " |"
    )
    print("|---" * (1 + len(algos) + len([a for a in algos if a != "sb3dqn"])) + "|")
    for n in ns:
        cells = [f"{tr[f'{a}/{n}'] * 1e3:.3f}" if f"{a}/{n}" in tr else "-" for a in algos]
        cells += [
            f"{ev[f'{a}/{n}'] * 1e3:.3f}" for a in algos if a != "sb3dqn" and f"{a}/{n}" in ev
        ]
        print(f"| {n:,} | " + " | ".join(cells) + " |")
    print()
    rows = []
    if f"stochdqn/{n1}" in tr and f"sb3dqn/{n0}" in tr:
        r = tr[f"stochdqn/{n1}"] / tr[f"sb3dqn/{n0}"]
        rows.append((f"train StochDQN(n={n1:,}) / SB3 DQN(n={n0:,})", r, 1.0))
    if f"stochdqn_head/{n1}" in tr and f"sb3dqn/{n0}" in tr:
        r = tr[f"stochdqn_head/{n1}"] / tr[f"sb3dqn/{n0}"]
        rows.append((f"train StochDQN-head(n={n1:,}) / SB3 DQN(n={n0:,})", r, 1.0))
    for a in ("stochdqn", "stochdqn_paper", "stochdqn_head"):
        if f"{a}/{n1}" in tr:
            rows.append(
                (f"train {a}(n={n1:,}) / {a}(n={n0:,})", tr[f"{a}/{n1}"] / tr[f"{a}/{n0}"], None)
            )
        if f"{a}/{n1}" in ev:
            bound = 1.5 if a == "stochdqn" else None
            rows.append(
                (f"eval {a}(n={n1:,}) / {a}(n={n0:,})", ev[f"{a}/{n1}"] / ev[f"{a}/{n0}"], bound)
            )
    print("| ratio | value | target |")
    print("|---|---|---|")
    for name, value, bound in rows:
        target = "-" if bound is None else f"<= {bound} ({'met' if value <= bound else 'NOT met'})"
        print(f"| {name} | {value:.2f} | {target} |")
    ex = res.get("eval_exact", {})
    if ex:
        print()
        print(
            "Exact argmax (O(n) opt-in, `predict(..., exact=True)`), seconds per call: "
            + ", ".join(f"{k}: {v:.4f}" for k, v in ex.items())
        )


if __name__ == "__main__":
    main()
