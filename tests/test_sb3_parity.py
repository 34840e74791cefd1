"""Stable-Baselines3's own DQN test cases, adapted to StochDQN / StochDDQN.

Adapted from DLR-RM/stable-baselines3 tests/test_save_load.py, test_run.py, test_predict.py and
test_callbacks.py (the cases that exercise DQN), with small step counts. Deliberate
differences: rlcore's checkpoints are data, not pickles, so a pickled entry (a lambda learning
rate) needs ``custom_objects`` or ``allow_pickle=True`` where SB3 unpickles silently.
"""

import base64
import json
import os
import tempfile
import warnings
import zipfile
from copy import deepcopy

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import (
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv, SimpleMultiObsEnv
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import get_device
from stable_baselines3.common.vec_env import DummyVecEnv

from rlcore.stochdqn import StochDDQN, StochDQN
from rlcore.stochdqn.checkpoint import CheckpointError

ALGOS = [StochDQN, StochDDQN]
DEVICES = ["auto", "cpu"] + (["cuda"] if th.cuda.is_available() else [])


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def select_env():
    return IdentityEnv(10)


# --------------------------------------------------------------------------------------------
# test_save_load.py
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_class", ALGOS)
def test_save_load(tmp_path, model_class):
    env = DummyVecEnv([select_env])
    model = model_class("MlpPolicy", env, policy_kwargs=dict(net_arch=[16]), learning_starts=100)
    model.learn(total_timesteps=200)
    env.reset()
    observations = np.concatenate([env.step([env.action_space.sample()])[0] for _ in range(10)])
    original_params = deepcopy(model.get_parameters())
    invalid = deepcopy(original_params)
    invalid["I_should_not_be_a_valid_object"] = "and_I_am_an_invalid_tensor"
    for exact in (True, False):
        with pytest.raises(ValueError):
            model.set_parameters(invalid, exact_match=exact)
    with pytest.raises(ValueError):
        model.set_parameters(dict(list(original_params.items())[:-1]), exact_match=True)
    missing_tensor = {k: dict(list(v.items())[:-1]) for k, v in original_params.items()}
    with pytest.raises(RuntimeError):
        model.set_parameters(missing_tensor, exact_match=True)
    random_params = {
        name: params
        if "optim" in name
        else {k: th.rand_like(v) for k, v in list(params.items())[:-1]}
        for name, params in original_params.items()
    }
    model.set_parameters(random_params, exact_match=False)
    new_params = model.get_parameters()
    last_key = list(original_params["policy"])[-1]
    for k in original_params["policy"]:
        same = th.allclose(original_params["policy"][k], new_params["policy"][k])
        assert same == (k == last_key), k
    params = new_params
    # (SB3 predicts, then saves: rlcore's O(log n) deterministic predict draws its candidates
    # from a seeded generator that each call advances and save stores, so save first)
    model.save(tmp_path / "test_save.zip")
    selected_actions, _ = model.predict(observations, deterministic=True)
    del model
    for device in DEVICES:
        model = model_class.load(str(tmp_path / "test_save.zip"), env=env, device=device)
        assert model.device.type == get_device(device).type
        assert model.policy.device.type == get_device(device).type
        new_params = model.get_parameters()
        for key in params["policy"]:
            assert new_params["policy"][key].device.type == get_device(device).type
            assert th.allclose(params["policy"][key].cpu(), new_params["policy"][key].cpu())
        new_selected_actions, _ = model.predict(observations, deterministic=True)
        assert np.allclose(selected_actions, new_selected_actions, 1e-4)
        model.learn(total_timesteps=50)


@pytest.mark.parametrize("model_class", ALGOS)
def test_set_env(tmp_path, model_class):
    env = DummyVecEnv([select_env])
    env2 = DummyVecEnv([select_env])
    env3 = select_env()
    env4 = DummyVecEnv([select_env for _ in range(2)])
    kwargs = dict(learning_starts=50, train_freq=4)
    model = model_class("MlpPolicy", env, policy_kwargs=dict(net_arch=[16]), **kwargs)
    model.learn(total_timesteps=64)
    model.set_env(env2, force_reset=True)
    assert model._last_obs is None
    model.learn(total_timesteps=64, reset_num_timesteps=True)
    assert model.num_timesteps == 64
    model.set_env(env3)
    model.learn(total_timesteps=64)
    with pytest.raises(AssertionError):
        model.set_env(env4)
    model.set_env(model.get_env(), force_reset=False)
    assert model._last_obs is not None
    model.learn(total_timesteps=64, reset_num_timesteps=False)
    assert model.num_timesteps == 2 * 64
    current_env = model.get_env()
    model.save(tmp_path / "test_save.zip")
    del model
    model = model_class.load(tmp_path / "test_save.zip", env=current_env, force_reset=False)
    assert model._last_obs is not None
    model.learn(total_timesteps=64, reset_num_timesteps=False)
    assert model.num_timesteps == 3 * 64
    model = model_class.load(tmp_path / "test_save.zip", env=env3, force_reset=True)
    assert model._last_obs is None
    model.learn(total_timesteps=64, reset_num_timesteps=False)
    assert model.num_timesteps == 3 * 64
    model = model_class.load(tmp_path / "test_save.zip", env=env4)
    model.learn(total_timesteps=64)


@pytest.mark.parametrize("model_class", ALGOS)
def test_exclude_include_saved_params(tmp_path, model_class):
    env = DummyVecEnv([select_env])
    model = model_class("MlpPolicy", env, policy_kwargs=dict(net_arch=[16]), verbose=2)
    model.save(tmp_path / "test_save", exclude=["verbose"])
    model = model_class.load(str(tmp_path / "test_save.zip"))
    assert model.verbose != 2
    model.verbose = 2
    model.save(tmp_path / "test_save", exclude=["verbose"], include=["verbose"])
    custom_objects = dict(learning_rate=2e-5, dummy=1.0)
    model = model_class.load(
        str(tmp_path / "test_save.zip"), custom_objects=custom_objects, print_system_info=True
    )
    assert model.verbose == 2
    assert model.learning_rate == custom_objects["learning_rate"]
    assert not hasattr(model, "dummy")


@pytest.mark.parametrize("model_class", ALGOS)
def test_save_load_env_cnn(tmp_path, model_class):
    env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=2, discrete=True)
    kwargs = dict(policy_kwargs=dict(net_arch=[32]), buffer_size=100, learning_starts=50)
    model = model_class("CnnPolicy", env, train_freq=4, **kwargs).learn(100)
    model.save(tmp_path / "test_save")
    model_class.load(str(tmp_path / "test_save.zip"), env=env, **kwargs).learn(100)


@pytest.mark.parametrize("model_class", ALGOS)
def test_save_load_replay_buffer(tmp_path, model_class):
    path = tmp_path / "logs/replay_buffer.pkl"
    path.parent.mkdir(exist_ok=True, parents=True)
    model = model_class(
        "MlpPolicy", select_env(), buffer_size=1000, policy_kwargs=dict(net_arch=[64]),
        learning_starts=200,
    )  # fmt: skip
    model.learn(300)
    old_replay_buffer = deepcopy(model.replay_buffer)
    model.save_replay_buffer(path)
    model.replay_buffer = None
    for device in DEVICES:
        model.device = get_device(device)
        model.load_replay_buffer(path)
        assert model.replay_buffer.device.type == model.device.type
    for name in ("observations", "actions", "rewards", "dones", "timeouts"):
        assert np.allclose(getattr(old_replay_buffer, name), getattr(model.replay_buffer, name))
    infos = [[{"TimeLimit.truncated": truncated}] for truncated in old_replay_buffer.timeouts]
    model.replay_buffer.extend(
        old_replay_buffer.observations,
        old_replay_buffer.observations,
        old_replay_buffer.actions,
        old_replay_buffer.rewards,
        old_replay_buffer.dones,
        infos,
    )


@pytest.mark.parametrize("optimize_memory_usage", [False, True])
def test_warn_buffer(recwarn, optimize_memory_usage):
    warnings.filterwarnings(action="ignore", category=DeprecationWarning)
    model = StochDQN(
        "MlpPolicy",
        select_env(),
        buffer_size=100,
        optimize_memory_usage=optimize_memory_usage,
        replay_buffer_kwargs={"handle_timeout_termination": not optimize_memory_usage},
        policy_kwargs=dict(net_arch=[64]),
        learning_starts=10,
    )
    model.learn(60)
    model.learn(60, reset_num_timesteps=False)
    assert len(recwarn) == 0
    model.learn(60)
    if optimize_memory_usage:
        assert len(recwarn) == 1
        warning = recwarn.pop(UserWarning)
        assert "The last trajectory in the replay buffer will be truncated" in str(warning.message)
    else:
        assert len(recwarn) == 0


@pytest.mark.parametrize("policy_str", ["MlpPolicy", "CnnPolicy"])
def test_save_load_policy(tmp_path, policy_str):
    kwargs = dict(policy_kwargs=dict(net_arch=[16]))
    if policy_str == "MlpPolicy":
        env = select_env()
    else:
        kwargs = dict(buffer_size=250, learning_starts=100)
        kwargs["policy_kwargs"] = dict(features_extractor_kwargs=dict(features_dim=32))
        env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=2, discrete=True)
    env = DummyVecEnv([lambda: env])
    model = StochDQN(policy_str, env, **kwargs)
    model.learn(total_timesteps=150)
    env.reset()
    observations = np.concatenate([env.step([env.action_space.sample()])[0] for _ in range(10)])
    policy = model.policy
    policy_class = policy.__class__
    params = deepcopy(policy.state_dict())
    policy.load_state_dict({name: th.rand_like(p) for name, p in params.items()})
    new_params = policy.state_dict()
    for k in params:
        assert not th.allclose(params[k], new_params[k])
    params = new_params
    selected_actions, _ = policy.predict(observations, deterministic=True)
    policy.save(tmp_path / "policy.pkl")
    del policy
    policy = policy_class.load(tmp_path / "policy.pkl")
    for key, value in policy.state_dict().items():
        assert th.allclose(params[key], value)
    new_selected_actions, _ = policy.predict(observations, deterministic=True)
    assert np.allclose(selected_actions, new_selected_actions, 1e-4)


@pytest.mark.parametrize("policy_str", ["MlpPolicy", "CnnPolicy"])
def test_save_load_q_net(tmp_path, policy_str):
    kwargs = dict(policy_kwargs=dict(net_arch=[16]))
    if policy_str == "MlpPolicy":
        env = select_env()
    else:
        kwargs = dict(buffer_size=250, learning_starts=100)
        kwargs["policy_kwargs"] = dict(features_extractor_kwargs=dict(features_dim=32))
        env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=2, discrete=True)
    env = DummyVecEnv([lambda: env])
    model = StochDQN(policy_str, env, **kwargs)
    model.learn(total_timesteps=150)
    env.reset()
    observations = np.concatenate([env.step([env.action_space.sample()])[0] for _ in range(10)])
    q_net = model.q_net
    q_net_class = q_net.__class__
    params = deepcopy(q_net.state_dict())
    q_net.load_state_dict({name: th.rand_like(p) for name, p in params.items()})
    params = q_net.state_dict()
    selected_actions, _ = q_net.predict(observations, deterministic=True)
    values = q_net(q_net.obs_to_tensor(observations)[0])  # SB3's meaning: (batch, n) Q-values
    assert values.shape == (10, env.action_space.n)
    np.testing.assert_array_equal(values.argmax(1).numpy(), selected_actions)
    q_net.save(tmp_path / "q_net.pkl")  # SB3's th.save: a pickle
    with pytest.raises(ValueError, match=r"q_net.pkl: a Q-network saved with th.save"):
        q_net_class.load(tmp_path / "q_net.pkl")
    q_net = q_net_class.load(tmp_path / "q_net.pkl", allow_pickle=True)  # our own, trusted file
    for key, value in q_net.state_dict().items():
        assert th.allclose(params[key], value)
    new_selected_actions, _ = q_net.predict(observations, deterministic=True)
    assert np.allclose(selected_actions, new_selected_actions, 1e-4)


def test_load_invalid_object(tmp_path):
    path = str(tmp_path / "stochdqn.zip")
    with pytest.warns(UserWarning, match="pickled"):
        StochDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda _: 1.0).save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    meta = json.loads(entries["rlcore.json"])
    blob = base64.b64decode(meta["data"]["learning_rate"]["__pickled__"])
    corrupted = base64.b64encode(blob.replace(b"CodeType", b"CodeTyps")).decode()
    meta["data"]["learning_rate"]["__pickled__"] = corrupted
    entries["rlcore.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    with pytest.raises(CheckpointError, match=r"data\['learning_rate'\]: holds a pickled"):
        StochDQN.load(path)  # SB3 warns and unpickles what it can; rlcore unpickles nothing
    with warnings.catch_warnings(record=True) as record:
        StochDQN.load(path, custom_objects=dict(learning_rate=lambda _: 1.0))
    assert len(record) == 0


def test_dqn_target_update_interval(tmp_path):
    env = make_vec_env(env_id="CartPole-v1", n_envs=2)
    model = StochDQN("MlpPolicy", env, verbose=1, target_update_interval=100)
    model.save(tmp_path / "dqn_cartpole")
    model = StochDQN.load(tmp_path / "dqn_cartpole")
    assert model.target_update_interval == 100


@pytest.mark.filterwarnings("error")
def test_no_resource_warning(tmp_path):
    StochDQN("MlpPolicy", "CartPole-v1").save(tmp_path / "dqn_cartpole")
    StochDQN.load(tmp_path / "dqn_cartpole")
    StochDQN("MlpPolicy", "CartPole-v1").save(str(tmp_path / "dqn_cartpole"))
    StochDQN.load(str(tmp_path / "dqn_cartpole"))
    with tempfile.TemporaryFile() as fp:
        StochDQN("MlpPolicy", "CartPole-v1").save(fp)
        fp.seek(0)
        StochDQN.load(fp)
        assert not fp.closed
    model = StochDQN("MlpPolicy", "CartPole-v1", buffer_size=200)
    model.save_replay_buffer(tmp_path / "replay")
    model.load_replay_buffer(tmp_path / "replay")
    model.save_replay_buffer(str(tmp_path / "replay"))
    model.load_replay_buffer(str(tmp_path / "replay"))
    with tempfile.TemporaryFile() as fp:
        model.save_replay_buffer(fp)
        fp.seek(0)
        model.load_replay_buffer(fp)
        assert not fp.closed


def test_cast_lr_schedule(tmp_path):
    model = StochDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda t: t * np.sin(1.0))
    assert type(model.lr_schedule(1.0)) is float
    assert np.allclose(model.lr_schedule(0.5), 0.5 * np.sin(1.0))
    with pytest.warns(UserWarning, match="pickled"):
        model.save(tmp_path / "dqn.zip")
    model = StochDQN.load(tmp_path / "dqn.zip", allow_pickle=True)  # a lambda: trusted file
    assert type(model.lr_schedule(1.0)) is float
    assert np.allclose(model.lr_schedule(0.5), 0.5 * np.sin(1.0))


def test_save_load_net_arch_none(tmp_path):
    StochDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=None)).save(
        tmp_path / "dqn.zip"
    )
    model = StochDQN.load(tmp_path / "dqn.zip")
    assert model.policy.net_arch is not None


# --------------------------------------------------------------------------------------------
# test_run.py
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_class", ALGOS)
def test_dqn(model_class):
    model = model_class(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[64, 64]),
        learning_starts=100,
        buffer_size=500,
        learning_rate=3e-4,
        verbose=1,
    )
    model.learn(total_timesteps=200)


@pytest.mark.parametrize("train_freq", [4, (4, "step"), (1, "episode")])
def test_train_freq(tmp_path, train_freq):
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64]), learning_starts=100, buffer_size=10000)
    model = StochDQN("MlpPolicy", "CartPole-v1", train_freq=train_freq, **kwargs)
    model.learn(total_timesteps=150)
    model.save(tmp_path / "test_save.zip")
    env = model.get_env()
    model = StochDQN.load(tmp_path / "test_save.zip", env=env)
    model.learn(total_timesteps=150)
    model = StochDQN.load(tmp_path / "test_save.zip", train_freq=train_freq, env=env)
    model.learn(total_timesteps=150)


@pytest.mark.parametrize("train_freq", ["4", ("1", "episode"), "non_sense", (1, "close")])
def test_train_freq_fail(train_freq):
    with pytest.raises(ValueError):
        model = StochDQN("MlpPolicy", "CartPole-v1", learning_starts=100, train_freq=train_freq)
        model.learn(total_timesteps=250)


@pytest.mark.parametrize("model_class", ALGOS)
def test_offpolicy_multi_env(model_class):
    def make_env():
        return gym.wrappers.TimeLimit(gym.make("CartPole-v1"), 50)

    env = make_vec_env(make_env, n_envs=2)
    kwargs = dict(policy_kwargs=dict(net_arch=[64]), buffer_size=10000, verbose=0)
    model = model_class("MlpPolicy", env, learning_starts=100, train_freq=5, **kwargs)
    model.learn(total_timesteps=150)
    train_freq = 3
    model = model_class(
        "MlpPolicy", env, learning_starts=0, train_freq=train_freq, gradient_steps=-1, **kwargs
    )
    model.learn(total_timesteps=train_freq)
    assert model.logger.name_to_value["train/n_updates"] == train_freq * env.num_envs


def test_warn_dqn_multi_env():
    with pytest.warns(UserWarning, match=r"n_envs=2 > target_update_interval=1"):
        StochDQN(
            "MlpPolicy",
            make_vec_env("CartPole-v1", n_envs=2),
            buffer_size=100,
            target_update_interval=1,
        )


# --------------------------------------------------------------------------------------------
# test_predict.py
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_class", ALGOS)
def test_auto_wrap(model_class):
    model = model_class("MlpPolicy", gym.make("CartPole-v1"), learning_starts=50)
    model.learn(100)


@pytest.mark.parametrize("model_class", ALGOS)
@pytest.mark.parametrize("device", DEVICES)
def test_predict(model_class, device):
    env_id = "CartPole-v1"
    model = model_class("MlpPolicy", env_id, device=device)
    assert get_device(device).type == model.policy.device.type
    env = gym.make(env_id)
    vec_env = DummyVecEnv([lambda: gym.make(env_id), lambda: gym.make(env_id)])
    obs, _ = env.reset()
    action, _ = model.predict(obs)
    assert isinstance(action, np.ndarray)
    assert action.shape == env.action_space.shape
    assert env.action_space.contains(action)
    vec_env_obs = vec_env.reset()
    action, _ = model.predict(vec_env_obs)
    assert isinstance(action, np.ndarray)
    assert action.shape[0] == vec_env_obs.shape[0]
    model.exploration_rate = 1.0
    action, _ = model.predict(obs, deterministic=False)
    assert action.shape == env.action_space.shape
    assert env.action_space.contains(action)
    action, _ = model.predict(vec_env_obs, deterministic=False)
    assert action.shape[0] == vec_env_obs.shape[0]


@pytest.mark.parametrize("model_class", ALGOS)
def test_dqn_epsilon_greedy(model_class):
    env = IdentityEnv(2)
    model = model_class("MlpPolicy", env)
    model.exploration_rate = 1.0
    obs, _ = env.reset()
    action, _ = model.predict(obs, deterministic=False)  # a Discrete observation: no crash
    assert env.action_space.contains(action)


@pytest.mark.parametrize("model_class", ALGOS)
def test_multi_input_policy_dict_observations(model_class):
    """SB3's test_dict_env.py case for DQN: MultiInputPolicy on Dict observations."""
    env = SimpleMultiObsEnv(random_start=False)
    kwargs = dict(buffer_size=100, learning_starts=40, batch_size=8)
    model = model_class("MultiInputPolicy", env, **kwargs)
    model.learn(60)
    obs = model.get_env().reset()
    for deterministic in (True, False):
        action, _ = model.predict(obs, deterministic=deterministic)
        assert action.shape == (1,) and env.action_space.contains(int(action[0]))


# --------------------------------------------------------------------------------------------
# test_callbacks.py
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_class", ALGOS)
def test_callbacks(tmp_path, model_class):
    log_folder = tmp_path / "logs/callbacks/"
    model = model_class("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[32]))
    checkpoint_callback = CheckpointCallback(
        save_freq=100, save_path=log_folder, save_replay_buffer=True
    )
    eval_env = gym.make("CartPole-v1")
    callback_on_best = StopTrainingOnRewardThreshold(reward_threshold=-1200, verbose=1)
    callback_no_model_improvement = StopTrainingOnNoModelImprovement(
        max_no_improvement_evals=2, verbose=1
    )
    eval_callback = EvalCallback(
        eval_env,
        callback_on_new_best=callback_on_best,
        callback_after_eval=callback_no_model_improvement,
        best_model_save_path=log_folder,
        log_path=log_folder,
        eval_freq=100,
        n_eval_episodes=2,
        warn=False,
    )
    checkpoint_on_event = CheckpointCallback(save_freq=1, save_path=log_folder, name_prefix="event")
    event_callback = EveryNTimesteps(n_steps=100, callback=checkpoint_on_event)
    log_callback = LogEveryNTimesteps(n_steps=100)
    callback_max_episodes = StopTrainingOnMaxEpisodes(max_episodes=100, verbose=1)
    callback = CallbackList(
        [checkpoint_callback, eval_callback, event_callback, log_callback, callback_max_episodes]
    )
    model.learn(300, callback=callback)
    assert model.env.observation_space.contains(callback.locals["new_obs"][0])
    assert checkpoint_callback.locals["new_obs"] is callback.locals["new_obs"]
    assert event_callback.locals["new_obs"] is callback.locals["new_obs"]
    assert checkpoint_on_event.locals["new_obs"] is callback.locals["new_obs"]
    assert event_callback.num_timesteps == model.num_timesteps
    assert event_callback.n_calls == model.num_timesteps
    # the checkpoints (best model, periodic, replay buffer) are rlcore's loadable files
    best = model_class.load(log_folder / "best_model.zip")
    assert best.n_actions == 2
    saved = sorted(log_folder.glob("rl_model_*_steps.zip"))
    assert saved and model_class.load(saved[-1]).num_timesteps > 0
    buffers = sorted(log_folder.glob("rl_model_replay_buffer_*_steps.pkl"))
    assert buffers
    model.load_replay_buffer(buffers[-1])
    model.learn(100, callback=None)
    model.learn(100, callback=[checkpoint_callback, eval_callback])


@pytest.mark.parametrize("model_class", ALGOS)
def test_eval_callback_vec_env(model_class):
    n_eval_envs = 3
    train_env = IdentityEnv()
    eval_env = DummyVecEnv([lambda: IdentityEnv()] * n_eval_envs)
    model = model_class("MlpPolicy", train_env, seed=0, learning_starts=50)
    eval_callback = EvalCallback(eval_env, eval_freq=100, n_eval_episodes=3, warn=False)
    model.learn(200, callback=eval_callback)
    assert eval_callback.n_calls == 200 and np.isfinite(eval_callback.last_mean_reward)


def test_checkpoint_files_are_not_pickles(tmp_path):
    """What SB3's CheckpointCallback writes for rlcore models holds no pickled entry."""
    model = StochDQN("MlpPolicy", "CartPole-v1", learning_starts=50, buffer_size=200)
    model.learn(100, callback=CheckpointCallback(50, tmp_path, save_replay_buffer=True))
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 4
    for name in files:
        with zipfile.ZipFile(tmp_path / name) as zf:
            assert "__pickled__" not in zf.read("rlcore.json").decode()


# --------------------------------------------------------------------------------------------
# Parity additions: tau, q_net(obs), torch threads
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau", [1.0, 0.25])
def test_tau_polyak_target_update(tau):
    model = StochDQN("MlpPolicy", select_env(), tau=tau, target_update_interval=1)
    model.set_logger(configure(None, []))
    with th.no_grad():
        for p in model.q_net.parameters():
            p.add_(1.0)
    online = [p.clone() for p in model.q_net.parameters()]
    target = [p.clone() for p in model.q_net_target.parameters()]
    model._on_step()
    for o, t, new in zip(online, target, model.q_net_target.parameters(), strict=True):
        th.testing.assert_close(new, tau * o + (1 - tau) * t)


def test_q_net_returns_q_values_and_refuses_huge_n():
    model = StochDQN("ActionHeadPolicy", select_env())
    obs = th.tensor([1, 4])  # IdentityEnv's Discrete observations (one-hot encoded inside)
    values = model.q_net(obs)
    assert values.shape == (2, 10)
    cand = th.tensor([[3, 1], [4, 0]])
    th.testing.assert_close(model.q_net(obs, cand), values.gather(1, cand))
    huge = StochDQN("MlpPolicy", gym.make("rlcore/TargetReach-v0", n_actions=10**12, dim=1))
    with pytest.raises(MemoryError, match=r"q_net\(obs\): the Q-values of all n=1000000000000"):
        huge.q_net(th.zeros((1, 1)))


def test_torch_threads_are_limited_during_learn_and_restored():
    seen = []
    previous = th.get_num_threads()
    th.set_num_threads(2)
    try:
        for setting, expected in [("auto", 1), (None, 2), (2, 2)]:
            model = StochDQN("MlpPolicy", select_env(), torch_threads=setting, learning_starts=5)
            model.learn(10, callback=lambda _l, _g: seen.append(th.get_num_threads()) or True)
            assert set(seen) == {expected} and th.get_num_threads() == 2
            seen.clear()
        with pytest.raises(ValueError, match=r"torch_threads must be 'auto', None or an integer"):
            StochDQN("MlpPolicy", select_env(), torch_threads=0)
    finally:
        th.set_num_threads(previous)


@pytest.mark.parametrize("model_class", [StochDQN])  # (one algorithm: 500 steps of HER)
def test_eval_success_logging(model_class):
    """SB3's case: HER replay buffer, MultiInputPolicy, success rate logged by EvalCallback."""
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.envs import BitFlippingEnv

    n_bits, n_envs = 2, 2
    env = BitFlippingEnv(n_bits=n_bits)
    eval_env = DummyVecEnv([lambda: BitFlippingEnv(n_bits=n_bits)] * n_envs)
    eval_callback = EvalCallback(eval_env, eval_freq=250, warn=False)
    model = model_class(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        learning_starts=100,
        seed=0,
    )
    model.learn(500, callback=eval_callback)
    assert len(eval_callback._is_success_buffer) > 0
    assert np.mean(eval_callback._is_success_buffer) > 0.5
