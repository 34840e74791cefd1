"""TargetReach and the discretized continuous-control environments."""

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # registers the rlcore/... env ids
from gymnasium.utils.env_checker import check_env
from rlcore.envs.target_reach import TargetReachEnv


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("rlcore/TargetReach-v0", {"n_actions": 1000, "dim": 1}),
        ("rlcore/TargetReach-v0", {"n_actions": 4096, "dim": 3}),
        ("rlcore/DiscretePendulum-v0", {}),
        ("rlcore/DiscreteInvertedPendulum-v0", {}),
        ("rlcore/DiscreteHalfCheetah-v0", {}),
    ],
)
def test_check_env(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize(
    "env_id, n, dims",
    [
        ("rlcore/DiscretePendulum-v0", 1000, 1),
        ("rlcore/DiscreteInvertedPendulum-v0", 1000, 1),
        ("rlcore/DiscreteHalfCheetah-v0", 4096, 6),
    ],
)
def test_discretized_action_coordinates_match_the_wrapper(env_id, n, dims):
    env = gym.make(env_id)
    assert env.action_space == gym.spaces.Discrete(n)
    coords = env.get_wrapper_attr("action_coordinates")
    grid = env.get_wrapper_attr("action_grid")
    assert int(np.prod(grid["bins"])) == n and len(grid["bins"]) == dims
    actions = np.random.default_rng(0).integers(0, n, size=50)
    table = coords(actions)
    assert table.shape == (50, dims)
    to_continuous = env.get_wrapper_attr("action")  # DiscretizeAction's own mapping
    for a, row in zip(actions, table, strict=True):
        np.testing.assert_allclose(row, to_continuous(int(a)), rtol=1e-6)
    low, high = np.array(grid["low"]), np.array(grid["high"])
    assert np.all(table > low) and np.all(table < high)
    with pytest.raises(ValueError, match=r"actions must lie in \[0, "):
        coords(np.array([n]))
    env.close()


def test_discretized_bins_are_configurable():
    env = gym.make("rlcore/DiscreteHalfCheetah-v0", bins=3)
    assert env.action_space.n == 3**6
    env.close()
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        gym.make("rlcore/DiscretePendulum-v0", bins=0)


@pytest.mark.parametrize("n, dim", [(1000, 2), (10, 2), (100, 3), (7, 2)])
def test_target_reach_rejects_non_perfect_powers(n, dim):
    with pytest.raises(ValueError, match=f"n_actions={n} is not a perfect dim-th power"):
        gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 0}, r"dim must be an integer in \[1, 62\], got 0"),
        ({"dim": 1.0}, r"dim must be an integer in \[1, 62\]"),
        ({"n_actions": 1}, r"n_actions must be an integer in \[2, 4611686018427387904\], got 1"),
        ({"n_actions": 2**63}, r"n_actions must be an integer in \[2, "),
        ({"obs_noise": float("nan")}, r"obs_noise must be a finite number in \[0, 10\]"),
        ({"obs_noise": -1}, r"obs_noise must be a finite number in \[0, 10\], got -1"),
        ({"render_mode": "human"}, r"render_mode must be None, 'ansi' or 'rgb_array'"),
    ],
)
def test_target_reach_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TargetReachEnv(**kwargs)


def test_target_reach_largest_action_space_and_options():
    env = TargetReachEnv(n_actions=2**62, obs_noise=0.0)
    obs, _ = env.reset(seed=0)
    _, _, _, _, info = env.step(env.optimal_action(obs.astype(np.float64)))
    assert info["regret"] < 1e-6
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['event_index'\]"):
        env.reset(options={"event_index": 2.7})


@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_target_reach_render_modes(mode):
    env = gym.make("rlcore/TargetReach-v0", n_actions=100, dim=2, render_mode=mode)
    env.reset(seed=0)
    env.step(5)
    frame = env.render()
    if mode == "ansi":
        assert frame.startswith("target [") and "last action 5" in frame
    else:
        assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
        assert (frame == (220, 40, 40)).all(axis=-1).any()  # the last action is drawn
    check_env(env.unwrapped)


def test_register_discretized_any_box_action_env():
    rlcore.envs.register_discretized(
        "test/DiscreteMountainCar-v0", "MountainCarContinuous-v0", bins=(11,)
    )
    env = gym.make("test/DiscreteMountainCar-v0")
    assert env.action_space == gym.spaces.Discrete(11)
    assert env.get_wrapper_attr("action_grid") == {"low": [-1.0], "high": [1.0], "bins": [11]}
    np.testing.assert_allclose(
        env.get_wrapper_attr("action_coordinates")([0, 5, 10]),
        [[-10 / 11], [0.0], [10 / 11]],
        atol=1e-6,
    )
    env.reset(seed=0)
    env.step(10)
    assert env.spec.kwargs["base_id"] == "MountainCarContinuous-v0"
    assert gym.make("test/DiscreteMountainCar-v0", bins=3).action_space.n == 3  # overridable
    check_env(env, skip_render_check=True)
    vec = gym.make_vec("test/DiscreteMountainCar-v0", num_envs=2, vectorization_mode="sync")
    vec.reset(seed=0)
    vec.close()
    with pytest.raises(ValueError, match="already registered"):
        rlcore.envs.register_discretized("test/DiscreteMountainCar-v0", "MountainCarContinuous-v0")
    with pytest.raises(ValueError, match="base_id must be a registered Gymnasium id"):
        rlcore.envs.register_discretized("test/Nothing-v0", "NoSuchEnv-v9")
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        rlcore.envs.register_discretized("test/Bad-v0", "MountainCarContinuous-v0", bins=0)
    rlcore.envs.register_discretized("test/DiscreteCartPole-v0", "CartPole-v1")
    with pytest.raises(ValueError, match="only an environment with a Box action space"):
        gym.make("test/DiscreteCartPole-v0")
    with pytest.raises(
        ValueError, match="bins has 2 entries but the action space has 1 dimensions"
    ):
        gym.make("test/DiscreteMountainCar-v0", bins=(3, 3))
    with pytest.raises(ValueError, match="more than 4611686018427387904"):
        gym.make("rlcore/DiscreteHalfCheetah-v0", bins=10**6)


@pytest.mark.parametrize("n, dim", [(10**6, 2), (10**7, 1), (27, 3)])
def test_target_reach_regret_and_optimal_action(n, dim):
    env = gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim, obs_noise=0.0)
    base = env.unwrapped
    obs, _ = env.reset(seed=1)
    for _ in range(20):
        target = obs.astype(np.float64)
        best = base.optimal_action(target)
        # the optimal action is the nearest grid point: check against its neighbours
        coords = base.action_coordinates(best)
        step = 2.0 / base.bins
        assert np.all(np.abs(coords - target) <= step / 2 + 1e-6)
        obs, reward, term, trunc, info = env.step(best)
        assert not term
        assert info["regret"] == pytest.approx(0.0, abs=1e-5)
        assert reward == pytest.approx(info["optimal_reward"], abs=1e-5)
    obs, _, _, _, info = env.step(0)
    assert info["regret"] >= 0.0


def test_target_reach_truncates_and_is_seeded():
    def rollout(seed):
        env = gym.make("rlcore/TargetReach-v0", n_actions=100)
        obs, _ = env.reset(seed=seed)
        out, steps, trunc = [obs], 0, False
        while not trunc:
            obs, _, _, trunc, _ = env.step(steps % 100)
            out.append(obs)
            steps += 1
        return np.array(out), steps

    a, steps = rollout(3)
    b, _ = rollout(3)
    assert steps == 100
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rollout(4)[0])


def test_target_reach_optimal_action_validates_the_target():
    env = TargetReachEnv(n_actions=100, dim=2)
    with pytest.raises(ValueError, match=r"target must be a finite array of shape \(2,\)"):
        env.optimal_action(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match=r"target must be a finite array of shape \(2,\)"):
        env.optimal_action(np.zeros(3))


@pytest.mark.parametrize("env_id", ["rlcore/TargetReach-v0", "rlcore/DiscretePendulum-v0"])
@pytest.mark.parametrize("action", [1000, -1, 1.5, True, "a", np.array([1, 2])])
def test_bad_action_raises_naming_it(env_id, action):
    """Never clipped, truncated or indexed out of range: a clear error naming the action."""
    env = gym.make(env_id)  # 1000 actions in both
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 1000\), got "):
        env.step(action)
    env.step(np.int64(999))  # the last action is fine
