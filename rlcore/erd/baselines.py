"""Baselines of early rumour detection, evaluated on the same streams as ERD.

* :func:`checkpoint_decisions`: an RDM that answers after a fixed number of chunks (or on the
  full stream with ``checkpoint=None``); it keeps reading afterwards, which gives its flip rate.
* :func:`threshold_decisions`: an RDM that answers at the first chunk where its class
  probability reaches a threshold (or on the last chunk): what a checkpoint module reading the
  probabilities amounts to, with the threshold chosen on validation data.
* :func:`majority_decisions`: always the training set's majority class, after one chunk.
* :func:`train_sb3_baseline` / :func:`sb3_decisions`: an SB3 agent (PPO by default, or DQN)
  with an MLP policy on the environment's vector observations (``obs_mode="tfidf"``,
  ``cumulative=True``: the MLP has no memory, so it sees everything read so far). After it
  answers, its later predictions are the answer it prefers (rumour vs non-rumour action) on the
  following chunks. Reading on at the last chunk is a forced stop: no answer, counted wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rlcore.erd.detector import rdm_outputs
from rlcore.erd.metrics import Decision
from rlcore.erd.networks import RDM


def _decision(stream: Any, chunk: int, answer: int | None, later: np.ndarray) -> Decision:
    return Decision(
        label=stream.label,
        answer=answer,
        chunk=chunk,
        posts_read=int(stream.posts_read[chunk]),
        n_posts=stream.n_posts,
        time_to_answer=float(stream.elapsed[chunk]),
        later_predictions=tuple(int(p) for p in later),
    )


def checkpoint_decisions(
    rdm: RDM | None,
    streams: Sequence[Any],
    checkpoint: int | None,
    device: str | torch.device = "cpu",
    probs: Sequence[np.ndarray] | None = None,
) -> list[Decision]:
    """Decisions of ``rdm`` answering after ``checkpoint`` chunks (``None``: the full stream;
    shorter streams answer on their last chunk); ``probs`` as in :func:`threshold_decisions`."""
    if checkpoint is not None and checkpoint < 1:
        raise ValueError(f"checkpoint={checkpoint!r}: expected a number of chunks >= 1 or None")
    out = []
    for s, p in zip(streams, _probs_of(rdm, streams, probs, device), strict=True):
        preds = p.argmax(1)
        c = s.n_chunks - 1 if checkpoint is None else min(checkpoint, s.n_chunks) - 1
        out.append(_decision(s, c, int(preds[c]), preds[c:]))
    return out


def _probs_of(
    rdm: RDM | None,
    streams: Sequence[Any],
    probs: Sequence[np.ndarray] | None,
    device: str | torch.device,
) -> list[np.ndarray]:
    if probs is not None:
        if len(probs) != len(streams):
            raise ValueError(f"{len(probs)} probability arrays for {len(streams)} streams")
        return list(probs)
    if rdm is None:
        raise ValueError("give an rdm or precomputed probs")
    return [p for p, _ in rdm_outputs(rdm, streams, device)]


def threshold_decisions(
    rdm: RDM | None,
    streams: Sequence[Any],
    threshold: float,
    device: str | torch.device = "cpu",
    probs: Sequence[np.ndarray] | None = None,
) -> list[Decision]:
    """Answer at the first chunk where the RDM's larger class probability is at least
    ``threshold`` (the last chunk when it never is).

    Args:
        rdm: the detector (unused when ``probs`` is given).
        streams: the streams to decide on.
        threshold: in ``[0.5, 1]``.
        probs: optional precomputed ``(n_chunks, 2)`` probabilities per stream
            (:func:`rlcore.erd.rdm_outputs`), to sweep thresholds without re-running the RDM.
    """
    if not 0.5 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold!r}: expected a probability in [0.5, 1]")
    out = []
    for s, p in zip(streams, _probs_of(rdm, streams, probs, device), strict=True):
        preds = p.argmax(1)
        hits = np.flatnonzero(p.max(1) >= threshold)
        c = int(hits[0]) if hits.size else s.n_chunks - 1
        out.append(_decision(s, c, int(preds[c]), preds[c:]))
    return out


def majority_decisions(streams: Sequence[Any], majority: int) -> list[Decision]:
    """Always answer ``majority`` (the training events' majority class) after the first chunk;
    the prediction never changes (no flip)."""
    if majority not in (0, 1):
        raise ValueError(f"majority={majority!r}: expected 0 or 1")
    return [_decision(s, 0, majority, np.full(s.n_chunks, majority)) for s in streams]


def train_sb3_baseline(
    env: Any, algorithm: str = "PPO", total_timesteps: int = 100_000, seed: int = 0, **kwargs: Any
) -> Any:
    """Train an SB3 ``PPO`` or ``DQN`` with an MLP policy on ``env`` (a vector-observation
    ``RumourStreamEnv``); extra ``kwargs`` go to the SB3 constructor."""
    from stable_baselines3 import DQN, PPO

    if getattr(env.unwrapped, "obs_mode", None) not in ("bow", "tfidf"):
        raise TypeError("the SB3 baseline needs a RumourStreamEnv with obs_mode 'bow' or 'tfidf'")
    classes = {"PPO": PPO, "DQN": DQN}
    if algorithm not in classes:
        raise ValueError(f"algorithm {algorithm!r}: expected 'PPO' or 'DQN'")
    model = classes[algorithm]("MlpPolicy", env, seed=seed, device="auto", **kwargs)
    return model.learn(total_timesteps)


def sb3_decisions(model: Any, env: Any) -> list[Decision]:
    """Deterministic decisions of an SB3 model on every stream of ``env`` (batched per stream;
    the policy is memoryless, so this equals stepping the environment)."""
    base = env.unwrapped
    out = []
    for s in base.streams:
        obs = np.stack([base.observation(s, c) for c in range(s.n_chunks)])
        obs_t, _ = model.policy.obs_to_tensor(obs)
        with torch.no_grad():
            if hasattr(model.policy, "get_distribution"):
                scores = model.policy.get_distribution(obs_t).distribution.probs
            else:  # DQN
                scores = model.policy.q_net(obs_t)
        scores = scores.cpu().numpy()
        actions = scores.argmax(1)
        preferred = scores[:, 1:].argmax(1)  # 0 = non-rumour, 1 = rumour
        stops = np.flatnonzero(actions != 0)
        if stops.size:
            c = int(stops[0])
            out.append(_decision(s, c, int(actions[c]) - 1, preferred[c:]))
        else:
            c = s.n_chunks - 1
            out.append(_decision(s, c, None, preferred[c:]))
    return out
