"""StochDQN / StochDDQN on Stable-Baselines3's machinery (see :mod:`rlcore.stochdqn.stochdqn`)."""

from rlcore.stochdqn.optim import SparseAwareAdam
from rlcore.stochdqn.policies import ActionHeadPolicy, CnnPolicy, MlpPolicy, MultiInputPolicy
from rlcore.stochdqn.stochdqn import StochDDQN, StochDQN

__all__ = [
    "StochDQN",
    "StochDDQN",
    "MlpPolicy",
    "CnnPolicy",
    "MultiInputPolicy",
    "ActionHeadPolicy",
    "SparseAwareAdam",
]
