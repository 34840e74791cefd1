"""Gymnasium environments of the package, installed as :mod:`rlcore.envs`.

The source folder is the repository's top-level ``envs/``; ``setup.cfg`` installs it under the
import name ``rlcore.envs`` so that it can never collide with PyPI's ``envs`` package or with a
user's own ``envs/`` folder. ``import rlcore`` registers every id below under the ``rlcore/``
namespace:

>>> import gymnasium as gym, rlcore
>>> env = gym.make("rlcore/LargeActionMDP-v0", n_actions=256)

Importing this package only imports Gymnasium: the entry points are strings, so an environment
module (and MuJoCo, for the MuJoCo-based ones) is imported on its first ``gym.make``, and the
numpy environments never import torch or Stable-Baselines3.

Every environment accepts ``render_mode`` (None, plus the modes in its
``metadata["render_modes"]``) and works with ``gym.make_vec`` and SB3's ``make_vec_env``.

Your own large-action environment from any Gymnasium environment with a bounded ``Box`` action
space, with the action coordinates that rlcore's networks use (:func:`register_discretized`):

>>> rlcore.envs.register_discretized("MyDiscretePendulum-v0", "Pendulum-v1", bins=(101,))
>>> gym.make("MyDiscretePendulum-v0").action_space
Discrete(101)
"""

from __future__ import annotations

import gymnasium as gym
from rlcore.envs.discretized import register_discretized

_ENVS = {
    # id: (entry point, max_episode_steps or None)
    "rlcore/LargeActionMDP-v0": ("rlcore.envs.large_action_mdp:LargeActionMDPEnv", 50),
    "rlcore/TargetReach-v0": ("rlcore.envs.target_reach:TargetReachEnv", 100),
    "rlcore/DiscreteInvertedPendulum-v0": (
        "rlcore.envs.discretized:make_discrete_inverted_pendulum",
        None,
    ),
    "rlcore/DiscreteHalfCheetah-v0": ("rlcore.envs.discretized:make_discrete_half_cheetah", None),
    "rlcore/DiscretePendulum-v0": ("rlcore.envs.discretized:make_discrete_pendulum", None),
    "rlcore/RumourStream-v0": ("rlcore.envs.rumour.env:RumourStreamEnv", None),
}

for _id, (_entry, _steps) in _ENVS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=_steps)

ENV_IDS: tuple[str, ...] = tuple(_ENVS)
"""Every environment id this package registers."""

__all__ = ["ENV_IDS", "register_discretized"]
