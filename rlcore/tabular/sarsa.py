"""Sarsa (Rummery & Niranjan, 1994) and Stochastic Sarsa."""

from __future__ import annotations

from typing import ClassVar

from rlcore.tabular.base import Maximizer, TabularAgent


class Sarsa(TabularAgent):
    """On-policy tabular Sarsa with an exact-max epsilon-greedy policy.

    The next action ``a'`` is drawn epsilon-greedily in ``s'`` and is the action taken there:
    ``Q(s, a) += alpha * (r + gamma * Q(s', a') - Q(s, a))``, no bootstrap on termination.
    """

    def _update(self, s: int, a: int, r: float, s_next: int, terminated: bool) -> int:
        q = self.q[0]
        a_next = self._act(s_next)
        target = r if terminated else r + self.gamma * q[s_next, a_next]
        q[s, a] += self.alpha * (target - q[s, a])
        return a_next


class StochSarsa(Sarsa):
    """Stochastic Sarsa: ``a'`` comes from the stochastic epsilon-greedy policy (greedy part
    over ``C = R ∪ M(s')``), so a step costs ``O(log n)``."""

    default_maximizer: ClassVar[Maximizer] = "stochastic"
