"""rlcore: reinforcement learning for large discrete action spaces and early decision.

Tabular agents (exact max / stochastic max):
    QLearning, StochQLearning, DoubleQLearning, StochDoubleQLearning, Sarsa, StochSarsa
Deep agents on Stable-Baselines3's machinery:
    StochDQN, StochDDQN
Early rumour detection:
    ERD

The stochastic maximization core every agent calls is :mod:`rlcore.stochmax`.
Deep and ERD agents are imported lazily (on first attribute access).
"""

from __future__ import annotations

import importlib
from typing import Any

from rlcore.tabular import (
    DoubleQLearning,
    QLearning,
    Sarsa,
    StochDoubleQLearning,
    StochQLearning,
    StochSarsa,
)

__version__ = "0.1.0"

_LAZY = {
    "StochDQN": "rlcore.stochdqn",
    "StochDDQN": "rlcore.stochdqn",
    "ERD": "rlcore.erd",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlcore' has no attribute {name!r}")


__all__ = [
    "QLearning",
    "StochQLearning",
    "DoubleQLearning",
    "StochDoubleQLearning",
    "Sarsa",
    "StochSarsa",
    "StochDQN",
    "StochDDQN",
    "ERD",
]
