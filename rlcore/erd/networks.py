"""ERD's networks: the rumour detection module (RDM) and the checkpoint module (CM)."""

from __future__ import annotations

import torch
from torch import nn


class RDM(nn.Module):
    """Rumour detection module (Zhou et al. 2019, section 3.1).

    word embeddings -> linear map -> max-pool over a chunk's words -> GRU over chunks ->
    linear classifier (softmax over non-rumour / rumour).

    Args:
        vocab_size: number of token ids (id 0 = padding).
        embedding_dim: word embedding size.
        hidden_size: size of the chunk vectors and of the GRU state.
        dropout: dropout on word embeddings, chunk vectors and the classifier input (training
            only; 0 in the paper, which overfits small data sets).
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 100, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.dropout = nn.Dropout(dropout)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.word_map = nn.Linear(embedding_dim, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, 2)

    def encode_chunks(self, tokens: torch.Tensor) -> torch.Tensor:
        """Chunk vectors: ``tokens`` ``(..., L)`` int ids -> ``(..., hidden_size)``.

        Max-pooling ignores padding; a chunk with no token gives a zero vector.
        """
        x = self.word_map(self.dropout(self.embedding(tokens)))
        mask = (tokens > 0).unsqueeze(-1)
        x = x.masked_fill(~mask, float("-inf")).amax(dim=-2)
        return torch.where(mask.any(dim=-2), x, torch.zeros_like(x))

    def forward(
        self, tokens: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over a batch of chunk sequences.

        Args:
            tokens: ``(B, T, L)`` token ids (T chunks of L tokens).
            h0: ``(B, hidden_size)`` initial GRU state or ``None`` (zeros).

        Returns:
            ``(logits, states)``: ``(B, T, 2)`` class logits and ``(B, T, hidden_size)``
            GRU states after each chunk.
        """
        states, _ = self.gru(
            self.dropout(self.encode_chunks(tokens)), None if h0 is None else h0.unsqueeze(0)
        )
        return self.classifier(self.dropout(states)), states


class CheckpointModule(nn.Module):
    """Checkpoint module: a Q-network over the RDM's GRU state, two actions.

    ``(B, hidden_size)`` states -> ``(B, 2)`` action values, column 0 = continue, 1 = stop.
    Two layers with ReLU (64 units in the authors' code).
    """

    CONTINUE, STOP = 0, 1

    def __init__(self, hidden_size: int = 100, cm_hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden_size, cm_hidden), nn.ReLU(), nn.Linear(cm_hidden, 2)
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)
