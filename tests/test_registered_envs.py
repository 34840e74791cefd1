"""Every environment the package registers passes Gymnasium's env checker."""

import gymnasium as gym
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from gymnasium.utils.env_checker import check_env


@pytest.mark.parametrize("env_id", rlcore.envs.ENV_IDS)
def test_registered_env_passes_check_env(env_id):
    env = gym.make(env_id)
    try:
        check_env(env, skip_render_check=True)  # the env as users get it, wrappers included
    finally:
        env.close()


def test_ids_are_registered_on_import():
    for env_id in rlcore.envs.ENV_IDS:
        assert env_id in gym.registry
