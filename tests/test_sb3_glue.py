"""The SB3 glue shared by the tabular agents and the benchmark's random policy
(:mod:`rlcore.common.sb3_glue`): env wrapping, seeding, logger, callback conversion."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    ConvertCallback,
    ProgressBarCallback,
)
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from rlcore.bench.algorithms import RandomPolicy
from rlcore.common.sb3_glue import init_callback, make_logger, seed_env, wrap_env
from rlcore.tabular import QLearning


class _Count(BaseCallback):
    """Counts its steps; stops training after ``stop_at`` of them."""

    def __init__(self, stop_at: int = 10**9) -> None:
        super().__init__()
        self.calls, self.stop_at, self.started, self.ended = 0, stop_at, False, False

    def _on_training_start(self) -> None:
        self.started = True

    def _on_step(self) -> bool:
        self.calls += 1
        return self.calls < self.stop_at

    def _on_training_end(self) -> None:
        self.ended = True


def test_wrap_env_monitors_once_and_passes_vec_envs_through() -> None:
    vec = wrap_env("FrozenLake-v1", "Algo")
    assert isinstance(vec, DummyVecEnv) and vec.num_envs == 1
    assert vec.env_is_wrapped(Monitor) == [True]
    monitored = Monitor(gym.make("FrozenLake-v1"))
    inner = wrap_env(monitored, "Algo").envs[0]
    assert inner is monitored  # not a second Monitor
    assert is_wrapped(inner, Monitor)
    assert wrap_env(vec, "Algo") is vec


def test_wrap_env_refuses_other_inputs_and_runs_the_check() -> None:
    with pytest.raises(
        TypeError, match=r"Algo needs a gymnasium.Env, a VecEnv or an env id, got 5"
    ):
        wrap_env(5, "Algo")  # type: ignore[arg-type]
    seen: list[Any] = []

    def refuse(env: gym.Env) -> None:
        seen.append(env.action_space)
        raise ValueError("no Box actions")

    with pytest.raises(ValueError, match="no Box actions"):
        wrap_env("Pendulum-v1", "Algo", check=refuse)
    assert len(seen) == 1
    vec = wrap_env("FrozenLake-v1", "Algo")
    assert wrap_env(vec, "Algo", check=refuse) is vec  # a VecEnv is not checked


def test_seed_env_repeats_resets_and_action_samples() -> None:
    def draw(seed: int) -> tuple[list[int], list[int]]:
        vec = wrap_env("Taxi-v4", "Algo")  # random start states
        seed_env(vec, seed)
        starts = [int(vec.reset()[0])]
        acts = [int(vec.action_space.sample()) for _ in range(20)]
        return starts, acts

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_make_logger_prints_only_when_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    for verbose in (0, 1):
        logger = make_logger(verbose)
        logger.record("rollout/glue_value", 42)
        logger.dump(step=1)
    out = capsys.readouterr().out
    assert out.count("glue_value") == 1 and "42" in out


def test_init_callback_converts_like_sb3() -> None:
    model = RandomPolicy(gym.make("FrozenLake-v1"), seed=0)
    assert isinstance(init_callback(None, model), ConvertCallback)
    fn = init_callback(lambda _l, _g: False, model)
    assert isinstance(fn, ConvertCallback) and fn.on_step() is False
    a, b = _Count(), _Count()
    both = init_callback([a, b], model, progress_bar=True)
    assert isinstance(both, CallbackList)
    assert isinstance(both.callbacks[-1], ProgressBarCallback)
    assert a.model is model and b.model is model  # initialized with the model


@pytest.mark.parametrize("bad", [5, "stop", [lambda _l, _g: True]])
def test_init_callback_refuses_other_inputs(bad: Any) -> None:
    model = RandomPolicy(gym.make("FrozenLake-v1"), seed=0)
    with pytest.raises(TypeError, match=r"callback must be None, an SB3 BaseCallback.*got"):
        init_callback(bad, model)


@pytest.mark.parametrize(
    "make", [lambda env: RandomPolicy(env, seed=1), lambda env: QLearning(env, seed=1)]
)
def test_random_policy_and_tabular_agent_take_the_same_callbacks(make: Any) -> None:
    """Both models stop where the callback says, and call start / end once."""
    model = make(gym.make("FrozenLake-v1"))
    count = _Count(stop_at=37)
    model.learn(1_000, callback=[count])
    assert (count.calls, model.num_timesteps, count.started, count.ended) == (37, 37, True, True)
    model = make("FrozenLake-v1")  # an env id works for both
    model.learn(1_000, callback=lambda local, _g: local["self"].num_timesteps < 11)
    assert model.num_timesteps == 11
    with pytest.raises(TypeError, match="callback must be None"):
        model.learn(10, callback=5)


def test_random_policy_is_seeded() -> None:
    def run(seed: int) -> np.ndarray:
        policy = RandomPolicy("rlcore/LargeActionMDP-v0", seed=seed)
        obs: list[int] = []
        policy.learn(
            200,
            callback=lambda local, _g: obs.append(int(local["self"].env.buf_obs[None][0])) or True,
        )
        return np.array(obs)

    assert np.array_equal(run(2), run(2)) and not np.array_equal(run(2), run(3))
