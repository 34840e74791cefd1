"""Tabular agents: learning, SB3 compatibility, save / load, determinism, clear errors."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from gymnasium import spaces
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import LinearSchedule

from rlcore import (
    DoubleQLearning,
    QLearning,
    Sarsa,
    StochDoubleQLearning,
    StochQLearning,
    StochSarsa,
)

ALL = [QLearning, StochQLearning, DoubleQLearning, StochDoubleQLearning, Sarsa, StochSarsa]
STOCH = {StochQLearning, StochDoubleQLearning, StochSarsa}


def frozen_lake() -> gym.Env:
    return gym.make("FrozenLake-v1", is_slippery=False)


def mdp(**kw) -> gym.Env:
    kw = {"n_states": 5, "n_actions": 256, "reward_std": 0.5} | kw
    return gym.make("rlcore/LargeActionMDP-v0", **kw)


@pytest.mark.parametrize("cls", ALL)
def test_maximizer_matches_the_class(cls):
    agent = cls(frozen_lake(), seed=0)
    assert agent.maximizer == ("stochastic" if cls in STOCH else "exact")
    assert cls(frozen_lake(), maximizer="exact").maximizer == "exact"


@pytest.mark.parametrize("cls", ALL)
def test_solves_deterministic_frozen_lake(cls):
    agent = cls(frozen_lake(), learning_rate=0.5, gamma=0.95, exploration_final_eps=0.0, seed=0)
    agent.learn(10_000)
    mean, _ = evaluate_policy(agent, Monitor(frozen_lake()), n_eval_episodes=3)
    assert mean == 1.0


@pytest.mark.parametrize("cls", [QLearning, StochQLearning])
def test_q_learning_finds_the_optimal_cliff_walking_path(cls):
    def cliff() -> gym.Env:
        return gym.make("CliffWalking-v1", max_episode_steps=200)

    agent = cls(cliff(), learning_rate=0.5, exploration_final_eps=0.0, seed=0).learn(15_000)
    mean, _ = evaluate_policy(agent, Monitor(cliff()), n_eval_episodes=1)
    assert mean == -13.0  # the shortest path along the cliff


@pytest.mark.parametrize("cls", ALL)
def test_near_optimal_on_large_action_mdp_with_256_actions(cls):
    env = mdp(n_states=3)
    gamma = 0.5
    agent = cls(
        env,
        learning_rate=LinearSchedule(0.3, 0.01, 1.0),
        gamma=gamma,
        exploration_fraction=0.6,
        exploration_final_eps=0.02,
        seed=0,
    )
    agent.learn(60_000)
    policy, _ = agent.predict(np.arange(3))
    gap = env.unwrapped.optimality_gap(policy, gamma)
    # greedy value within 10% of optimal (a bad action in one of 3 states costs more than that)
    assert gap <= 0.10, f"{cls.__name__}: greedy policy is {gap:.1%} below optimal"


@pytest.mark.parametrize("cls", ALL)
def test_same_seed_same_q_table_bit_for_bit(cls):
    a = cls(mdp(), seed=3).learn(2_000)
    b = cls(mdp(), seed=3).learn(2_000)
    c = cls(mdp(), seed=4).learn(2_000)
    assert np.array_equal(a.q, b.q)
    assert np.array_equal(a.memory.table, b.memory.table)
    assert not np.array_equal(a.q, c.q)


@pytest.mark.parametrize("cls", ALL)
def test_save_load_round_trip(cls, tmp_path: Path):
    agent = cls(mdp(), seed=1).learn(3_000)
    path = agent.save(tmp_path / "agent")
    assert path.suffix == ".npz"
    loaded = cls.load(path, env=mdp())
    states = np.arange(5)
    np.testing.assert_array_equal(loaded.predict(states)[0], agent.predict(states)[0])
    np.testing.assert_array_equal(loaded.q, agent.q)
    # the random generator is restored too: stochastic predictions continue identically
    np.testing.assert_array_equal(
        loaded.predict(states, deterministic=False)[0],
        agent.predict(states, deterministic=False)[0],
    )
    assert loaded.num_timesteps == agent.num_timesteps and loaded.hparams == agent.hparams
    assert not list(tmp_path.glob("*.tmp")), "atomic save leaves no temporary file"


def test_loading_another_algorithms_checkpoint_raises(tmp_path: Path):
    path = Sarsa(mdp(), seed=0).learn(100).save(tmp_path / "sarsa.npz")
    with pytest.raises(ValueError, match="holds a 'Sarsa' checkpoint, not 'QLearning'"):
        QLearning.load(path)
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not an rlcore checkpoint"):
        QLearning.load(bogus)
    with pytest.raises(FileNotFoundError):
        QLearning.load(tmp_path / "missing.npz")


def test_predict_shapes_and_bounds():
    agent = StochQLearning(mdp(), seed=0)
    action, state = agent.predict(2)
    assert isinstance(action, np.int64) and state is None
    lake = frozen_lake()
    obs, _ = lake.reset(seed=0)
    lake.step(QLearning(lake).predict(obs)[0])  # a scalar action indexes toy-text dicts
    assert agent.predict(np.array([0, 1, 2]))[0].shape == (3,)
    with pytest.raises(ValueError, match="outside"):
        agent.predict(7)


def test_sb3_callbacks_and_progress_bar(tmp_path: Path):
    agent = StochQLearning(frozen_lake(), learning_rate=0.5, gamma=0.95, seed=0)
    eval_cb = EvalCallback(
        Monitor(frozen_lake()),
        eval_freq=1_000,
        n_eval_episodes=2,
        log_path=str(tmp_path),
        verbose=0,
    )
    ckpt_cb = CheckpointCallback(save_freq=2_500, save_path=str(tmp_path), name_prefix="ckpt")
    agent.learn(5_000, callback=[eval_cb, ckpt_cb], progress_bar=True)
    assert len(np.load(tmp_path / "evaluations.npz")["timesteps"]) == 5
    ckpts = sorted(tmp_path.glob("ckpt_*_steps.zip"))
    assert len(ckpts) == 2
    np.testing.assert_array_equal(StochQLearning.load(ckpts[-1]).q, agent.q)


def test_callback_returning_false_stops_training():
    agent = QLearning(frozen_lake(), seed=0)
    agent.learn(10_000, callback=lambda _locals, _globals: _locals["self"].num_timesteps < 123)
    assert agent.num_timesteps == 123


@pytest.mark.parametrize("cls", [QLearning, StochSarsa])
def test_box_action_space_raises(cls):
    env = gym.make("MountainCarContinuous-v0")
    with pytest.raises(ValueError, match="needs a Discrete action space, got Box"):
        cls(gym.wrappers.TransformObservation(env, lambda o: 0, spaces.Discrete(1)))


def test_box_observation_space_raises():
    with pytest.raises(ValueError, match="needs a Discrete observation space, got Box"):
        StochQLearning(gym.make("CartPole-v1"))


def test_zero_actions_raises():
    with pytest.raises(ValueError, match="n_actions must be an integer >= 1, got 0"):
        mdp(n_actions=0)


class NaNRewardEnv(gym.Env):
    observation_space = spaces.Discrete(2)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 1, float("nan"), False, False, {}


@pytest.mark.parametrize("cls", [QLearning, StochDoubleQLearning])
def test_nan_reward_raises(cls):
    with pytest.raises(ValueError, match=r"non-finite reward \[nan\] at timestep 1"):
        cls(NaNRewardEnv(), seed=0).learn(10)


def test_table_too_large_raises_before_allocation():
    with pytest.raises(MemoryError, match="GiB"):
        StochQLearning(mdp(n_states=10**6, n_actions=10**9))


def test_bad_hyper_parameters_raise():
    with pytest.raises(ValueError, match="learning_rate must be in"):
        QLearning(frozen_lake(), learning_rate=0.0)
    with pytest.raises(ValueError, match="maximizer must be"):
        QLearning(frozen_lake(), maximizer="greedy")


def test_works_with_a_million_actions():
    agent = StochQLearning(mdp(n_states=3, n_actions=10**6), seed=0).learn(500)
    assert agent.num_timesteps == 500
    assert (agent.memory.table >= 0).all()
