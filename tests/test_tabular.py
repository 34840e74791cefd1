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


@pytest.mark.parametrize("callback", [5, "stop", [lambda _l, _g: True]])
def test_bad_callback_raises_before_training(callback):
    agent = QLearning(frozen_lake(), seed=0)
    with pytest.raises(TypeError, match="callback must be None, an SB3 BaseCallback"):
        agent.learn(10, callback=callback)


@pytest.mark.parametrize("cls", [QLearning, StochSarsa])
def test_box_action_space_raises(cls):
    env = gym.make("MountainCarContinuous-v0")
    with pytest.raises(ValueError, match="needs a Discrete action space, got Box"):
        cls(gym.wrappers.TransformObservation(env, lambda o: 0, spaces.Discrete(1)))


def test_box_observation_space_raises():
    with pytest.raises(ValueError, match="needs a Discrete observation space, got Box"):
        StochQLearning(gym.make("CartPole-v1"))


def test_zero_actions_raises():
    with pytest.raises(ValueError, match=r"n_actions must be an integer in \[1, .*\], got 0"):
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
    with pytest.raises(ValueError, match=r"learning_rate must be a finite number in \(0, 1\]"):
        QLearning(frozen_lake(), learning_rate=0.0)
    with pytest.raises(ValueError, match="maximizer must be"):
        QLearning(frozen_lake(), maximizer="greedy")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number in \(0, 1\]"),
        ({"learning_rate": lambda _: 2.0}, r"learning_rate must be .* got 2.0"),
        ({"gamma": 1.5}, r"gamma must be a finite number in \[0, 1\], got 1.5"),
        ({"gamma": "0.9"}, r"gamma must be a finite number in \[0, 1\], got '0.9'"),
        ({"exploration_fraction": 0}, r"exploration_fraction must be .* in \(0, 1\]"),
        ({"exploration_initial_eps": -0.1}, r"exploration_initial_eps must be .* \[0, 1\]"),
        ({"exploration_final_eps": float("inf")}, r"exploration_final_eps must be"),
        ({"num_random": 0}, r"num_random \(or None\) must be an integer in \[1, "),
        ({"num_random": 2.5}, r"num_random \(or None\) must be an integer"),
        ({"memory_size": -1}, r"memory_size must be an integer in \[0, 1024\], got -1"),
        ({"memory_size": True}, r"memory_size must be an integer"),
        ({"q_init": float("nan")}, r"q_init must be a finite number"),
        ({"dtype": "int8"}, r"dtype must be a float dtype .* got 'int8'"),
        ({"dtype": "nonsense"}, r"dtype must be a float dtype"),
        ({"seed": -1}, r"seed \(or None\) must be an integer in \[0, "),
        ({"seed": 1.5}, r"seed \(or None\) must be an integer"),
        ({"verbose": 3}, r"verbose must be an integer in \[0, 2\], got 3"),
    ],
)
def test_every_hyper_parameter_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StochQLearning(frozen_lake(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"total_timesteps": 0}, r"total_timesteps must be an integer in \[1, inf\], got 0"),
        ({"total_timesteps": 10.0}, r"total_timesteps must be an integer"),
        ({"total_timesteps": 10, "log_interval": -1}, r"log_interval must be an integer"),
    ],
)
def test_learn_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QLearning(frozen_lake()).learn(**kwargs)


class ReadLimitedTable:
    """Stands in for the Q-table: counts the entries each indexing returns, and fails when one
    indexing returns more than ``limit`` (a whole row, or a view of the table, is ``>= n``)."""

    def __init__(self, table: np.ndarray, limit: int) -> None:
        self.table, self.limit, self.reads = table, limit, 0
        self.shape, self.dtype, self.ndim = table.shape, table.dtype, table.ndim

    def __getitem__(self, key):
        out = self.table[key]
        self.reads += int(np.size(out))
        if np.size(out) > self.limit:
            raise AssertionError(f"one read of {np.size(out)} entries (limit {self.limit})")
        return out


@pytest.mark.parametrize("cls", sorted(STOCH, key=lambda c: c.__name__))
def test_default_greedy_policy_of_stochastic_agents_reads_o_log_n_entries(cls):
    n = 10**6
    agent = cls(mdp(n_states=3, n_actions=n), seed=0).learn(300)
    table = agent.q.copy()
    k = agent.num_random or int(np.ceil(np.log2(n)))  # 20
    per_state = agent.n_tables * (k + agent.memory_size)
    agent.q = ReadLimitedTable(table, limit=3 * per_state)
    actions, _ = agent.predict(np.arange(3))  # deterministic=True by default
    assert actions.shape == (3,) and 0 < agent.q.reads <= 3 * per_state
    # the same wrapper catches the O(n) exact argmax, the explicit opt-in
    with pytest.raises(AssertionError, match="one read of"):
        agent.predict(np.arange(3), exact=True)


@pytest.mark.parametrize("cls", ALL)
def test_exact_greedy_opt_in_equals_np_argmax(cls, monkeypatch):
    import rlcore.tabular.base as base

    monkeypatch.setattr(base, "_EXACT_CHUNK", 7)  # exercise the piecewise sum of double tables
    agent = cls(mdp(), seed=2).learn(2_000)
    states = np.array([4, 0, 3, 3, 1, 2])
    expected = np.argmax(agent.q.sum(axis=0)[states], axis=1)
    np.testing.assert_array_equal(agent.predict(states, exact=True)[0], expected)
    agent.exact_predict = True  # the switch evaluate_policy / EvalCallback can use
    np.testing.assert_array_equal(agent.predict(states)[0], expected)
    agent.exact_predict = False
    default = agent.predict(states)[0]
    if cls not in STOCH:  # the exact agents' greedy policy is the exact argmax
        np.testing.assert_array_equal(default, expected)
    np.testing.assert_allclose(agent.q_values(states), agent.q.sum(axis=0)[states])
    np.testing.assert_allclose(
        agent.q_values(states, default), agent.q.sum(axis=0)[states, default]
    )


@pytest.mark.parametrize("cls", sorted(STOCH, key=lambda c: c.__name__))
def test_greedy_prediction_never_changes_training(cls):
    a, b = cls(mdp(), seed=5).learn(1_000), cls(mdp(), seed=5).learn(1_000)
    for _ in range(20):
        a.predict(np.arange(5))
    a.learn(1_000, reset_num_timesteps=False)
    b.learn(1_000, reset_num_timesteps=False)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.memory.table, b.memory.table)


def test_greedy_prediction_is_seeded():
    a, b = StochQLearning(mdp(), seed=7), StochQLearning(mdp(), seed=7)
    states = np.tile(np.arange(5), 20)
    np.testing.assert_array_equal(a.predict(states)[0], b.predict(states)[0])


def test_empty_batch_predicts_an_empty_array():
    for agent in (StochDoubleQLearning(mdp(), seed=0), QLearning(mdp(), seed=0)):
        for deterministic in (True, False):
            actions, _ = agent.predict(np.zeros(0, dtype=np.int64), deterministic=deterministic)
            assert actions.shape == (0,) and actions.dtype == np.int64
        assert agent.q_values(np.zeros(0, dtype=np.int64)).shape == (0, 256)


def test_predict_and_q_values_reject_bad_input():
    agent = QLearning(mdp(), seed=0)
    with pytest.raises(ValueError, match="expects integer state indices"):
        agent.predict(np.array([0.5]))
    with pytest.raises(ValueError, match="deterministic must be True or False"):
        agent.predict(0, deterministic="yes")
    with pytest.raises(ValueError, match="exact must be True, False or None"):
        agent.predict(0, exact="yes")
    with pytest.raises(ValueError, match="exact=True applies to deterministic=True"):
        agent.predict(0, deterministic=False, exact=True)
    with pytest.raises(ValueError, match=r"action 256 outside \[0, 256\)"):
        agent.q_values(0, 256)


class ShiftedDiscreteEnv(gym.Wrapper):
    """FrozenLake with Discrete(16, start=start) observations and Discrete(4, start=start) actions."""

    def __init__(self, start: int) -> None:
        super().__init__(frozen_lake())
        self.start = start
        self.observation_space = spaces.Discrete(16, start=start)
        self.action_space = spaces.Discrete(4, start=start)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return int(obs) + self.start, info

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(int(action) - self.start)
        return int(obs) + self.start, r, term, trunc, info


def test_discrete_start_is_part_of_the_checkpoint(tmp_path: Path):
    agent = QLearning(ShiftedDiscreteEnv(5), learning_rate=0.5, gamma=0.95, seed=0)
    agent.learn(3_000)
    assert agent.predict(np.int64(5))[0] >= 5
    path = agent.save(tmp_path / "shifted")
    QLearning.load(path, env=ShiftedDiscreteEnv(5))
    with pytest.raises(ValueError, match=r"Discrete\(16, start=5\).*Discrete\(16, start=0\)"):
        QLearning.load(path, env=frozen_lake())


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_huge_table_is_committed_page_by_page():
    """n = 10**8 actions (an 800 MB table): 3,000 steps write at most 3,000 pages of 4 KiB."""
    agent = StochQLearning(mdp(n_states=1, n_actions=10**8), seed=0)
    before = _rss_bytes()
    agent.learn(3_000)
    grown = _rss_bytes() - before
    assert grown < 3_000 * 4096 + 32 * 2**20, f"resident memory grew by {grown / 2**20:.0f} MiB"


def test_works_with_a_million_actions():
    agent = StochQLearning(mdp(n_states=3, n_actions=10**6), seed=0).learn(500)
    assert agent.num_timesteps == 500
    assert (agent.memory.table >= 0).all()
