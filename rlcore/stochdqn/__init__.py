"""StochDQN / StochDDQN on Stable-Baselines3's machinery (see :mod:`rlcore.stochdqn.stochdqn`)."""

from rlcore.stochdqn.policies import ActionHeadPolicy, MlpPolicy, SparseAwareAdam
from rlcore.stochdqn.stochdqn import StochDDQN, StochDQN

__all__ = ["StochDQN", "StochDDQN", "MlpPolicy", "ActionHeadPolicy", "SparseAwareAdam"]
