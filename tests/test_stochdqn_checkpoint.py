"""StochDQN / StochDDQN checkpoints: safe format, exact round trip, identical continuation,
clear refusals (other algorithms, newer versions, tampered or pickled entries)."""

import io
import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from rlcore.stochdqn import StochDDQN, StochDQN
from rlcore.stochdqn.checkpoint import META_ENTRY, CheckpointError

ALGOS = [StochDQN, StochDDQN]
FAST = dict(learning_starts=100, batch_size=32, buffer_size=2000, target_update_interval=100)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def reach(n=400, dim=2, seed=None):
    env = gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)
    if seed is not None:
        env.reset(seed=seed)
    return env


def trained(algo, policy="MlpPolicy", steps=300, **kwargs):
    model = algo(policy, reach(), seed=4, **{**FAST, **kwargs})
    model.learn(steps)
    return model


def rewrite(path, edit_meta=None, extra=None, drop=()):
    """Copy the checkpoint at ``path`` with its rlcore.json edited / entries added or dropped."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist() if n not in drop}
    if edit_meta is not None:
        meta = json.loads(entries[META_ENTRY])
        edit_meta(meta)
        entries[META_ENTRY] = json.dumps(meta).encode()
    entries.update(extra or {})
    out = path.with_name("edited.zip")
    with zipfile.ZipFile(out, "w") as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)
    return out


def state(model):
    return {
        "params": [p.detach().clone() for p in model.policy.parameters()],
        "rng": model._rng.bit_generator.state,
        "predict_rng": model._predict_rng.bit_generator.state,
        "recent": model._recent.get(),
    }


@pytest.mark.parametrize("algo, policy", [(StochDQN, "MlpPolicy"), (StochDDQN, "ActionHeadPolicy")])
def test_round_trip_is_exact_and_training_continues_identically(tmp_path, algo, policy):
    kwargs = dict(tau=0.5, policy_kwargs={"net_arch": [32, 16], "activation_fn": th.nn.Tanh})
    model = trained(algo, policy, steps=200, **kwargs)
    model.save(tmp_path / "model")  # ".zip" appended, as SB3
    model.save_replay_buffer(tmp_path / "buffer.zip")
    with zipfile.ZipFile(tmp_path / "model.zip") as zf:  # data only: nothing pickled
        meta = json.loads(zf.read(META_ENTRY))
        assert "__pickled__" not in json.dumps(meta) and meta["algorithm"] == algo.__name__
        assert all(n == META_ENTRY or n.endswith(".npy") for n in zf.namelist())
    before = state(model)
    loaded = algo.load(tmp_path / "model", env=reach())
    loaded.load_replay_buffer(tmp_path / "buffer.zip")  # acting draws replay actions from it
    after = state(loaded)
    assert all(th.equal(p, q) for p, q in zip(before["params"], after["params"], strict=True))
    assert before["rng"] == after["rng"] and before["predict_rng"] == after["predict_rng"]
    np.testing.assert_array_equal(before["recent"], after["recent"])
    for name in ("tau", "maximizer", "learning_rate", "gamma", "train_freq", "num_timesteps"):
        assert getattr(loaded, name) == getattr(model, name), name
    assert loaded.policy_kwargs == model.policy_kwargs
    assert loaded.policy.activation_fn is th.nn.Tanh and loaded.policy.net_arch == [32, 16]
    opt_a, opt_b = model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict()
    for pid, s in opt_a["state"].items():
        assert s["step"] == opt_b["state"][pid]["step"]
        assert th.equal(s["exp_avg_sq"], opt_b["state"][pid]["exp_avg_sq"])
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 2)).astype(np.float32)
    np.testing.assert_array_equal(  # same parameters and generators: same predictions
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    np.testing.assert_array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    # training continues identically: same replay buffer, env and global seeds on both
    model.set_env(reach(), force_reset=True)
    for m in (model, loaded):
        m.get_env().seed(11)
        np.random.seed(12)  # SB3's replay buffer samples with numpy's global generator
        th.manual_seed(13)
        m.learn(60, reset_num_timesteps=False)
    assert model.num_timesteps == loaded.num_timesteps == 260
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert th.equal(p, q)
    assert model._rng.bit_generator.state == loaded._rng.bit_generator.state


def test_replay_buffer_round_trip_is_data_only(tmp_path):
    model = trained(StochDQN, steps=150)
    model.save_replay_buffer(tmp_path / "buffer")
    other = StochDQN("MlpPolicy", reach(), seed=0, **FAST)
    other.load_replay_buffer(tmp_path / "buffer.zip")
    a, b = model.replay_buffer, other.replay_buffer
    assert (a.pos, a.full) == (b.pos, b.full)
    for name in ("observations", "next_observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    wrong = StochDQN("MlpPolicy", reach(n=100), seed=0, **FAST)
    with pytest.raises(ValueError, match=r"buffer.zip: the buffer's action space"):
        wrong.load_replay_buffer(tmp_path / "buffer.zip")


def test_streams_and_paths(tmp_path):
    model = trained(StochDDQN, steps=120)
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = StochDDQN.load(buf)
    assert buf.tell() == 0  # the caller's stream is rewound
    obs = np.zeros((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(obs, True)[0], loaded.predict(obs, True)[0])
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*missing"):
        StochDQN.load(tmp_path / "missing")
    (tmp_path / "folder.zip").mkdir()
    with pytest.raises(CheckpointError, match=r"folder.zip: not a file"):
        StochDQN.load(tmp_path / "folder.zip")
    model.save(tmp_path / "ddqn.zip")
    with pytest.raises(ValueError, match=r"ddqn.zip: the env does not match.*Action spaces"):
        StochDDQN.load(tmp_path / "ddqn.zip", env=reach(n=100))


def test_other_algorithms_and_future_versions_are_refused(tmp_path):
    from stable_baselines3 import DQN

    trained(StochDDQN, steps=10).save(tmp_path / "ddqn.zip")
    DQN("MlpPolicy", reach(), learning_starts=10).save(tmp_path / "dqn.zip")
    for allow in (False, True):
        with pytest.raises(CheckpointError, match=r"ddqn.zip: a StochDDQN checkpoint, cannot"):
            StochDQN.load(tmp_path / "ddqn.zip", allow_pickle=allow)
        with pytest.raises(CheckpointError, match=r"dqn.zip: not an rlcore StochDQN / StochDDQN"):
            StochDQN.load(tmp_path / "dqn.zip", allow_pickle=allow)
    future = rewrite(tmp_path / "ddqn.zip", lambda m: m.update(version=2))
    with pytest.raises(CheckpointError, match=r"edited.zip: format version 2 is newer than"):
        StochDDQN.load(future)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(version="1"), r"invalid format version '1'"),
        (lambda m: m.pop("data"), r"has no valid 'data' entry"),
        (lambda m: m["data"].update(maximizer="bogus"), r"invalid saved.*maximizer must be one"),
        (lambda m: m["data"].update(tau=0.0), r"invalid saved.*tau must be a number in \(0"),
        (lambda m: m["data"].update(policy_class={"__class__": "os:system"}), r"'os:system'"),
        (lambda m: m["data"].update(gamma={"__array__": "arrays/999.npy"}), r"arrays/999.npy"),
        (lambda m: m["data"].update(_rng={"__generator__": "Evil", "state": {}}), r"'Evil'"),
        (lambda m: m["data"].pop("action_space"), r"no 'action_space' entry"),
    ],
)
def test_tampered_metadata_gives_clear_errors_naming_the_file(tmp_path, edit, message):
    trained(StochDQN, steps=10).save(tmp_path / "m.zip")
    with pytest.raises(CheckpointError, match=r"edited.zip: .*" + message):
        StochDQN.load(rewrite(tmp_path / "m.zip", edit))


def test_bad_entries_are_refused(tmp_path):
    trained(StochDQN, steps=10).save(tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        first = next(n for n in zf.namelist() if n.endswith(".npy"))
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match=r"is not a plain numeric array"):
        StochDQN.load(rewrite(tmp_path / "m.zip", extra={first: buf.getvalue()}))
    with pytest.raises(CheckpointError, match=r"unexpected entries \['payload.pkl'\]"):
        StochDQN.load(rewrite(tmp_path / "m.zip", extra={"payload.pkl": b"x"}))
    with pytest.raises(CheckpointError, match=r"rlcore.json is not valid JSON"):
        StochDQN.load(rewrite(tmp_path / "m.zip", extra={META_ENTRY: b"{not json"}))
    with pytest.raises(CheckpointError, match=r"refers to the array entry"):
        StochDQN.load(rewrite(tmp_path / "m.zip", drop=[first]))


def test_pickled_entries_need_an_explicit_opt_in(tmp_path):
    model = StochDQN("MlpPolicy", reach(), seed=0, learning_rate=lambda p: 1e-3 * p, **FAST)
    model.learn(120)
    with pytest.warns(UserWarning, match=r"data\['learning_rate'\] could only be saved pickled"):
        model.save(tmp_path / "m.zip")
    with pytest.raises(CheckpointError, match=r"m.zip: data\['learning_rate'\]: holds a pickled"):
        StochDQN.load(tmp_path / "m.zip")
    replaced = StochDQN.load(tmp_path / "m.zip", custom_objects={"learning_rate": 5e-4})
    assert replaced.lr_schedule(1.0) == 5e-4
    trusted = StochDQN.load(tmp_path / "m.zip", allow_pickle=True)
    assert trusted.lr_schedule(0.5) == pytest.approx(5e-4)


def test_old_sb3_format_checkpoints_load_only_when_trusted(tmp_path):
    model = trained(StochDQN, steps=120)
    OffPolicyAlgorithm.save(model, tmp_path / "old.zip")  # the pickle-based format of rlcore 0.1
    with pytest.raises(CheckpointError, match=r"old.zip: a StochDQN checkpoint in the old SB3"):
        StochDQN.load(tmp_path / "old.zip")
    with pytest.raises(CheckpointError, match=r"old.zip: a StochDQN checkpoint, cannot load it"):
        StochDDQN.load(tmp_path / "old.zip", allow_pickle=True)
    old = StochDQN.load(tmp_path / "old.zip", allow_pickle=True)
    for p, q in zip(model.policy.parameters(), old.policy.parameters(), strict=True):
        assert th.equal(p, q)


def test_learn_refuses_non_positive_budgets_and_constructor_checks_ranges():
    model = StochDQN("MlpPolicy", reach(), seed=0, **FAST)
    for bad in (0, -1, 2.5):
        with pytest.raises(
            ValueError, match=rf"total_timesteps must be an integer >= 1, got {bad}"
        ):
            model.learn(bad)
    for name, value in [("tau", 0.0), ("tau", 1.5), ("gamma", -0.1), ("batch_size", 0)]:
        with pytest.raises(ValueError, match=rf"{name} must be"):
            StochDQN("MlpPolicy", reach(), **{**FAST, name: value})


def test_bad_deep_checkpoint_is_the_package_wide_checkpoint_error(tmp_path):
    """One ``except rlcore.common.serialization.CheckpointError`` catches a bad checkpoint of
    every rlcore agent, deep ones included."""
    from rlcore.common.serialization import CheckpointError as AnyCheckpointError

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(AnyCheckpointError, match="junk.zip"):
        StochDQN.load(junk)
