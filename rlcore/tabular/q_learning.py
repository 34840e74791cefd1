"""Q-learning (Watkins) and Stochastic Q-learning (Fourati et al., 2024)."""

from __future__ import annotations

from typing import ClassVar

from rlcore.tabular.base import Maximizer, TabularAgent


class QLearning(TabularAgent):
    """Tabular Q-learning with the exact max over all ``n`` actions (``O(n)`` per step).

    Update: ``Q(s, a) += alpha * (r + gamma * max_b Q(s', b) - Q(s, a))``, no bootstrap on
    termination (truncation bootstraps). Actions are epsilon-greedy. See :class:`TabularAgent`
    for the arguments; ``maximizer="stochastic"`` turns it into :class:`StochQLearning`.
    """

    def _update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> None:
        q = self.q[0]
        target = r
        if not terminated:
            row = q[s_next]
            target += self.gamma * self._argmax(lambda idx: row[idx], s_next)[1]
        q[s, a] += self.alpha * (target - q[s, a])


class StochQLearning(QLearning):
    """Stochastic Q-learning: :class:`QLearning` with the stochastic max (``O(log n)`` per step).

    Both the epsilon-greedy choice and the update target maximize over ``C = R ∪ M(s)``:
    ``R`` holds ``num_random`` (default ``ceil(log2 n)``) uniformly drawn actions and ``M(s)``
    the ``memory_size`` actions most recently exploited in ``s`` (see :mod:`rlcore.stochmax`).
    """

    default_maximizer: ClassVar[Maximizer] = "stochastic"
