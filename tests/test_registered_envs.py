"""Every environment the package registers: Gymnasium's env checker, render modes, vectorized
creation with default arguments (SB3's make_vec_env, Gymnasium's make_vec) without warnings."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # registers the rlcore/... env ids
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env


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


@pytest.mark.parametrize("env_id", rlcore.envs.ENV_IDS)
def test_vectorized_with_default_arguments_and_no_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        vec = make_vec_env(env_id, n_envs=2)  # asks for render_mode="rgb_array"
        obs = vec.reset()
        vec.step(np.zeros(2, dtype=np.int64))
        vec.close()
        assert len(obs) == 2
        gvec = gym.make_vec(env_id, num_envs=2)
        gvec.reset(seed=0)
        gvec.close()


SMALL = {"rlcore/RumourStream-v0": {"synthetic_kwargs": {"n_events": 40, "seed": 0}}}


@pytest.mark.parametrize("env_id", rlcore.envs.ENV_IDS)
def test_render_mode_none_and_every_declared_mode(env_id):
    kwargs = SMALL.get(env_id, {})
    env = gym.make(env_id, render_mode=None, **kwargs)
    modes = env.metadata["render_modes"]
    assert env.render_mode is None and modes, f"{env_id} declares no render mode"
    env.close()
    for mode in modes:
        env = gym.make(env_id, render_mode=mode, **kwargs)
        assert env.render_mode == mode
        if mode != "ansi" and "Discrete" in env_id:
            env.close()  # Gymnasium's own MuJoCo / pygame renderers need a display or OpenGL
            continue
        env.reset(seed=0)
        frame = env.render()
        assert isinstance(frame, str) if mode == "ansi" else frame.ndim == 3
        env.close()
