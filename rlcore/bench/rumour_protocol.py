"""Protocol suite ``rumour-protocol``: early rumour detection under an honest split protocol.

The learning suite ``rumour`` (:mod:`rlcore.bench.rumour`) trains every algorithm on one
split of ``rlcore/RumourStream-v0`` and evaluates it; this suite asks the harder question of
the ERD paper's claims: are ERD's early stops worth it against simple stopping rules, when
every choice is made on validation data and the test events are new news events?

Splits: leave-one-event-out folds (a news event of the data set is the test set; the events
with both classes, at least ``min_threads`` threads and ``min_class`` of each class are
eligible; the full profile runs all of them) and one split by thread (ERD's:
22.5 % test by a hash of the thread id). Synthetic data (no ``--data``) has no news events:
only the split by thread. In every split the labelled (training) events are cut by a hash of
the thread id into *train* (70 %), *fit* (15 %) and *sel* (15 %); the test events are read
once, by the chosen configuration of each method.

Every method gets the same labelled events:

* RDM (ERD's GRU detector, 3 or 1 posts a chunk): trained on *train*; its number of epochs is
  the one with the lowest validation cross-entropy (every prefix) on *fit* + *sel*. Baselines
  from it: after k chunks (k = 1, 2, 4, 8), on the full stream (3 posts a chunk), and the
  confidence-threshold stop (answer when the larger class probability reaches tau; tau and
  the chunking chosen on *fit* + *sel*).
* majority class (of the labelled events), answering after one chunk: the trivial baseline.
* SB3 PPO and DQN (MLP on the cumulative TF-IDF of everything read, 3 posts a chunk, rewards
  -0.01 a read, +1 / -2): trained on *train* + *fit*; the checkpoint (of 3 along training) is
  chosen on *sel*.
* ERD, paper-faithful: checkpoint module reading the GRU state, trained on *train* as in the
  paper, two rounds of CM / RDM alternation, rewards -0.01 / +1 / -5, 3 posts a chunk.
* ERD, best variant: CM trained on *fit* (held out from the RDM), one round; chunking, CM input
  (state+probs, probs, probs+delta) and rewards chosen on *sel*.

Selection rule (tau, ERD variant, SB3 checkpoint): the highest validation SEA among the
candidates whose validation accuracy is within 2 points of the full-stream RDM's on the same
validation events; the highest SEA when none is.

Results folder: ``manifest.json`` (``"kind": "protocol"``, the settings, the data file's
SHA-256, the planned splits, versions) and ``results.jsonl``, one validated line per finished
split (:data:`SPLIT_FIELDS`: test metrics of every method, the choices made on validation,
the part sizes, seconds). Each finished split is written at once (atomically), so an
interrupted run resumes with the same command; a folder made with other settings or data is
refused. ``rlcore bench report`` renders it (:func:`protocol_report`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlcore.bench.lock import FolderLock
from rlcore.bench.runner import _read_manifest, _versions
from rlcore.bench.store import (
    ResultsError,
    folder_kind,
    prepare_folder,
    read_json_lines,
    replace_atomically,
)

if TYPE_CHECKING:
    import torch

    from rlcore.envs.rumour import Event
    from rlcore.envs.rumour.env import RumourStreamEnv

__all__ = [
    "PROTOCOL_SUITES",
    "SPLIT_FIELDS",
    "ProtocolProfile",
    "is_protocol_folder",
    "protocol_report",
    "read_protocol",
    "run_protocol",
]

KIND = "protocol"
CHECKPOINTS = (1, 2, 4, 8)
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0)
CM_INPUTS = ("state+probs", "probs", "probs+delta")
COLUMNS = ("accuracy", "f1", "early_rate", "sea")
THREAD_SPLIT = "thread"
SPLIT_FIELDS = ("suite", "split", "seed", "sizes", "rows", "choices", "seconds")
PUBLISHED = {
    "ERD paper, TWITTER (Zhou et al. 2019): ERD": {"accuracy": 0.858, "f1": 0.785},
    "ERD paper, TWITTER: RDM full stream": {"accuracy": 0.873, "f1": 0.820},
    "HEARD paper, PHEME (Zeng & Gao 2022): HEARD": {
        "accuracy": 0.823, "f1": 0.805, "early_rate": 0.284, "sea": 0.841,
    },
}  # fmt: skip


@dataclass(frozen=True)
class ProtocolProfile:
    """Settings of one profile of the protocol suite.

    Attributes:
        n_events: synthetic events generated when no data file is given.
        folds: the number of leave-one-event-out folds, the largest eligible news events (by
            threads) first; ``None``: every eligible event. ``--envs`` names the splits instead.
        min_threads, min_class: eligibility of a news event as a fold (threads; threads of the
            rarer class).
        chunkings: posts per chunk tried for the RDM, the threshold stop and ERD.
        max_rdm_epochs: RDM epochs tried (the best on validation is kept).
        cm_steps: checkpoint-module decisions per ERD training round.
        train_freq: ERD's DQN ``train_freq``.
        sb3_steps: SB3 PPO / DQN steps (three checkpoints along them).
        rewards: ``(read, wrong)`` reward pairs tried by the ERD variants.
        thread_split: also run the split by thread.
        seed: the seed of every method and of the hash splits (``--seeds`` overrides it).
    """

    n_events: int
    folds: int | None
    chunkings: tuple[int, ...]
    max_rdm_epochs: int
    cm_steps: int
    train_freq: int
    sb3_steps: int
    rewards: tuple[tuple[float, float], ...]
    min_threads: int = 100
    min_class: int = 20
    thread_split: bool = True
    seed: int = 0


PROTOCOL_SUITES: dict[str, dict[str, ProtocolProfile]] = {
    "rumour-protocol": {
        # seconds: a smoke run of every method on 150 synthetic events (or on --data)
        "quick": ProtocolProfile(
            n_events=150, folds=1, chunkings=(3,), max_rdm_epochs=1, cm_steps=150, train_freq=4,
            sb3_steps=300, rewards=((-0.01, -2.0),),
        ),
        # PHEME (--data): every eligible news event (5 of the 7 in ../shared) + the split by
        # thread, ~15 min of one core; synthetic: 2,400 events, split by thread, ~3 min
        "full": ProtocolProfile(
            n_events=2400, folds=None, chunkings=(3, 1), max_rdm_epochs=5, cm_steps=8000,
            train_freq=4, sb3_steps=30_000, rewards=((-0.01, -2.0), (-0.05, -5.0)),
        ),
    }
}  # fmt: skip


# ------------------------------------------------------------------------------ the protocol
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


def _metrics(decisions: Sequence[Any]) -> dict[str, float]:
    from rlcore.erd import compute_metrics

    return {k: float(v) for k, v in compute_metrics(list(decisions)).items()}


def _val_xent(rdm: torch.nn.Module, streams: Sequence[Any]) -> float:
    from rlcore.erd import rdm_outputs

    losses = [
        float(np.mean(-np.log(np.clip(p[:, s.label], 1e-7, 1.0))))
        for s, (p, _) in zip(streams, rdm_outputs(rdm, streams), strict=True)
    ]
    return float(np.mean(losses))


def run_split(
    events: list[Event],
    labelled: list[Event],
    test: list[Event],
    prof: ProtocolProfile,
    seed: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method on one split (see the module docstring).

    Returns:
        ``{"sizes": {part: events}, "rows": {method: test metrics}, "choices": {...}}``.
    """
    from rlcore.envs.rumour.env import RumourStreamEnv
    from rlcore.erd import ERD, rdm_outputs
    from rlcore.erd.baselines import (
        checkpoint_decisions,
        majority_decisions,
        sb3_decisions,
        threshold_decisions,
        train_sb3_baseline,
    )

    t0 = time.perf_counter()
    carve = _carve(labelled, seed)
    ids_test = [e.id for e in test]
    empty = [p for p, ids in (*carve.items(), ("test", ids_test)) if not ids]
    if empty:
        raise ValueError(
            f"{len(labelled)} labelled and {len(test)} test events leave the parts {empty} empty "
            "(train 70 / fit 15 / sel 15 % of the labelled events by hash): too few events"
        )

    def env(part: list[str] | None, posts: int, vocab: Any = None, **kw: Any) -> RumourStreamEnv:
        """The events ``part`` (``None``: the training events), vocabulary fitted on *train*
        (with ``with_fit=True``: *train* + *fit*)."""
        train = carve["train"] + (carve["fit"] if kw.pop("with_fit", False) else [])
        ids = {"train": train} if part is None else {"train": train, "test": part}
        return RumourStreamEnv(
            events, split_ids=ids, split="train" if part is None else "test", vocab=vocab,
            posts_per_chunk=posts, **kw,
        )  # fmt: skip

    def elapsed() -> str:
        return f"[{time.perf_counter() - t0:.0f} s]"

    rows: dict[str, dict[str, float]] = {}
    choices: dict[str, Any] = {}
    sizes = {part: len(ids) for part, ids in carve.items()} | {"test": len(test)}
    majority = int(np.mean([e.label for e in labelled]) >= 0.5)

    # RDMs: the number of epochs on validation
    envs: dict[int, dict[str, Any]] = {}
    rdm_state: dict[int, dict[str, Any]] = {}
    val_probs: dict[int, list[np.ndarray]] = {}
    for posts in prof.chunkings:
        tr = env(None, posts)
        e: dict[str, Any] = {"train": tr}
        for part in ("fit", "sel"):
            e[part] = env(carve[part], posts, vocab=tr.vocab)
        e["test"] = env(ids_test, posts, vocab=tr.vocab)
        envs[posts] = e
        base = ERD(tr, seed=seed, verbose=0)
        val_streams = e["fit"].streams + e["sel"].streams
        best, best_epoch, curve = float("inf"), 0, []
        for epoch in range(1, prof.max_rdm_epochs + 1):
            base.pretrain_rdm(1)
            loss = _val_xent(base.rdm, val_streams)
            curve.append(round(loss, 4))
            if epoch == 1 or loss < best:  # (a NaN loss keeps the first epoch)
                best, best_epoch = loss, epoch
                rdm_state[posts] = copy.deepcopy(base.rdm.state_dict())
        choices[f"rdm_epochs@{posts}posts"] = best_epoch
        base.rdm.load_state_dict(rdm_state[posts])
        val_probs[posts] = [p for p, _ in rdm_outputs(base.rdm, val_streams)]
        e["rdm"] = base.rdm
        log(f"  RDM {posts} posts/chunk: val x-ent by epoch {curve} -> {best_epoch} {elapsed()}")

    # baselines of the RDM, and the trivial one
    p3 = 3 if 3 in envs else prof.chunkings[0]
    test3 = envs[p3]["test"].streams
    probs3 = [p for p, _ in rdm_outputs(envs[p3]["rdm"], test3)]
    rows["majority class (1 chunk)"] = _metrics(majority_decisions(test3, majority))
    for k in CHECKPOINTS:
        rows[f"RDM after {k} chunk{'s' * (k > 1)}"] = _metrics(
            checkpoint_decisions(None, test3, k, probs=probs3)
        )
    rows["RDM full stream"] = _metrics(checkpoint_decisions(None, test3, None, probs=probs3))
    cands, ref = {}, {}
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
        threshold_decisions(envs[posts]["rdm"], envs[posts]["test"].streams, tau)
    )
    log(f"  baselines done; threshold {tau} at {posts} posts/chunk {elapsed()}")

    # ERD, paper-faithful
    paper = ERD(envs[p3]["train"], cm_input="state", n_rounds=2, wrong_reward=-5.0,
                read_reward=-0.01, seed=seed, train_freq=prof.train_freq)  # fmt: skip
    paper.rdm.load_state_dict(rdm_state[p3])
    paper.pretrained = True
    paper.learn(prof.cm_steps)
    rows["ERD paper-faithful (CM on GRU state)"] = _metrics(paper.decide(test3))
    log(f"  ERD paper-faithful {elapsed()}")

    # ERD variants, chosen on sel
    variants: dict[tuple[Any, ...], dict[str, float]] = {}
    models: dict[tuple[Any, ...], Any] = {}
    sel_ref = {
        posts: _metrics(checkpoint_decisions(envs[posts]["rdm"], envs[posts]["sel"].streams, None))
        for posts in envs
    }
    for posts in envs:
        for cm_input in CM_INPUTS:
            for read, wrong in prof.rewards:
                model = ERD(envs[posts]["train"], cm_env=envs[posts]["fit"], cm_input=cm_input,
                            n_rounds=1, read_reward=read, wrong_reward=wrong, seed=seed,
                            train_freq=prof.train_freq)  # fmt: skip
                model.rdm.load_state_dict(rdm_state[posts])
                model.pretrained = True
                model.learn(prof.cm_steps)
                key = (posts, cm_input, read, wrong)
                variants[key] = _metrics(model.decide(envs[posts]["sel"].streams))
                models[key] = model
    key = _select(variants, sel_ref[p3]["accuracy"])
    choices["erd"] = {"posts_per_chunk": key[0], "cm_input": key[1], "read_reward": key[2],
                      "wrong_reward": key[3], "val": variants[key]}  # fmt: skip
    rows["ERD best variant (chosen on validation)"] = _metrics(
        models[key].decide(envs[key[0]]["test"].streams)
    )
    log(f"  ERD variants: chose {key} {elapsed()}")

    # SB3 on the same events
    vec: dict[str, Any] = dict(obs_mode="tfidf", cumulative=True, wrong_reward=-2.0, with_fit=True)
    v_train = env(None, 3, **vec)
    v_sel = env(carve["sel"], 3, vocab=v_train.vocab, **vec)
    v_test = env(ids_test, 3, vocab=v_train.vocab, **vec)
    third = max(1, prof.sb3_steps // 3)
    for algo, kw in (("PPO", dict(n_steps=1024, batch_size=256, ent_coef=0.01)), ("DQN", {})):
        model = train_sb3_baseline(v_train, algo, third, seed=seed, **kw)
        snaps = {}
        for i in range(3):
            if i:
                model.learn(third, reset_num_timesteps=False)
            snaps[i] = (_metrics(sb3_decisions(model, v_sel)),
                        copy.deepcopy(model.policy.state_dict()), model.num_timesteps)  # fmt: skip
        best_i = _select({i: m for i, (m, _, _) in snaps.items()}, sel_ref[p3]["accuracy"])
        model.policy.load_state_dict(snaps[best_i][1])
        # the steps actually run (PPO collects whole rollouts of n_steps)
        choices[algo] = {"checkpoint_steps": int(snaps[best_i][2])}
        rows[f"SB3 {algo} (tf-idf)"] = _metrics(sb3_decisions(model, v_test))
        log(f"  SB3 {algo} {elapsed()}")
    return {"sizes": sizes, "rows": rows, "choices": choices}


# ------------------------------------------------------------------------------ planning
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _eligible(events: Sequence[Event], prof: ProtocolProfile) -> list[tuple[str, int]]:
    """``(news event, threads)`` of the events eligible as folds, largest first."""
    counts: dict[str, list[int]] = {}
    for e in events:
        if e.group is not None:
            counts.setdefault(str(e.group), [0, 0])[int(e.label)] += 1
    ok = [
        (g, n0 + n1)
        for g, (n0, n1) in counts.items()
        if n0 + n1 >= prof.min_threads and min(n0, n1) >= prof.min_class
    ]
    return sorted(ok, key=lambda x: (-x[1], x[0]))


def plan_splits(
    events: Sequence[Event], prof: ProtocolProfile, splits: Sequence[str] | None = None
) -> list[str]:
    """The splits to run: news events left out (their names) and ``"thread"``.

    Args:
        splits: names chosen by the user (``--envs``); default: the profile's ``folds``
            largest eligible events (all when ``None``), then the split by thread.

    Raises:
        ValueError: a name that is neither ``"thread"`` nor a news event of the data (the
            message lists them), or a repeated name.
    """
    groups = sorted({str(e.group) for e in events if e.group is not None})
    if splits is None:
        chosen = [g for g, _ in _eligible(events, prof)[: prof.folds]]  # [:None] = all
        return chosen + ([THREAD_SPLIT] if prof.thread_split or not chosen else [])
    dup = sorted({s for s in splits if list(splits).count(s) > 1})
    if dup:
        raise ValueError(f"--envs names {dup} more than once")
    bad = [s for s in splits if s != THREAD_SPLIT and s not in groups]
    if bad:
        raise ValueError(
            f"--envs {bad}: not a split of this data; expected {THREAD_SPLIT!r} or a news event "
            f"to leave out ({groups or 'none: the data has no news events'})"
        )
    return list(splits)


def _load_events(data: Path | None, prof: ProtocolProfile, seed: int) -> tuple[list[Any], dict]:
    from rlcore.envs.rumour import load_dataset_cached, synthetic

    if data is None:
        return list(synthetic(prof.n_events, seed=seed)), {
            "source": f"synthetic({prof.n_events}, seed={seed})"
        }
    if not data.is_file():
        raise ValueError(f"--data {str(data)!r}: no such file (expected a JSONL data set)")
    events = list(load_dataset_cached(data))
    if not events:
        raise ValueError(f"--data {str(data)!r}: the data set holds no event")
    return events, {"source": data.name, "sha256": _sha256(data), "events": len(events)}


def run_protocol(
    suite: str,
    profile: str,
    out: str | Path,
    data: str | Path | None = None,
    splits: Sequence[str] | None = None,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the protocol suite's splits not yet in ``out`` and return ``out/results.jsonl``.

    Args:
        suite, profile: a suite of :data:`PROTOCOL_SUITES` and ``"quick"`` / ``"full"``.
        out: the results folder (created; resumed when it holds finished splits of the same
            settings and data).
        data: a JSONL data set (e.g. PHEME); ``None``: the profile's synthetic events.
        splits: the splits to run (see :func:`plan_splits`).
        seed: overrides the profile's seed.

    Raises:
        ValueError: an unknown suite / profile / split, a missing data file.
        ResultsError: ``out`` holds another suite's results, or these with other settings.
    """
    import torch as th

    if suite not in PROTOCOL_SUITES or profile not in PROTOCOL_SUITES[suite]:
        raise ValueError(f"unknown protocol suite / profile {suite!r} / {profile!r}")
    prof = PROTOCOL_SUITES[suite][profile]
    seed = prof.seed if seed is None else int(seed)
    events, source = _load_events(Path(data) if data is not None else None, prof, seed)
    names = plan_splits(events, prof, splits)
    out = prepare_folder(out)
    settings = {k: v for k, v in asdict(prof).items() if k != "seed"} | {"seed": seed}
    settings = json.loads(json.dumps(settings))  # tuples as lists, as read back
    manifest = {
        "kind": KIND, "suite": suite, "profile": profile, "settings": settings, "data": source,
        "splits": names, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
        "torch_threads": 1, "versions": _versions(),
    }  # fmt: skip
    results = out / "results.jsonl"
    previous_threads = th.get_num_threads()
    with FolderLock(out):
        done: list[dict[str, Any]] = []
        old = _read_manifest(out)
        if old is None and results.exists():
            raise ResultsError(
                f"{results} exists without a manifest.json: not a protocol suite's folder (or a "
                "damaged one); give another --out"
            )
        if old is not None and not isinstance(old, dict):
            raise ResultsError(f"{out / 'manifest.json'}: expected a JSON object")
        if old is not None:
            if old.get("kind") != KIND or old.get("suite") != suite:
                raise ResultsError(
                    f"{out} holds the results of {old.get('suite', 'another suite')!r}; give "
                    f"another --out for {suite!r}"
                )
            for key in ("profile", "settings", "data"):
                was, now = old.get(key), manifest[key]
                if was != now:
                    if isinstance(was, dict) and isinstance(now, dict):
                        diff = [f"{k} {was.get(k)!r}, now {now.get(k)!r}"
                                for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]  # fmt: skip
                    else:
                        diff = [f"{was!r}, now {now!r}"]
                    raise ResultsError(
                        f"{out}: made with another {key} ({'; '.join(diff)}); give another --out"
                    )
            if results.exists():
                done = read_protocol(out)[1]
            manifest["created"] = old.get("created", manifest["created"])
            manifest["splits"] = list(old.get("splits", [])) + [
                s for s in names if s not in old.get("splits", [])
            ]
        replace_atomically(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        th.set_num_threads(1)
        try:
            for name in names:
                if any(r["split"] == name for r in done):
                    log(f"{name}: already in {results} (kept)")
                    continue
                log(f"=== {name} ({source['source']})")
                t0 = time.perf_counter()
                if name == THREAD_SPLIT:
                    from rlcore.envs.rumour import split_events

                    parts = split_events(events, seed=seed, val_fraction=0.0, test_fraction=0.225)
                else:  # the news event left out; events without one are labelled events
                    parts = {
                        "train": [e for e in events if e.group is None or str(e.group) != name],
                        "test": [e for e in events if e.group is not None and str(e.group) == name],
                    }
                row = {"suite": suite, "split": name, "seed": seed}
                row |= run_split(events, parts["train"], parts["test"], prof, seed, log)
                row["seconds"] = round(time.perf_counter() - t0, 1)
                done.append(row)
                replace_atomically(results, "".join(json.dumps(r) + "\n" for r in done))
        finally:
            th.set_num_threads(previous_threads)
    return results


# ------------------------------------------------------------------------------ reading
def is_protocol_folder(path: str | Path) -> bool:
    """Whether ``path`` is a protocol suite's results folder (its manifest says so)."""
    return folder_kind(path) == KIND


def _check_split(row: Any, where: str, manifest: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(row, dict) or set(row) != set(SPLIT_FIELDS):
        got = sorted(row) if isinstance(row, dict) else row
        raise ResultsError(f"{where}: expected the fields {list(SPLIT_FIELDS)}, got {got!r}")
    if row["suite"] != manifest.get("suite") or row["seed"] != manifest["settings"].get("seed"):
        raise ResultsError(
            f"{where}: suite {row['suite']!r} / seed {row['seed']!r}, but the manifest's are "
            f"{manifest.get('suite')!r} / {manifest['settings'].get('seed')!r}"
        )
    if row["split"] not in manifest.get("splits", []):
        raise ResultsError(
            f"{where}: split {row['split']!r} is not one of the manifest's {manifest.get('splits')}"
        )
    if not isinstance(row["rows"], dict) or not row["rows"]:
        raise ResultsError(f"{where}: 'rows' must be a non-empty object (method -> metrics)")
    sizes, secs = row["sizes"], row["seconds"]
    if not isinstance(sizes, dict) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in sizes.values()
    ):
        raise ResultsError(f"{where}: 'sizes' must map parts to event counts, got {sizes!r}")
    if not isinstance(row["choices"], dict):
        raise ResultsError(f"{where}: 'choices' must be an object, got {row['choices']!r}")
    if isinstance(secs, bool) or not isinstance(secs, int | float) or not secs >= 0:
        raise ResultsError(f"{where}: 'seconds' must be a number >= 0, got {secs!r}")
    for method, m in row["rows"].items():
        for c in COLUMNS:
            v = m.get(c) if isinstance(m, dict) else None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ResultsError(f"{where}: method {method!r}: {c!r} must be a number, got {v!r}")
            if not 0.0 <= v <= 1.0:
                raise ResultsError(f"{where}: method {method!r}: {c!r} = {v!r} outside [0, 1]")
    return row


def read_protocol(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and the validated split rows of a protocol results folder.

    Raises:
        ResultsError: not a protocol folder, or a malformed line (named by file and line).
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    if (
        not isinstance(manifest, dict)
        or manifest.get("kind") != KIND
        or not isinstance(manifest.get("settings"), dict)
        or not isinstance(manifest.get("data"), dict)
    ):
        raise ResultsError(f"{folder / 'manifest.json'}: not a protocol suite's manifest")
    file = folder / "results.jsonl"
    rows: list[dict[str, Any]] = []
    if not file.exists():
        return manifest, rows
    for i, obj in read_json_lines(file):
        row = _check_split(obj, f"{file}, line {i}", manifest)
        if any(r["split"] == row["split"] for r in rows):
            raise ResultsError(f"{file}, line {i}: split {row['split']!r} appears twice")
        rows.append(row)
    return manifest, rows


# ------------------------------------------------------------------------------ report
def _cell(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def protocol_report(path: str | Path) -> list[str]:
    """Markdown lines of a protocol results folder: the leave-one-event-out folds (mean ± sd
    over folds) and the split by thread, accuracy / F1 / ER / SEA of every method on the test
    events, the choices made on validation, and published numbers for reference."""
    from rlcore.bench.markdown import table

    manifest, rows = read_protocol(path)
    s = manifest["settings"]
    md = [
        f"## Suite `{manifest['suite']}` — profile `{manifest['profile']}` (protocol; data "
        f"{manifest['data']['source']})",
        "",
        f"Source `{Path(path) / 'results.jsonl'}`"
        + (
            f" (data SHA-256 {manifest['data']['sha256'][:12]}…)"
            if "sha256" in manifest["data"]
            else ""
        )
        + f": seed {s['seed']}; RDM epochs ≤ {s['max_rdm_epochs']}, chunkings {s['chunkings']}, "
        f"{s['cm_steps']} checkpoint-module steps per round, {s['sb3_steps']} SB3 steps; every "
        "choice on validation events (train 70 / fit 15 / sel 15 % of the labelled events), test "
        "read once. ER = posts read ÷ posts of the whole thread; SEA = ERD's score of accuracy "
        "and earliness. Versions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(manifest.get("versions", {}).items()))
        + ".",
        "",
    ]
    missing = [x for x in manifest.get("splits", []) if all(r["split"] != x for r in rows)]
    if missing:
        md += [
            f"**Unfinished: {len(rows)} of {len(manifest['splits'])} planned splits; missing "
            f"{', '.join(missing)}** (rerun the same command to finish them).",
            "",
        ]
    folds = [r for r in rows if r["split"] != THREAD_SPLIT]
    thread = [r for r in rows if r["split"] == THREAD_SPLIT]
    header = ["method", "accuracy", "F1", "ER", "SEA"]
    for title, group in (
        (f"Leave one news event out ({len(folds)} fold{'s' * (len(folds) != 1)}: "
         + ", ".join(r["split"] for r in folds) + "), test, mean ± sd over folds", folds),
        ("Split by thread (22.5 % test)", thread),
    ):  # fmt: skip
        if not group:
            continue
        methods = [m for m in group[0]["rows"] if all(m in r["rows"] for r in group)]
        body = [[m] + [_cell([r["rows"][m][c] for r in group]) for c in COLUMNS] for m in methods]
        md += [f"### {title}", ""] + table(header, body) + [""]
    for r in rows:
        c = r["choices"]
        erd = c.get("erd", {})
        thr = c.get("threshold", {})
        epochs = [v for k, v in c.items() if k.startswith("rdm_epochs")]
        md.append(
            f"- {r['split']} (train {r['sizes'].get('train')}, fit {r['sizes'].get('fit')}, sel "
            f"{r['sizes'].get('sel')}, test {r['sizes'].get('test')}; {r['seconds']:.0f} s): "
            f"ERD chose {erd.get('posts_per_chunk')} posts/chunk, CM input "
            f"{erd.get('cm_input')!r}, rewards {erd.get('read_reward')} / "
            f"{erd.get('wrong_reward')}; threshold {thr.get('tau')} at "
            f"{thr.get('posts_per_chunk')} posts/chunk; RDM epochs {epochs}"
        )
    md += ["", "Published numbers (other data and protocols, see docs/erd.md): "
           + "; ".join(f"{k}: " + ", ".join(f"{c} {x:.3f}" for c, x in v.items())
                       for k, v in PUBLISHED.items()) + ".", ""]  # fmt: skip
    return md
