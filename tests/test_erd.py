"""ERD agent: learning on an easy synthetic set, predict/decide agreement, save/load,
determinism, metrics and baselines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rlcore.envs.rumour.env import RumourStreamEnv
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.logger import configure

from rlcore.common.serialization import CheckpointError, load_checkpoint, save_checkpoint
from rlcore.erd import (
    ERD,
    Decision,
    accuracy_by_deadline,
    compute_metrics,
    format_table,
    rdm_outputs,
)
from rlcore.erd.baselines import (
    checkpoint_decisions,
    majority_decisions,
    sb3_decisions,
    threshold_decisions,
    train_sb3_baseline,
)
from rlcore.erd.metrics import flip_rate

EASY = dict(synthetic_kwargs=dict(n_events=500, seed=0, difficulty="easy"))
FAST = dict(rdm_pretrain_epochs=4, n_rounds=2, learning_starts=200, seed=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: faster on a shared 2-core machine (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def envs_easy() -> tuple[RumourStreamEnv, RumourStreamEnv]:
    return RumourStreamEnv(**EASY), RumourStreamEnv(**EASY, split="test")


@pytest.fixture(scope="module")
def trained(envs_easy: tuple[RumourStreamEnv, RumourStreamEnv]) -> ERD:
    return ERD(envs_easy[0], **FAST).learn(4000)


def test_erd_learns_easy_set_early_and_accurately(trained: ERD, envs_easy) -> None:
    m = compute_metrics(trained.decide(envs_easy[1].streams))
    assert m["accuracy"] >= 0.95 and m["early_rate"] < 0.5, m
    assert [log["phase"] for log in trained.logs].count("round") == 2
    assert trained.num_timesteps >= 4000


def test_predict_carries_gru_state_like_decide(trained: ERD, envs_easy) -> None:
    env = envs_easy[1]
    decisions = trained.decide(env.streams)
    for i in range(12):
        obs, _ = env.reset(options={"event_index": i})
        state, start, done = None, np.array([True]), False
        while not done:
            action, state = trained.predict(obs[None], state=state, episode_start=start)
            start = np.array([False])
            obs, reward, done, _, info = env.step(int(action[0]))
        d = decisions[i]
        assert info["chunks_read"] == d.chunk + 1 and info["answer"] == d.answer
    single, h = trained.predict(obs)
    assert single.shape == () and h.shape == (1, trained.hidden_size)
    with pytest.raises(ValueError, match="observation of width 5"):
        trained.predict(np.zeros(5, dtype=np.int64))


def test_save_load_round_trip_gives_identical_decisions(
    trained: ERD, envs_easy, tmp_path: Path
) -> None:
    path = trained.save(tmp_path / "erd")
    assert path.suffix == ".npz"
    loaded = ERD.load(path, env=envs_easy[0])
    streams = envs_easy[1].streams
    assert loaded.decide(streams) == trained.decide(streams)
    obs = np.stack([envs_easy[1].observation(s, 0) for s in streams[:8]])
    a1, h1 = trained.predict(obs)
    a2, h2 = loaded.predict(obs)
    assert np.array_equal(a1, a2) and np.array_equal(h1, h2)
    assert (
        loaded.vocab_words == trained.vocab_words and loaded.num_timesteps == trained.num_timesteps
    )
    loaded.learn(200)  # a loaded model keeps training
    other = save_checkpoint(tmp_path / "dqn", "StochDQN", {}, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match="'StochDQN' checkpoint, not 'ERD'"):
        ERD.load(other)
    small_vocab_env = RumourStreamEnv(synthetic_kwargs=dict(n_events=50, seed=9, difficulty="easy"))
    with pytest.raises(ValueError, match="vocabulary differs"):
        ERD.load(path, env=small_vocab_env)


def test_tampered_checkpoints_are_refused_naming_the_file(trained: ERD, tmp_path: Path) -> None:
    """Issue 12: int8 weights, a missing vocabulary or a missing network entry are refused with
    a CheckpointError naming the file, never loaded silently or as a bare KeyError."""
    params, arrays = load_checkpoint(trained.save(tmp_path / "good"), algorithm="ERD")
    name = next(k for k in arrays if k.startswith("rdm."))
    cases = {
        "int8": (params, {**arrays, name: arrays[name].astype(np.int8)}, "dtype int8"),
        "novocab": ({k: v for k, v in params.items() if k != "vocab"}, arrays, "'vocab'"),
        "nonet": (params, {k: v for k, v in arrays.items() if k != name}, "does not match"),
    }
    for label, (p, a, message) in cases.items():
        bad = save_checkpoint(tmp_path / label, "ERD", p, a)
        with pytest.raises(CheckpointError, match=message) as info:
            ERD.load(bad)
        assert str(bad) in str(info.value)


def test_same_seed_same_model(envs_easy) -> None:
    kwargs = dict(rdm_pretrain_epochs=1, n_rounds=2, learning_starts=50, seed=3)
    a = ERD(envs_easy[0], **kwargs).learn(300)
    b = ERD(envs_easy[0], **kwargs).learn(300)
    for na, nb in ((a.rdm, b.rdm), (a.cm, b.cm)):
        for (ka, va), (_, vb) in zip(na.state_dict().items(), nb.state_dict().items(), strict=True):
            assert torch.equal(va, vb), ka
    c = ERD(envs_easy[0], **{**kwargs, "seed": 4}).learn(300)
    assert not torch.equal(a.cm.net[0].weight, c.cm.net[0].weight)


def test_erd_rejects_bad_configuration(envs_easy) -> None:
    with pytest.raises(TypeError, match="obs_mode='tokens'"):
        ERD(RumourStreamEnv(**EASY, obs_mode="tfidf"))
    with pytest.raises(ValueError, match="cm_input 'hidden'"):
        ERD(envs_easy[0], cm_input="hidden")
    other = RumourStreamEnv(synthetic_kwargs=dict(n_events=50, seed=9, difficulty="easy"))
    with pytest.raises(ValueError, match="same vocabulary"):
        ERD(envs_easy[0], cm_env=other)
    with pytest.raises(ValueError, match="total_timesteps=0"):
        ERD(envs_easy[0]).learn(0)


def test_cm_on_held_out_events_and_paper_cm_input(envs_easy) -> None:
    val = RumourStreamEnv(**EASY, split="val")
    model = ERD(envs_easy[0], cm_env=val, cm_input="state", **{**FAST, "n_rounds": 1})
    model.learn(2000)
    log = [entry for entry in model.logs if entry["phase"] == "round"][-1]
    assert log["cm_accuracy"] >= 0.9 and "train_accuracy" in log
    assert model.cm.net[0].in_features == model.hidden_size  # the paper's CM input


def test_metrics_on_hand_made_decisions() -> None:
    decisions = [
        Decision(1, 1, 0, 2, 10, 3600.0, (1, 1, 0, 1)),  # correct, ER .2, 2 flips of 3
        Decision(0, 1, 1, 5, 10, 7200.0, (1,)),  # wrong, ER .5
        Decision(1, None, 4, 10, 10, 36000.0, ()),  # never answered: wrong
        Decision(0, 0, 0, 1, 4, 60.0, (0, 0)),  # correct, ER .25
    ]
    m = compute_metrics(decisions)
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["early_rate"] == pytest.approx((0.2 + 0.5 + 1.0 + 0.25) / 4)
    assert m["flip_rate"] == pytest.approx((2 / 3) / 4)
    assert m["sea"] == pytest.approx((0.5 + (1 - m["early_rate"]) + (1 - m["flip_rate"])) / 3)
    assert m["hours_to_answer"] == pytest.approx((1 + 2 + 10 + 1 / 60) / 4)
    assert flip_rate([0]) == 0.0 and flip_rate([0, 1, 0]) == 1.0
    assert np.allclose(accuracy_by_deadline(decisions, [0, 60, 3600, 1e9]), [0, 0.25, 0.5, 0.5])
    assert "accuracy" in format_table({"x": m})
    with pytest.raises(ValueError, match="at least one decision"):
        compute_metrics([])


def test_baselines_on_the_same_streams(trained: ERD, envs_easy) -> None:
    streams = envs_easy[1].streams
    full = checkpoint_decisions(trained.rdm, streams, None)
    first = checkpoint_decisions(trained.rdm, streams, 1)
    assert all(
        d.chunk == s.n_chunks - 1 and d.posts_read == s.n_streamed and d.n_posts == s.n_posts
        for d, s in zip(full, streams, strict=True)
    )
    assert all(d.chunk == 0 for d in first)
    # the early rate counts the whole thread: the full stream stops at the 48 h limit
    whole = np.mean([s.n_streamed / len(s.event.posts) for s in streams])
    assert compute_metrics(full)["early_rate"] == pytest.approx(whole)
    assert compute_metrics(first)["early_rate"] < 0.5
    with pytest.raises(ValueError, match="checkpoint=0"):
        checkpoint_decisions(trained.rdm, streams, 0)
    vec_train = RumourStreamEnv(**EASY, obs_mode="tfidf", cumulative=True)
    vec_test = RumourStreamEnv(**EASY, obs_mode="tfidf", cumulative=True, split="test")
    model = train_sb3_baseline(vec_train, "PPO", total_timesteps=256, n_steps=128, batch_size=64)
    decisions = sb3_decisions(model, vec_test)
    assert len(decisions) == len(streams)
    # the batched evaluation equals stepping the environment
    for i in range(5):
        obs, _ = vec_test.reset(options={"event_index": i})
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, done, _, info = vec_test.step(action)
        assert (
            info["chunks_read"] == decisions[i].chunk + 1 and info["answer"] == decisions[i].answer
        )
    with pytest.raises(TypeError, match="obs_mode 'bow' or 'tfidf'"):
        train_sb3_baseline(envs_easy[0])


class _Recorder(BaseCallback):
    """Counts the hooks ERD calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {"start": 0, "step": 0, "phase": 0, "end": 0}
        self.phases: list[str] = []

    def _on_training_start(self) -> None:
        self.calls["start"] += 1

    def _on_step(self) -> bool:
        self.calls["step"] += 1
        return True

    def _on_rollout_end(self) -> None:
        self.calls["phase"] += 1
        self.phases.append(self.locals["phase"])

    def _on_training_end(self) -> None:
        self.calls["end"] += 1


def test_erd_logs_to_an_sb3_logger_and_calls_sb3_callbacks(tmp_path: Path) -> None:
    env = RumourStreamEnv(synthetic_kwargs=dict(n_events=80, seed=0, difficulty="easy"))
    small = dict(embedding_dim=8, hidden_size=8, cm_hidden=8, rdm_pretrain_epochs=2, seed=0)
    model = ERD(env, cm_input="probs+delta", learning_starts=20, **small)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    recorder = _Recorder()
    evaluation = EvalCallback(
        RumourStreamEnv(
            synthetic_kwargs=dict(n_events=80, seed=0, difficulty="easy"), split="test"
        ),
        n_eval_episodes=3,
        eval_freq=20,
        warn=False,
        verbose=0,
    )
    model.learn(300, callback=[recorder, evaluation], progress_bar=True)
    assert recorder.calls["start"] == recorder.calls["end"] == 1
    assert recorder.calls["step"] >= 10 and model.num_timesteps >= 300
    assert recorder.phases == ["rdm_pretrain"] * 2 + ["round", "rdm_truncated", "round"]
    assert evaluation.n_calls == recorder.calls["step"] and evaluation.last_mean_reward > -np.inf
    assert model.progress[0] == model.progress[1]  # the bar covered pre-training and CM steps
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"rdm_pretrain/loss", "cm/behaviour_return", "round/train_accuracy"} <= set(header)

    def stop_after_first_round(log: dict) -> bool:
        return False

    stopped = ERD(env, learning_starts=20, **small).learn(300, callback=stop_after_first_round)
    assert [e["phase"] for e in stopped.logs].count("round") == 1


def test_probs_delta_predict_matches_decide_and_threshold_baselines() -> None:
    env = RumourStreamEnv(synthetic_kwargs=dict(n_events=120, seed=0, difficulty="easy"))
    test = RumourStreamEnv(
        synthetic_kwargs=dict(n_events=120, seed=0, difficulty="easy"), split="test"
    )
    model = ERD(env, cm_input="probs+delta", embedding_dim=8, hidden_size=8, seed=0,
                rdm_pretrain_epochs=2, learning_starts=20).learn(400)  # fmt: skip
    decisions = model.decide(test.streams)
    for i in range(8):
        obs, _ = test.reset(options={"event_index": i})
        state, start, done = None, np.array([True]), False
        while not done:
            action, state = model.predict(obs[None], state=state, episode_start=start)
            start = np.array([False])
            obs, _, done, _, info = test.step(int(action[0]))
        assert (
            info["chunks_read"] == decisions[i].chunk + 1 and info["answer"] == decisions[i].answer
        )
    probs = [p for p, _ in rdm_outputs(model.rdm, test.streams)]
    never = threshold_decisions(None, test.streams, 1.0, probs=[np.minimum(p, 0.99) for p in probs])
    assert never == checkpoint_decisions(model.rdm, test.streams, None)
    first = threshold_decisions(model.rdm, test.streams, 0.5)
    assert first == checkpoint_decisions(None, test.streams, 1, probs=probs)
    majority = majority_decisions(test.streams, 1)
    assert all(d.answer == 1 and d.chunk == 0 for d in majority)
    assert compute_metrics(majority)["flip_rate"] == 0.0
    with pytest.raises(ValueError, match="threshold=0.2"):
        threshold_decisions(model.rdm, test.streams, 0.2)
