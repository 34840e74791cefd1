"""Early rumour detection benchmark: ERD against fixed-checkpoint RDMs, the full-stream RDM and
an SB3 agent, on the synthetic data set (held-out test split).

    .venv/bin/python benchmarks/rumour.py            # ~5-10 min on 2 shared CPU cores

Prints the metrics table and the checks of the issue, writes
``benchmarks/results/rumour.json`` and the plot ``benchmarks/results/rumour_deadline.png``
(share of test events answered correctly by each reading deadline).

ERD's RDM trains on the training part and its CM on the validation part (60 / 20 / 20 split).
The fixed-checkpoint and full-stream baselines use the RDM as pre-trained by ERD (cross-entropy
at every chunk), before the CM / RDM alternation; the SB3 baseline is PPO with an MLP on the
cumulative TF-IDF observations of the same environment (same events, split and rewards).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from rlcore.envs.rumour.env import RumourStreamEnv

from rlcore.erd import ERD, accuracy_by_deadline, compute_metrics, format_table
from rlcore.erd.baselines import checkpoint_decisions, sb3_decisions, train_sb3_baseline

CHECKPOINTS = (1, 2, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-events", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rdm-epochs", type=int, default=8)
    parser.add_argument("--erd-steps", type=int, default=20_000)
    parser.add_argument("--sb3-steps", type=int, default=100_000)
    parser.add_argument("--posts-per-chunk", type=int, default=3)
    parser.add_argument("--wrong-reward", type=float, default=-2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--cm-input", default="probs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    # 60 / 20 / 20 split: the validation events train ERD's CM (held out from its RDM)
    data = dict(
        synthetic_kwargs=dict(n_events=args.n_events, seed=args.seed),
        val_fraction=0.2,
        test_fraction=0.2,
        posts_per_chunk=args.posts_per_chunk,
        wrong_reward=args.wrong_reward,
    )
    train, val, test = (RumourStreamEnv(**data, split=s) for s in ("train", "val", "test"))
    vec = dict(data, obs_mode="tfidf", cumulative=True)
    vec_train, vec_test = RumourStreamEnv(**vec), RumourStreamEnv(**vec, split="test")
    print(f"data: {args.n_events} synthetic events (seed {args.seed}); train {len(train.streams)}, "
          f"val {len(val.streams)}, test {len(test.streams)}; vocabulary {len(train.vocab)}; "
          f"mean chunks {np.mean([s.n_chunks for s in test.streams]):.1f} "
          f"[{time.perf_counter() - t0:.0f} s]", flush=True)  # fmt: skip

    erd = ERD(train, cm_env=val, seed=args.seed, rdm_pretrain_epochs=args.rdm_epochs,
              n_rounds=args.rounds, gamma=args.gamma, cm_input=args.cm_input,
              verbose=1)  # fmt: skip
    erd.pretrain_rdm()
    rdm = copy.deepcopy(erd.rdm)  # the pre-trained RDM of the baselines
    erd.learn(args.erd_steps)
    print(f"ERD trained [{time.perf_counter() - t0:.0f} s]", flush=True)
    t_sb3 = time.perf_counter()
    ppo = train_sb3_baseline(vec_train, "PPO", args.sb3_steps, seed=args.seed, n_steps=1024,
                             batch_size=256, ent_coef=0.01)  # fmt: skip
    print(f"PPO trained in {time.perf_counter() - t_sb3:.0f} s [{time.perf_counter() - t0:.0f} s]")

    decisions = {"ERD": erd.decide(test.streams)}
    for k in CHECKPOINTS:
        decisions[f"RDM@{k} chunks"] = checkpoint_decisions(rdm, test.streams, k)
    decisions["RDM full stream"] = checkpoint_decisions(rdm, test.streams, None)
    decisions["SB3 PPO (tfidf)"] = sb3_decisions(ppo, vec_test)
    rows = {name: compute_metrics(d) for name, d in decisions.items()}
    print()
    print(format_table(rows))

    erd_m, full_m = rows["ERD"], rows["RDM full stream"]
    others = {k: v for k, v in rows.items() if k.startswith("RDM@") or k.startswith("SB3")}
    checks = {
        "ERD accuracy within 3 points of the full-stream RDM": erd_m["accuracy"] >= full_m["accuracy"] - 0.03,
        "ERD early rate <= 0.35": erd_m["early_rate"] <= 0.35,
        "ERD SEA beats every fixed-checkpoint and the SB3 baseline": all(
            erd_m["sea"] > v["sea"] for v in others.values()
        ),
    }  # fmt: skip
    print()
    print(f"ERD accuracy {erd_m['accuracy']:.3f} vs full-stream RDM {full_m['accuracy']:.3f} "
          f"(gap {full_m['accuracy'] - erd_m['accuracy']:+.3f}); ERD ER {erd_m['early_rate']:.3f}; "
          f"ERD SEA {erd_m['sea']:.3f} vs best baseline SEA "
          f"{max(v['sea'] for v in others.values()):.3f}")  # fmt: skip
    for name, ok in checks.items():
        print(f"[{'PASS' if ok else 'FAIL'}] {name}")

    deadlines_h = np.geomspace(0.05, 48.0, 60)
    curves = {n: accuracy_by_deadline(d, deadlines_h * 3600.0) for n, d in decisions.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    plot_path = args.out / "rumour_deadline.png"
    _plot(deadlines_h, curves, plot_path)
    result = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "metrics": rows,
        "checks": checks,
        "deadlines_hours": deadlines_h.tolist(),
        "accuracy_by_deadline": {k: v.tolist() for k, v in curves.items()},
        "seconds": time.perf_counter() - t0,
    }
    (args.out / "rumour.json").write_text(json.dumps(result, indent=1))
    print(f"\nwrote {plot_path} and {args.out / 'rumour.json'}; total {result['seconds']:.0f} s")


def _plot(deadlines_h: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, acc in curves.items():
        style = dict(lw=2.5, color="black") if name == "ERD" else dict(lw=1.3)
        ax.plot(deadlines_h, acc, label=name, **style)
    ax.set_xscale("log")
    ax.set_xlabel("reading deadline (hours since the first post)")
    ax.set_ylabel("share of test events answered correctly by the deadline")
    ax.set_title("Early rumour detection on the synthetic benchmark (test split)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
