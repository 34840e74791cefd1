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
        ({"n_actions": 0}, "n_actions must be an integer >= 1, got 0"),
        ({"n_states": -1}, "n_states must be an integer >= 1"),
        ({"n_actions": 2, "n_good": 3}, "n_good must be <= n_actions=2"),
        ({"reward_std": float("nan")}, "reward_std must be a finite number"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LargeActionMDPEnv(**kwargs)


def test_out_of_range_action_raises():
    env = LargeActionMDPEnv(n_actions=10)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in \[0, 10\), got 10"):
        env.step(10)
