"""Gymnasium environments of the package, registered under the ``envs/`` namespace on import.

>>> import gymnasium as gym, envs
>>> env = gym.make("envs/LargeActionMDP-v0", n_actions=256)

``gym.make("envs:envs/LargeActionMDP-v0")`` imports this package first, so the explicit import
is optional. Environment modules are imported lazily (entry points are strings), so importing
``envs`` is cheap and MuJoCo is only loaded by the MuJoCo-based environments.
"""

from __future__ import annotations

import gymnasium as gym

_ENVS = {
    # id: (entry point, max_episode_steps or None)
    "envs/LargeActionMDP-v0": ("envs.large_action_mdp:LargeActionMDPEnv", 50),
    "envs/TargetReach-v0": ("envs.target_reach:TargetReachEnv", 100),
    "envs/DiscreteInvertedPendulum-v0": ("envs.discretized:make_discrete_inverted_pendulum", None),
    "envs/DiscreteHalfCheetah-v0": ("envs.discretized:make_discrete_half_cheetah", None),
    "envs/DiscretePendulum-v0": ("envs.discretized:make_discrete_pendulum", None),
    "envs/RumourStream-v0": ("envs.rumour.env:RumourStreamEnv", None),
}

for _id, (_entry, _steps) in _ENVS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=_steps)

ENV_IDS: tuple[str, ...] = tuple(_ENVS)
"""Every environment id this package registers."""

__all__ = ["ENV_IDS"]
