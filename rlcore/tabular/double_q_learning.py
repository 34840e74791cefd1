"""Double Q-learning (van Hasselt, 2010) and Stochastic Double Q-learning."""

from __future__ import annotations

from typing import ClassVar

from rlcore.tabular.base import Maximizer, TabularAgent


class DoubleQLearning(TabularAgent):
    """Tabular Double Q-learning with the exact max.

    Two tables ``Q_A, Q_B``; each step one of them (fair coin) is updated:
    ``b* = argmax_b Q_A(s', b)``, ``Q_A(s, a) += alpha * (r + gamma * Q_B(s', b*) - Q_A(s, a))``
    (and symmetrically). Actions are epsilon-greedy on ``Q_A + Q_B``.
    """

    n_tables: ClassVar[int] = 2

    def _update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> None:
        i = int(self.rng.integers(2))
        q_upd, q_eval = self.q[i], self.q[1 - i]
        target = r
        if not terminated:
            row = q_upd[s_next]
            b_star = self._argmax(lambda idx: row[idx], s_next)[0]
            target += self.gamma * q_eval[s_next, b_star]
        q_upd[s, a] += self.alpha * (target - q_upd[s, a])


class StochDoubleQLearning(DoubleQLearning):
    """Stochastic Double Q-learning: ``b*`` is the stochastic argmax over ``C = R ∪ M(s')``, and
    actions are the stochastic epsilon-greedy choice on ``Q_A + Q_B`` (``O(log n)`` per step)."""

    default_maximizer: ClassVar[Maximizer] = "stochastic"
