"""Tabular agents: exact-max and stochastic-max Q-learning, Double Q-learning and Sarsa."""

from rlcore.tabular.base import TabularAgent
from rlcore.tabular.double_q_learning import DoubleQLearning, StochDoubleQLearning
from rlcore.tabular.q_learning import QLearning, StochQLearning
from rlcore.tabular.sarsa import Sarsa, StochSarsa

__all__ = [
    "TabularAgent",
    "QLearning",
    "StochQLearning",
    "DoubleQLearning",
    "StochDoubleQLearning",
    "Sarsa",
    "StochSarsa",
]
