"""The rumour detection module's data path and supervised training.

* :func:`pad_streams`: a batch of streams as padded ``(B, T, L)`` token ids;
* :func:`rdm_outputs`: the RDM's class probabilities and GRU states after every chunk;
* :func:`train_rdm_epoch`: one epoch of cross-entropy on every prefix of every stream (the RDM's
  answer is used at every checkpoint, so it is trained on every prefix; ``limits`` truncates
  each stream where the checkpoint module stops, the paper's RDM step of the alternation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlcore.erd.networks import RDM


def pad_streams(streams: Sequence[Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T, L)`` token ids padded with empty chunks, and ``(B,)`` chunk counts."""
    lengths = torch.tensor([s.n_chunks for s in streams], dtype=torch.long)
    tokens = torch.zeros(
        len(streams), int(lengths.max()), streams[0].tokens.shape[1], dtype=torch.long
    )
    for b, s in enumerate(streams):
        tokens[b, : s.n_chunks] = torch.from_numpy(s.tokens.astype(np.int64))
    return tokens.to(device), lengths.to(device)


def rdm_outputs(
    rdm: RDM,
    streams: Sequence[Any],
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    dropout: bool = False,
) -> list[tuple[np.ndarray, torch.Tensor]]:
    """Run ``rdm`` over whole streams (no gradient; with ``dropout=True`` its dropout stays on).

    Returns:
        per stream, ``(probs, states)``: ``(n_chunks, 2)`` class probabilities after each chunk
        and ``(n_chunks, hidden_size)`` GRU states (on ``device``).
    """
    device = torch.device(device)
    order = sorted(range(len(streams)), key=lambda i: streams[i].n_chunks)
    out: list[Any] = [None] * len(streams)
    rdm.train(dropout)
    with torch.no_grad():
        for a in range(0, len(order), batch_size):
            idx = order[a : a + batch_size]
            tokens, lengths = pad_streams([streams[i] for i in idx], device)
            logits, states = rdm(tokens)
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            for b, i in enumerate(idx):
                n = int(lengths[b])
                out[i] = (probs[b, :n], states[b, :n])
    rdm.eval()
    return out


def train_rdm_epoch(
    rdm: RDM,
    optimizer: torch.optim.Optimizer,
    streams: Sequence[Any],
    rng: np.random.Generator,
    batch_size: int,
    max_grad_norm: float,
    device: torch.device,
    limits: np.ndarray | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> float:
    """One epoch of cross-entropy on every chunk (up to chunk ``limits[i]`` when given).

    Minibatches hold streams of similar length (sorted with random tie-breaking, visited in a
    random order); each stream's prefixes weigh ``1 / n_prefixes`` so every stream counts once.
    ``on_batch(n_streams)`` is called after each minibatch (progress).

    Returns:
        the mean minibatch loss.
    """
    order = np.argsort([s.n_chunks + rng.random() for s in streams], kind="stable")
    batches = [order[a : a + batch_size] for a in range(0, len(order), batch_size)]
    rdm.train()
    losses = []
    for k in rng.permutation(len(batches)):
        idx = batches[k]
        tokens, lengths = pad_streams([streams[i] for i in idx], device)
        if limits is not None:
            lengths = torch.minimum(lengths, torch.as_tensor(limits[idx] + 1, device=device))
        labels = torch.tensor([streams[i].label for i in idx], device=device)
        logits, _ = rdm(tokens)
        t = torch.arange(tokens.shape[1], device=device)
        weights = (t[None, :] < lengths[:, None]).float() / lengths[:, None].float()
        ce = F.cross_entropy(
            logits.transpose(1, 2), labels[:, None].expand(-1, tokens.shape[1]), reduction="none"
        )
        loss = (ce * weights).sum() / len(idx)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rdm.parameters(), max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
        if on_batch is not None:
            on_batch(len(idx))
    rdm.eval()
    return float(np.mean(losses))
