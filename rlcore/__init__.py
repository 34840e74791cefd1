"""rlcore: reinforcement learning for large discrete action spaces and early decision.

Tabular agents (exact max / stochastic max):
    QLearning, StochQLearning, DoubleQLearning, StochDoubleQLearning, Sarsa, StochSarsa
Deep agents on Stable-Baselines3's machinery:
    StochDQN, StochDDQN
Early rumour detection:
    ERD

``import rlcore`` registers every environment of :mod:`rlcore.envs` with Gymnasium
(``gym.make("rlcore/LargeActionMDP-v0")``) and imports nothing heavier than Gymnasium: the agents
(and with them torch and Stable-Baselines3) are imported on first attribute access. The stochastic
maximization core every agent calls is :mod:`rlcore.stochmax`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import rlcore.envs  # noqa: F401  (registers the rlcore/... environment ids)

__version__ = "0.1.0"

_LAZY = {
    "QLearning": "rlcore.tabular",
    "StochQLearning": "rlcore.tabular",
    "DoubleQLearning": "rlcore.tabular",
    "StochDoubleQLearning": "rlcore.tabular",
    "Sarsa": "rlcore.tabular",
    "StochSarsa": "rlcore.tabular",
    "StochDQN": "rlcore.stochdqn",
    "StochDDQN": "rlcore.stochdqn",
    "ERD": "rlcore.erd",
}

if TYPE_CHECKING:  # pragma: no cover - static analysers see the eager imports
    from rlcore.erd import ERD
    from rlcore.stochdqn import StochDDQN, StochDQN
    from rlcore.tabular import (
        DoubleQLearning,
        QLearning,
        Sarsa,
        StochDoubleQLearning,
        StochQLearning,
        StochSarsa,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rlcore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
