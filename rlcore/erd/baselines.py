"""Baselines of early rumour detection, evaluated on the same streams as ERD.

* :func:`checkpoint_decisions`: an RDM that answers after a fixed number of chunks (or on the
  full stream with ``checkpoint=None``); it keeps reading afterwards, which gives its flip rate.
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
    rdm: RDM, streams: Sequence[Any], checkpoint: int | None, device: str | torch.device = "cpu"
) -> list[Decision]:
    """Decisions of ``rdm`` answering after ``checkpoint`` chunks (``None``: the full stream;
    shorter streams answer on their last chunk)."""
    if checkpoint is not None and checkpoint < 1:
        raise ValueError(f"checkpoint={checkpoint!r}: expected a number of chunks >= 1 or None")
    out = []
    for s, (probs, _) in zip(streams, rdm_outputs(rdm, streams, device), strict=True):
        preds = probs.argmax(1)
        c = s.n_chunks - 1 if checkpoint is None else min(checkpoint, s.n_chunks) - 1
        out.append(_decision(s, c, int(preds[c]), preds[c:]))
    return out


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
