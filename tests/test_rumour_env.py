"""rlcore/RumourStream-v0: spaces, rewards, info, data sources, check_env."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from gymnasium.utils.env_checker import check_env
from rlcore.envs.rumour import save_jsonl, synthetic
from rlcore.envs.rumour.env import RumourStreamEnv
from stable_baselines3.common.env_checker import check_env as sb3_check_env

SMALL = dict(synthetic_kwargs=dict(n_events=120, seed=0, difficulty="easy"))


@pytest.mark.parametrize(
    "kwargs",
    [dict(obs_mode="tokens"), dict(obs_mode="tfidf"), dict(obs_mode="bow", cumulative=True)],
)
def test_check_env_passes_for_every_observation_mode(kwargs: dict) -> None:
    env = gym.make("rlcore/RumourStream-v0", **SMALL, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)


def test_default_make_streams_the_synthetic_training_split() -> None:
    env = gym.make("rlcore/RumourStream-v0")
    base = env.unwrapped
    assert isinstance(base, RumourStreamEnv) and base.split == "train"
    assert 1200 < len(base.streams) < 1500  # ~67.5 % of 2,000 synthetic events
    obs, info = env.reset(seed=0)
    assert obs.shape == (base.max_chunk_tokens + 1,) == (61,) and obs.dtype == np.int64
    assert env.action_space == gym.spaces.Discrete(3) and info["chunk"] == 0
    test = gym.make("rlcore/RumourStream-v0", split="test")
    assert test.unwrapped.vocab == base.vocab  # built on the training part in both
    assert not {s.event.id for s in test.unwrapped.streams} & {s.event.id for s in base.streams}


def test_rewards_info_and_forced_stop() -> None:
    env = RumourStreamEnv(**SMALL, read_reward=-0.1, correct_reward=2.0, wrong_reward=-7.0)
    s = env.streams[0]
    assert s.n_chunks >= 2
    obs, _ = env.reset(options={"event_index": 0})
    assert np.array_equal(obs[:-1], s.tokens[0]) and obs[-1] == 0
    obs, r, term, trunc, info = env.step(0)
    assert (r, term, trunc, info["chunk"]) == (-0.1, False, False, 1)
    _, r, term, _, info = env.step(1 + s.label)
    assert term and r == 2.0 and info["correct"] and info["answer"] == s.label
    assert info["posts_read"] == s.posts_read[1] and info["chunks_read"] == 2
    assert info["early_rate"] == pytest.approx(s.posts_read[1] / s.n_posts)
    assert info["elapsed_seconds"] == pytest.approx(s.elapsed[1]) and s.elapsed[1] >= s.elapsed[0]
    env.reset(options={"event_index": 0})
    _, r, *_ = env.step(2 - s.label)
    assert r == -7.0
    # reading on at the last chunk is a forced stop that counts as wrong
    obs, info = env.reset(options={"event_index": 0})
    for _ in range(s.n_chunks - 1):
        obs, *_ = env.step(0)
    assert obs[-1] == 1
    _, r, term, _, info = env.step(0)
    assert term and info["forced"] and info["answer"] is None and r == -7.0
    # the early rate counts the whole thread, also the posts past the 48 h limit
    assert info["early_rate"] == pytest.approx(s.n_streamed / len(s.event.posts))
    assert s.n_posts == len(s.event.posts) and s.n_streamed < s.n_posts  # this event runs > 48 h
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_bad_arguments_raise_clear_errors() -> None:
    env = RumourStreamEnv(**SMALL)
    env.reset(seed=1)
    with pytest.raises(ValueError, match="action 3"):
        env.step(3)
    with pytest.raises(ValueError, match="event_index.*got 10000"):
        env.reset(options={"event_index": 10000})
    # Issue 12: a fractional index, a float action or an unknown option is refused, never rounded.
    with pytest.raises(ValueError, match="event_index.*got 2.7"):
        env.reset(options={"event_index": 2.7})
    with pytest.raises(ValueError, match="only option is 'event_index'"):
        env.reset(options={"evnt_index": 1})
    env.reset(options={"event_index": np.int64(1)})
    with pytest.raises(ValueError, match="action 1.5"):
        env.step(1.5)
    with pytest.raises(ValueError, match="time_limit_hours.*got -1"):
        RumourStreamEnv(**SMALL, time_limit_hours=-1)
    with pytest.raises(ValueError, match="posts_per_chunk.*got 0"):
        RumourStreamEnv(**SMALL, posts_per_chunk=0)
    with pytest.raises(ValueError, match="obs_mode 'pixels'"):
        RumourStreamEnv(**SMALL, obs_mode="pixels")
    with pytest.raises(ValueError, match="wrong_reward=nan"):
        RumourStreamEnv(**SMALL, wrong_reward=float("nan"))
    with pytest.raises(TypeError, match="list of rlcore.envs.rumour.Event"):
        RumourStreamEnv(dataset=[1, 2, 3])


def test_dataset_from_list_and_path_and_time_chunks(tmp_path: Path) -> None:
    events = synthetic(60, seed=5, difficulty="easy")
    path = save_jsonl(events, tmp_path / "ev.jsonl")
    a = RumourStreamEnv(events, split="all")
    b = gym.make("rlcore/RumourStream-v0", dataset=str(path), split="all").unwrapped
    assert [s.event.id for s in a.streams] == [s.event.id for s in b.streams]
    assert all(
        np.array_equal(x.tokens, y.tokens) for x, y in zip(a.streams, b.streams, strict=True)
    )
    timed = RumourStreamEnv(events, split="all", chunking="time", interval_hours=1.0)
    for s in timed.streams:
        assert s.posts_read[-1] == s.n_streamed <= s.n_posts and np.all(np.diff(s.posts_read) > 0)
        assert s.tokens.shape[1] == 128


def test_time_limit_and_vector_observations() -> None:
    env = RumourStreamEnv(**SMALL, obs_mode="bow", time_limit_hours=1.0)
    for s in env.streams:
        assert s.elapsed[-1] <= 3600.0
    chunk = RumourStreamEnv(**SMALL, obs_mode="tfidf")
    cum = RumourStreamEnv(**SMALL, obs_mode="tfidf", cumulative=True)
    s = chunk.streams[0]
    v0, v1 = chunk.observation(s, 1), cum.observation(s, 1)
    assert v0.shape == (1024 + 2,) and np.linalg.norm(v0[:-2]) == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(v0, v1) and v1[-1] == pytest.approx(2 / 100)
    bow = env.observation(env.streams[0], 0)
    assert bow[:-2].sum() == pytest.approx(1.0, abs=1e-5)
    assert env.observation_space.contains(bow)


def test_make_vec_env_with_defaults_and_render_modes() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env("rlcore/RumourStream-v0", n_envs=2)  # SB3 asks for render_mode="rgb_array"
    obs = vec.reset()
    assert obs.shape == (2, 61)
    frames = vec.get_images()
    assert len(frames) == 2 and frames[0].shape == (24, 240, 3) and frames[0].dtype == np.uint8
    vec.close()
    env = gym.make("rlcore/RumourStream-v0", **SMALL, render_mode=None)
    env.reset(seed=0)
    assert env.render() is None
    ansi = RumourStreamEnv(**SMALL, render_mode="ansi")
    ansi.reset(seed=0)
    assert ansi.render().startswith("[syn-0-")
    with pytest.raises(ValueError, match="render_mode 'human'"):
        RumourStreamEnv(**SMALL, render_mode="human")


def test_split_by_group_in_the_env() -> None:
    events = [
        e.__class__(e.id, e.label, e.posts, group=f"g{i % 3}")
        for i, e in enumerate(synthetic(90, seed=1, difficulty="easy"))
    ]
    test = RumourStreamEnv(events, test_groups=["g0"], split="test")
    train = RumourStreamEnv(events, test_groups=["g0"], val_groups=["g1"])
    val = RumourStreamEnv(events, test_groups=["g0"], val_groups=["g1"], split="val")
    assert {s.event.group for s in test.streams} == {"g0"}
    assert {s.event.group for s in train.streams} == {"g2"}
    assert {s.event.group for s in val.streams} == {"g1"}
    with pytest.raises(ValueError, match="val_groups needs test_groups"):
        RumourStreamEnv(events, val_groups=["g1"])
    with pytest.raises(ValueError, match="split_ids or test_groups, not both"):
        RumourStreamEnv(events, test_groups=["g0"], split_ids={"test": []})
