"""Early rumour detection under an honest protocol, on PHEME (or any data set) or synthetic data.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/rumour_pheme.py \
        --data ../shared/data/pheme/pheme_v9_rnr_7events.jsonl          # PHEME, ~35 min of 1 core
    .venv/bin/python benchmarks/rumour_pheme.py                          # synthetic (thread split)

Splits: leave-one-event-out folds (every news event with both classes, at least
``--min-threads`` threads and ``--min-class`` of each class; or ``--folds``) and one split by
thread (ERD's: 22.5 % test by a hash of the thread id). In every split the labelled events
(the training events) are cut by a hash of the thread id into *train* (70 %), *fit* (15 %) and
*sel* (15 %); the test events are read once, by the chosen configuration of each method.

Every method gets the same labelled events:

* RDM (ERD's detector, 3 or 1 posts a chunk): trained on *train*; its number of epochs is the
  one with the lowest validation cross-entropy (every prefix) on *fit* + *sel*. Baselines from
  it: after k chunks (k = 1, 2, 4, 8) and on the full stream (3 posts a chunk); the
  confidence-threshold stop (answer when the larger class probability reaches tau), with tau
  and the chunking chosen on *fit* + *sel*.
* majority class (of the labelled events), answering after one chunk.
* SB3 PPO and DQN (MLP on the cumulative TF-IDF of everything read, 3 posts a chunk, rewards
  -0.01 a read, +1 / -2): trained on *train* + *fit*; the checkpoint (of 3 along training) is
  chosen on *sel*.
* ERD, paper-faithful: checkpoint module reading the GRU state, trained on the training events
  (*train*) as in the paper, two rounds of CM / RDM alternation, rewards -0.01 / +1 / -5,
  3 posts a chunk.
* ERD, best variant: CM trained on *fit* (held out from the RDM), one round; chunking, CM input
  (state+probs, probs, probs+delta) and rewards chosen on *sel*.

Selection rule (tau, ERD variant, SB3 checkpoint): the highest validation SEA among the
candidates whose validation accuracy is within 2 points of the full-stream RDM's on the same
validation events (the issue's goal); the highest SEA when none is.

Writes ``benchmarks/results/rumour_pheme.json`` (or ``--out``) after every split, so an
interrupted run keeps its finished folds, and prints a Markdown table (mean ± standard
deviation over the leave-one-event-out folds; the thread split on its own).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rlcore.envs.rumour import Event, load_dataset_cached, split_by_group, split_events, synthetic
from rlcore.envs.rumour.env import RumourStreamEnv

from rlcore.erd import ERD, Decision, compute_metrics, rdm_outputs
from rlcore.erd.baselines import (
    checkpoint_decisions,
    majority_decisions,
    sb3_decisions,
    threshold_decisions,
    train_sb3_baseline,
)

CHECKPOINTS = (1, 2, 4, 8)
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)
CM_INPUTS = ("state+probs", "probs", "probs+delta")
REWARDS = ((-0.01, -2.0), (-0.05, -5.0))  # (read, wrong) of the ERD variants (--rewards)
PAPERS = {
    "ERD paper, TWITTER (Zhou et al. 2019): ERD": dict(accuracy=0.858, f1=0.785),
    "ERD paper, TWITTER: RDM full stream": dict(accuracy=0.873, f1=0.820),
    "HEARD paper, PHEME (Zeng & Gao 2022): HEARD": dict(
        accuracy=0.823, f1=0.805, early_rate=0.284, sea=0.841
    ),
}
COLUMNS = ("accuracy", "f1", "early_rate", "sea")


def _unit(seed: int, key: str) -> float:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64


def _carve(labelled: Sequence[Event], seed: int) -> dict[str, list[str]]:
    """train 70 % / fit 15 % / sel 15 % of the labelled events, by a hash of the id."""
    out: dict[str, list[str]] = {"train": [], "fit": [], "sel": []}
    for e in labelled:
        u = _unit(seed + 1000, e.id)
        out["fit" if u < 0.15 else "sel" if u < 0.30 else "train"].append(e.id)
    return out


def _select(candidates: dict[Any, dict[str, float]], ref_accuracy: float) -> Any:
    """Highest SEA among candidates within 2 points of ``ref_accuracy`` (else highest SEA)."""
    ok = {k: m for k, m in candidates.items() if m["accuracy"] >= ref_accuracy - 0.02}
    pool = ok or candidates
    return max(pool, key=lambda k: (pool[k]["sea"], pool[k]["accuracy"]))


def _metrics(decisions: list[Decision]) -> dict[str, float]:
    return {k: float(v) for k, v in compute_metrics(decisions).items()}


def _val_xent(rdm: torch.nn.Module, streams: Sequence[Any]) -> float:
    losses = [
        float(np.mean(-np.log(np.clip(p[:, s.label], 1e-7, 1.0))))
        for s, (p, _) in zip(streams, rdm_outputs(rdm, streams), strict=True)
    ]
    return float(np.mean(losses))


def run_split(
    name: str, events: list[Event], labelled: list[Event], test: list[Event], args: Any
) -> dict[str, Any]:
    """Every method on one split; returns ``{"rows": {method: test metrics}, "choices": ...}``."""
    t0 = time.perf_counter()
    carve = _carve(labelled, args.seed)
    ids_test = [e.id for e in test]

    def env(part: list[str] | None, posts: int, vocab: Any = None, **kw: Any) -> RumourStreamEnv:
        """The events ``part`` (``None``: the training events), vocabulary fitted on *train*
        (with ``with_fit=True``: *train* + *fit*)."""
        train = carve["train"] + (carve["fit"] if kw.pop("with_fit", False) else [])
        ids = {"train": train} if part is None else {"train": train, "test": part}
        return RumourStreamEnv(
            events, split_ids=ids, split="train" if part is None else "test", vocab=vocab,
            posts_per_chunk=posts, **kw,
        )  # fmt: skip

    rows: dict[str, dict[str, float]] = {}
    choices: dict[str, Any] = {}
    log = {"split": name, "train": len(carve["train"]), "fit": len(carve["fit"]),
           "sel": len(carve["sel"]), "test": len(test)}  # fmt: skip
    print(f"\n=== {name}: {log}", flush=True)
    majority = int(np.mean([e.label for e in labelled]) >= 0.5)

    # ------------------------------------------------------------- RDMs (epochs on validation)
    envs: dict[int, dict[str, RumourStreamEnv]] = {}
    rdm_state: dict[int, dict[str, torch.Tensor]] = {}
    val_probs: dict[int, list[np.ndarray]] = {}
    for posts in args.chunkings:
        tr = env(None, posts)
        e = {"train": tr}
        for part in ("fit", "sel"):
            e[part] = env(carve[part], posts, vocab=tr.vocab)
        e["test"] = env(ids_test, posts, vocab=tr.vocab)
        envs[posts] = e
        base = ERD(tr, seed=args.seed, verbose=0)
        val_streams = e["fit"].streams + e["sel"].streams
        best, best_epoch, curve = float("inf"), 0, []
        for epoch in range(1, args.max_rdm_epochs + 1):
            base.pretrain_rdm(1)
            loss = _val_xent(base.rdm, val_streams)
            curve.append(round(loss, 4))
            if loss < best:
                best, best_epoch = loss, epoch
                rdm_state[posts] = copy.deepcopy(base.rdm.state_dict())
        choices[f"rdm_epochs@{posts}posts"] = best_epoch
        base.rdm.load_state_dict(rdm_state[posts])
        val_probs[posts] = [p for p, _ in rdm_outputs(base.rdm, val_streams)]
        e["rdm"] = base.rdm  # type: ignore[assignment]
        print(f"  RDM {posts} posts/chunk: val x-ent by epoch {curve} -> {best_epoch} epochs "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)  # fmt: skip

    # ------------------------------------------------------------- baselines of the RDM
    p3 = 3 if 3 in envs else args.chunkings[0]
    test3 = envs[p3]["test"].streams
    probs3 = [p for p, _ in rdm_outputs(envs[p3]["rdm"], test3)]  # type: ignore[arg-type]
    rows["majority class (1 chunk)"] = _metrics(majority_decisions(test3, majority))
    for k in CHECKPOINTS:
        rows[f"RDM after {k} chunk{'s' * (k > 1)}"] = _metrics(
            checkpoint_decisions(None, test3, k, probs=probs3)
        )
    rows["RDM full stream"] = _metrics(checkpoint_decisions(None, test3, None, probs=probs3))
    # confidence-threshold stop: tau and chunking on fit + sel
    cands = {}
    ref = {}
    for posts in envs:
        vs = envs[posts]["fit"].streams + envs[posts]["sel"].streams
        ref[posts] = _metrics(checkpoint_decisions(None, vs, None, probs=val_probs[posts]))
        for tau in THRESHOLDS:
            cands[(posts, tau)] = _metrics(
                threshold_decisions(None, vs, tau, probs=val_probs[posts])
            )
    posts, tau = _select(cands, ref[p3]["accuracy"])
    choices["threshold"] = {"posts_per_chunk": posts, "tau": tau, "val": cands[(posts, tau)]}
    rows["confidence-threshold stop"] = _metrics(
        threshold_decisions(envs[posts]["rdm"], envs[posts]["test"].streams, tau)  # type: ignore[arg-type]
    )
    print(f"  baselines done; threshold {tau} at {posts} posts/chunk "
          f"[{time.perf_counter() - t0:.0f} s]", flush=True)  # fmt: skip

    # ------------------------------------------------------------- ERD, paper-faithful
    paper = ERD(envs[p3]["train"], cm_input="state", n_rounds=2, wrong_reward=-5.0,
                read_reward=-0.01, seed=args.seed, train_freq=args.train_freq)  # fmt: skip
    paper.rdm.load_state_dict(rdm_state[p3])
    paper.pretrained = True
    paper.learn(args.cm_steps)
    rows["ERD paper-faithful (CM on GRU state)"] = _metrics(paper.decide(test3))
    print(f"  ERD paper-faithful [{time.perf_counter() - t0:.0f} s]", flush=True)

    # ------------------------------------------------------------- ERD variants on sel
    variants: dict[tuple[Any, ...], dict[str, float]] = {}
    models: dict[tuple[Any, ...], ERD] = {}
    sel_ref = {
        posts: _metrics(checkpoint_decisions(envs[posts]["rdm"], envs[posts]["sel"].streams, None))  # type: ignore[arg-type]
        for posts in envs
    }
    for posts in envs:
        for cm_input in CM_INPUTS:
            for read, wrong in args.rewards:
                model = ERD(envs[posts]["train"], cm_env=envs[posts]["fit"], cm_input=cm_input,
                            n_rounds=1, read_reward=read, wrong_reward=wrong, seed=args.seed,
                            train_freq=args.train_freq)  # fmt: skip
                model.rdm.load_state_dict(rdm_state[posts])
                model.pretrained = True
                model.learn(args.cm_steps)
                key = (posts, cm_input, read, wrong)
                variants[key] = _metrics(model.decide(envs[posts]["sel"].streams))
                models[key] = model
    key = _select(variants, sel_ref[p3]["accuracy"])
    choices["erd"] = {"posts_per_chunk": key[0], "cm_input": key[1], "read_reward": key[2],
                      "wrong_reward": key[3], "val": variants[key],
                      "all_val": {str(k): v for k, v in variants.items()}}  # fmt: skip
    rows["ERD best variant (chosen on validation)"] = _metrics(
        models[key].decide(envs[key[0]]["test"].streams)
    )
    print(f"  ERD variants: chose {key} [{time.perf_counter() - t0:.0f} s]", flush=True)

    # ------------------------------------------------------------- SB3 on the same events
    if args.no_sb3:
        return {**log, "rows": rows, "choices": choices, "seconds": time.perf_counter() - t0}
    vec = dict(obs_mode="tfidf", cumulative=True, wrong_reward=-2.0, with_fit=True)
    v_train = env(None, 3, **vec)
    v_sel = env(carve["sel"], 3, vocab=v_train.vocab, **vec)
    v_test = env(ids_test, 3, vocab=v_train.vocab, **vec)
    for algo, kw in (("PPO", dict(n_steps=1024, batch_size=256, ent_coef=0.01)), ("DQN", {})):
        model = train_sb3_baseline(v_train, algo, args.sb3_steps // 3, seed=args.seed, **kw)
        snaps = {}
        for i in range(3):
            if i:
                model.learn(args.sb3_steps // 3, reset_num_timesteps=False)
            snaps[i] = (_metrics(sb3_decisions(model, v_sel)),
                        copy.deepcopy(model.policy.state_dict()))  # fmt: skip
        best = _select({i: m for i, (m, _) in snaps.items()}, sel_ref[p3]["accuracy"])
        model.policy.load_state_dict(snaps[best][1])
        choices[algo] = {"checkpoint_steps": (best + 1) * (args.sb3_steps // 3)}
        rows[f"SB3 {algo} (tf-idf)"] = _metrics(sb3_decisions(model, v_test))
        print(f"  SB3 {algo} [{time.perf_counter() - t0:.0f} s]", flush=True)
    return {**log, "rows": rows, "choices": choices, "seconds": time.perf_counter() - t0}


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def table(splits: list[dict[str, Any]]) -> str:
    """Markdown table: mean ± sd over the given splits (one value when there is one)."""
    methods = list(splits[0]["rows"])
    lines = ["| method | " + " | ".join(("acc", "F1", "ER", "SEA")) + " |",
             "|---|" + "---|" * len(COLUMNS)]  # fmt: skip
    for m in methods:
        cells = [_fmt([s["rows"][m][c] for s in splits]) for c in COLUMNS]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="JSONL file or folder")
    parser.add_argument("--folds", default=None, help="comma-separated news events")
    parser.add_argument("--no-thread-split", action="store_true")
    parser.add_argument("--no-group-folds", action="store_true")
    parser.add_argument("--min-threads", type=int, default=100)
    parser.add_argument("--min-class", type=int, default=20)
    parser.add_argument("--n-events", type=int, default=2400, help="synthetic events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunkings", default="3,1", help="posts per chunk tried")
    parser.add_argument("--max-rdm-epochs", type=int, default=6)
    parser.add_argument("--cm-steps", type=int, default=8000)
    parser.add_argument("--train-freq", type=int, default=4)
    parser.add_argument("--sb3-steps", type=int, default=30_000)
    parser.add_argument(
        "--rewards",
        default=",".join(f"{r}:{w}" for r, w in REWARDS),
        help="read:wrong reward pairs of the ERD variants",
    )
    parser.add_argument("--no-sb3", action="store_true", help="skip SB3 PPO and DQN")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.chunkings = [int(c) for c in args.chunkings.split(",")]
    args.rewards = [tuple(float(x) for x in pair.split(":")) for pair in args.rewards.split(",")]
    torch.set_num_threads(1)
    out = args.out or Path(__file__).parent / "results" / (
        "rumour_pheme.json" if args.data else "rumour_synthetic.json"
    )
    t0 = time.perf_counter()
    if args.data is None:
        events = synthetic(args.n_events, seed=args.seed)
        source = f"synthetic({args.n_events}, seed={args.seed})"
    else:
        events = list(load_dataset_cached(args.data))
        source = str(args.data)
    print(f"data: {source}: {len(events)} events [{time.perf_counter() - t0:.1f} s]")

    splits: list[tuple[str, list[Event], list[Event]]] = []
    if args.data is not None and not args.no_group_folds and events[0].group is not None:
        counts: dict[str, list[int]] = {}
        for e in events:
            counts.setdefault(str(e.group), [0, 0])[e.label] += 1
        eligible = [
            g for g, (n0, n1) in sorted(counts.items())
            if n0 + n1 >= args.min_threads and min(n0, n1) >= args.min_class
        ]  # fmt: skip
        folds = args.folds.split(",") if args.folds else eligible
        print(f"groups {counts}; eligible folds {eligible}; running {folds}")
        for g in folds:
            parts = split_by_group(events, [g], val_fraction=0.0)
            splits.append((f"leave out {g}", parts["train"], parts["test"]))
    if not args.no_thread_split:
        parts = split_events(events, seed=args.seed, val_fraction=0.0, test_fraction=0.225)
        splits.append(("split by thread", parts["train"], parts["test"]))

    results: list[dict[str, Any]] = []
    if out.exists():
        previous = json.loads(out.read_text())
        if previous.get("source") == source and previous.get("args_key") == _args_key(args):
            results = previous["splits"]
            print(f"resuming: {[r['split'] for r in results]} already done")
    for name, labelled, test in splits:
        if any(r["split"] == name for r in results):
            continue
        results.append(run_split(name, events, labelled, test, args))
        _write(out, source, args, results)
    _report(results, out)
    print(f"total {time.perf_counter() - t0:.0f} s")


def _args_key(args: Any) -> str:
    keys = ("seed", "chunkings", "max_rdm_epochs", "cm_steps", "train_freq", "sb3_steps")
    if args.no_sb3 or [tuple(r) for r in args.rewards] != list(REWARDS):
        keys += ("rewards", "no_sb3")
    return json.dumps({k: getattr(args, k) for k in keys})


def _write(out: Path, source: str, args: Any, results: list[dict[str, Any]]) -> None:
    from rlcore.common.serialization import atomic_write_bytes

    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"source": source, "args_key": _args_key(args), "papers": PAPERS, "splits": results,
           "argv": {k: str(v) for k, v in vars(args).items()}, "cpu_threads": 1,
           "pid": os.getpid()}  # fmt: skip
    atomic_write_bytes(out, json.dumps(doc, indent=1).encode())


def _report(results: list[dict[str, Any]], out: Path) -> None:
    folds = [r for r in results if r["split"].startswith("leave out")]
    thread = [r for r in results if r["split"] == "split by thread"]
    if folds:
        print(f"\n### Leave-one-event-out ({len(folds)} folds: "
              f"{', '.join(r['split'][10:] for r in folds)}), test, mean ± sd over folds\n")  # fmt: skip
        print(table(folds))
    if thread:
        print("\n### Split by thread (22.5 % test), test\n")
        print(table(thread))
    print("\n### Published numbers (other protocols, see docs/erd.md)\n")
    for k, v in PAPERS.items():
        print(f"- {k}: " + ", ".join(f"{c} {x:.3f}" for c, x in v.items()))
    for r in results:
        c = r["choices"]
        print(f"\n{r['split']}: ERD chose {({k: c['erd'][k] for k in ('posts_per_chunk', 'cm_input', 'read_reward', 'wrong_reward')})}; "
              f"threshold {c['threshold']['tau']} at {c['threshold']['posts_per_chunk']} posts/chunk; "
              f"RDM epochs {[v for k, v in c.items() if k.startswith('rdm_epochs')]}; {r['seconds']:.0f} s")  # fmt: skip
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
