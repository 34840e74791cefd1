"""rlcore/LargeActionMDP-v0: Gymnasium conformance, exact values, step law, clear errors."""

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from gymnasium.utils.env_checker import check_env
from rlcore.envs.large_action_mdp import LargeActionMDPEnv


def dense_model(env: LargeActionMDPEnv) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force (S, A) mean rewards and (S, A, S) transitions, for small n only."""
    s_n, a_n = env.n_states, env.n_actions
    r = np.full((s_n, a_n), env.bad_reward)
    p = np.full((s_n, a_n, s_n), 1.0 / s_n)
    for s in range(s_n):
        for j, a in enumerate(env.good_actions[s]):
            r[s, a] = env.good_means[s, j]
            p[s, a] = 0.0
            p[s, a, env.good_next[s, j]] = 1.0
    return r, p


def test_registered_env_passes_check_env():
    env = gym.make("rlcore/LargeActionMDP-v0", n_states=4, n_actions=16)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps == 50


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
def test_exact_values_match_brute_force_value_iteration(gamma):
    env = LargeActionMDPEnv(n_states=6, n_actions=9, n_good=3, mdp_seed=2)
    r, p = dense_model(env)
    v = np.zeros(6)
    for _ in range(2_000):
        v = (r + gamma * p @ v).max(axis=1)
    np.testing.assert_allclose(env.optimal_values(gamma), v, atol=1e-9)
    q = r + gamma * p @ v
    s, a = np.meshgrid(np.arange(6), np.arange(9), indexing="ij")
    np.testing.assert_allclose(env.optimal_q(s.ravel(), a.ravel(), gamma), q.ravel(), atol=1e-9)
    best = env.optimal_actions(gamma)
    np.testing.assert_allclose(q[np.arange(6), best], v, atol=1e-9)
    np.testing.assert_allclose(env.policy_values(best, gamma), v, atol=1e-9)
    assert env.optimality_gap(best, gamma) == pytest.approx(0.0, abs=1e-9)
    worst = q.argmin(axis=1)
    assert env.optimality_gap(worst, gamma) > 0.1


def test_rewards_are_noisy_around_the_documented_means():
    env = LargeActionMDPEnv(n_states=1, n_actions=10**9, n_good=1, reward_std=1.0)
    env.reset(seed=0)
    good = int(env.good_actions[0, 0])
    rewards_good = np.array([env.step(good)[1] for _ in range(4_000)])
    rewards_bad = np.array([env.step((good + 1) % env.n_actions)[1] for _ in range(4_000)])
    assert abs(rewards_good.mean() - 1.0) < 0.1 and abs(rewards_bad.mean()) < 0.1
    assert 0.9 < rewards_good.std() < 1.1


def test_same_structure_for_the_same_mdp_seed_whatever_the_episode_seed():
    a, b = LargeActionMDPEnv(mdp_seed=5), LargeActionMDPEnv(mdp_seed=5)
    a.reset(seed=1)
    b.reset(seed=2)
    np.testing.assert_array_equal(a.good_actions, b.good_actions)
    assert not np.array_equal(a.good_actions, LargeActionMDPEnv(mdp_seed=6).good_actions)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_actions": 0}, r"n_actions must be an integer in \[1, 4611686018427387904\], got 0"),
        ({"n_actions": 2**63}, r"n_actions must be an integer in \[1, 4611686018427387904\]"),
        ({"n_actions": 256.0}, r"n_actions must be an integer"),
        ({"n_states": -1}, r"n_states must be an integer in \[1, 10000000\]"),
        ({"n_states": 10**8}, r"n_states must be an integer in \[1, 10000000\], got 100000000"),
        ({"n_states": 10**6, "n_good": 20}, r"n_states \* n_good must be <= 1e\+07"),
        ({"n_actions": 2, "n_good": 3}, r"n_good must be an integer in \[1, 2\], got 3"),
        ({"reward_std": float("nan")}, r"reward_std must be a finite number in \[0, 1e\+09\]"),
        (
            {"good_reward": float("nan")},
            r"good_reward must be a finite number in \[-1e\+09, 1e\+09\]",
        ),
        ({"bad_reward": float("inf")}, r"bad_reward must be a finite number"),
        ({"bad_reward": "0"}, r"bad_reward must be a finite number"),
        ({"mdp_seed": -3}, r"mdp_seed must be an integer in \[0, inf\], got -3"),
        ({"render_mode": "human"}, r"render_mode must be None, 'ansi' or 'rgb_array', got 'human'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LargeActionMDPEnv(**kwargs)


def test_largest_action_space_constructs_and_steps():
    env = LargeActionMDPEnv(n_states=3, n_actions=2**62)
    env.reset(seed=0)
    obs, reward, *_ = env.step(int(env.good_actions[env._state, 0]))
    assert env.action_space.n == 2**62 and np.isfinite(reward)
    assert np.all(np.isfinite(env.optimal_values(0.9)))


def test_many_states_use_iterative_policy_evaluation():
    env = LargeActionMDPEnv(n_states=5_000, n_actions=64, reward_std=0.0)
    best = env.optimal_actions(0.9)
    np.testing.assert_allclose(env.policy_values(best, 0.9), env.optimal_values(0.9), atol=1e-8)
    assert env.optimality_gap(np.zeros(5_000, dtype=np.int64), 0.9) > 0.1
    with pytest.raises(ValueError, match=r"gamma must be a finite number in \[0, 1\)"):
        env.optimal_values(1.0)


def test_reset_options():
    env = LargeActionMDPEnv(n_states=4, n_actions=8)
    assert env.reset(seed=0, options={"state": 3})[0] == 3
    for bad in (2.7, -1, 4, "1"):
        with pytest.raises(
            ValueError, match=r"reset option 'state' must be an integer in \[0, 3\]"
        ):
            env.reset(options={"state": bad})
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['event_index'\]"):
        env.reset(options={"event_index": 1})


@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_render_modes(mode):
    env = gym.make("rlcore/LargeActionMDP-v0", n_states=4, n_actions=16, render_mode=mode)
    env.reset(seed=0)
    env.step(0)
    frame = env.render()
    if mode == "ansi":
        assert frame.startswith("state ") and "after action 0" in frame
    else:
        assert frame.shape == (64, 256, 3) and frame.dtype == np.uint8
    assert mode in env.metadata["render_modes"]
    check_env(env.unwrapped)


@pytest.mark.parametrize("action", [10, -1, 1.5, 2.0, True, "3", np.array([1, 2]), None])
def test_bad_action_raises_naming_it(action):
    """Out of range, non-integer (never truncated to another action) or several values."""
    env = LargeActionMDPEnv(n_actions=10)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 10\), got "):
        env.step(action)


@pytest.mark.parametrize("action", [3, np.int64(3), np.array(3), np.array([3])])
def test_integer_actions_of_every_kind_step(action):
    env = LargeActionMDPEnv(n_actions=10)
    env.reset(seed=0)
    env.step(action)
    assert env._last[0] == 3


def test_exact_value_queries_validate_their_input():
    env = LargeActionMDPEnv(n_states=3, n_actions=8)
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 8\)"):
        env.optimal_q(np.array([0]), np.array([8]))
    with pytest.raises(ValueError, match="1-D arrays of one shape"):
        env.optimal_q(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match=r"policy must be an integer array of shape \(3,\)"):
        env.policy_values(np.zeros(3))
