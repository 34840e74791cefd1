"""StochDQN / StochDDQN: smoke runs, SB3 integration, save / load, maximizer correctness."""

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import rlcore
from rlcore.stochdqn import ActionHeadPolicy, SparseAwareAdam, StochDDQN, StochDQN

ALGOS = [StochDQN, StochDDQN]


pytestmark = pytest.mark.usefixtures("single_torch_thread")


FAST = dict(learning_starts=100, batch_size=32, buffer_size=5000, target_update_interval=100)


def small_reach(n=64, dim=1, **kwargs):
    return gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim, **kwargs)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("rlcore/TargetReach-v0", {"n_actions": 10**6, "dim": 2}),
        ("rlcore/DiscretePendulum-v0", {}),
        ("rlcore/DiscreteInvertedPendulum-v0", {}),
        ("rlcore/DiscreteHalfCheetah-v0", {}),
    ],
)
def test_smoke_every_env(algo, env_id, kwargs):
    model = algo("MlpPolicy", gym.make(env_id, **kwargs), seed=0, **FAST)
    model.learn(300)
    assert model.num_timesteps == 300
    assert model._n_updates > 0
    env = model.get_env()
    n = env.action_space.n
    # the MlpPolicy reads the action coordinates of the env (no n-row table)
    assert model.policy_kwargs["action_bins"] == env.get_attr("action_grid")[0]["bins"]
    obs = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (1,) and 0 <= action[0] < n
    action, _ = model.predict(obs, deterministic=False)
    assert action.shape == (1,) and 0 <= action[0] < n


def test_env_id_string_and_lazy_import():
    model = rlcore.StochDQN("MlpPolicy", "rlcore/DiscreteInvertedPendulum-v0", seed=0, **FAST)
    assert model.n_actions == 1000
    assert model.policy_kwargs["action_bins"] == [1000]
    model.learn(150)
    assert rlcore.StochDDQN is StochDDQN


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("policy", ["MlpPolicy", "ActionHeadPolicy"])
@pytest.mark.parametrize("maximizer", ["stochastic", "exact"])
def test_smoke_policies_and_maximizers(algo, policy, maximizer):
    model = algo(policy, small_reach(256), seed=1, maximizer=maximizer, **FAST)
    model.learn(250)
    assert model._n_updates > 0


def test_plain_discrete_env_uses_a_sparse_learned_embedding():
    model = StochDQN("MlpPolicy", "CartPole-v1", seed=0, **FAST)
    assert model.policy_kwargs["action_bins"] is None
    emb = model.q_net.action_features
    assert isinstance(emb, th.nn.Embedding) and emb.sparse
    model.learn(300)
    assert model._n_updates > 0


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("policy", ["MlpPolicy", "ActionHeadPolicy"])
def test_save_load_round_trip(tmp_path, algo, policy):
    model = algo(policy, small_reach(1000), seed=2, **FAST)
    model.learn(300)
    obs = np.random.default_rng(0).uniform(-1, 1, size=(20, 1)).astype(np.float32)
    path = tmp_path / "model.zip"
    model.save(path)  # saves the generator of the O(log n) predict's candidate draws too
    before, _ = model.predict(obs, deterministic=True)
    loaded = algo.load(path, env=small_reach(1000))
    after, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(before, after)
    for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert th.equal(p, q)
    assert loaded.maximizer == model.maximizer and loaded.num_recent_actions == 4
    assert isinstance(loaded.policy.optimizer, SparseAwareAdam)
    loaded.learn(150, reset_num_timesteps=False)  # training resumes
    assert loaded.num_timesteps == 450
    # loading without an env still predicts identically
    no_env = algo.load(path)
    np.testing.assert_array_equal(no_env.predict(obs, deterministic=True)[0], before)


class _NanRewardAt(gym.Wrapper):
    def __init__(self, env, step):
        super().__init__(env)
        self.at, self.t = step, 0

    def step(self, action):
        obs, reward, term, trunc, info = self.env.step(action)
        self.t += 1
        return obs, float("nan") if self.t == self.at else reward, term, trunc, info


@pytest.mark.parametrize("algo", ALGOS)
def test_nan_reward_raises(algo):
    model = algo("MlpPolicy", _NanRewardAt(small_reach(64), 30), seed=0, **FAST)
    with pytest.raises(ValueError, match=r"non-finite reward \[nan\] at timestep 30"):
        model.learn(100)


def test_loading_another_algorithms_checkpoint_raises(tmp_path):
    from stable_baselines3 import DQN

    env = small_reach(100)
    StochDDQN("MlpPolicy", env, seed=0, **FAST).save(tmp_path / "ddqn.zip")
    DQN("MlpPolicy", env, seed=0, learning_starts=100).save(tmp_path / "dqn.zip")
    with pytest.raises(
        ValueError, match=r"ddqn.zip: a StochDDQN checkpoint, cannot load it as StochDQN"
    ):
        StochDQN.load(tmp_path / "ddqn.zip")
    with pytest.raises(ValueError, match=r"dqn.zip: not an rlcore StochDQN / StochDDQN file"):
        StochDDQN.load(tmp_path / "dqn.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk.zip: not a checkpoint \(not a readable zip"):
        StochDQN.load(tmp_path / "junk.zip")
    with open(tmp_path / "ddqn.zip", "rb") as f:  # a stream is rewound for SB3's own load
        assert isinstance(StochDDQN.load(f), StochDDQN)


@pytest.mark.parametrize("algo", ALGOS)
def test_vectorized_envs_and_sb3_callbacks(tmp_path, algo):
    env = make_vec_env("rlcore/TargetReach-v0", n_envs=2, seed=0, env_kwargs={"n_actions": 400})
    eval_env = make_vec_env(
        "rlcore/TargetReach-v0", n_envs=1, seed=1, env_kwargs={"n_actions": 400}
    )
    evals = EvalCallback(eval_env, n_eval_episodes=2, eval_freq=100, verbose=0)
    ckpt = CheckpointCallback(save_freq=100, save_path=str(tmp_path / "ckpt"), name_prefix="m")
    model = algo("MlpPolicy", env, seed=0, tensorboard_log=str(tmp_path / "tb"), **FAST)
    model.learn(400, callback=[evals, ckpt])
    assert model.num_timesteps == 400
    assert evals.n_calls > 0 and np.isfinite(evals.last_mean_reward)
    assert len(list((tmp_path / "ckpt").glob("m_*.zip"))) >= 2
    assert any((tmp_path / "tb").rglob("events.out.tfevents*"))
    actions, _ = model.predict(env.reset(), deterministic=False)
    assert actions.shape == (2,)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean) and std >= 0


def test_same_seed_same_results():
    def run(seed):
        model = StochDDQN("MlpPolicy", small_reach(500), seed=seed, **FAST)
        model.learn(300)
        return th.cat([p.detach().flatten() for p in model.q_net.parameters()])

    a, b = run(5), run(5)
    assert th.equal(a, b)
    assert not th.equal(a, run(6))


def _filled_model(algo, policy, n, **kwargs):
    model = algo(policy, small_reach(n), seed=3, learning_starts=10_000, buffer_size=5000, **kwargs)
    model.learn(300)  # fills the replay buffer only; now perturb the online net
    with th.no_grad():
        for p in model.q_net.parameters():
            p.add_(0.1 * th.randn_like(p))
    return model


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("policy", ["MlpPolicy", "ActionHeadPolicy"])
def test_exact_and_stochastic_targets_agree_when_candidates_cover_all_actions(algo, policy):
    n = 48
    model = _filled_model(algo, policy, n, num_random=n)
    data = model.replay_buffer.sample(64)
    batch_actions = data.actions[:4, 0].long().numpy()
    with th.no_grad():
        stochastic = model._next_values(data.next_observations, batch_actions)
        model.maximizer = "exact"
        exact = model._next_values(data.next_observations, batch_actions)
        # brute force over all actions
        all_actions = th.arange(n).expand(64, -1)
        online = model.q_net.q_values(data.next_observations, all_actions)
        target = model.q_net_target.q_values(data.next_observations, all_actions)
        if algo is StochDDQN:
            brute = target.gather(1, online.argmax(1, keepdim=True)).squeeze(1)
        else:
            brute = target.max(1).values
    th.testing.assert_close(stochastic, exact)
    th.testing.assert_close(exact, brute)


def test_stochastic_max_never_exceeds_the_exact_max():
    model = _filled_model(StochDQN, "MlpPolicy", 4096)
    data = model.replay_buffer.sample(64)
    with th.no_grad():
        stochastic = model._next_values(data.next_observations, np.full(4, -1))
        model.maximizer = "exact"
        exact = model._next_values(data.next_observations, np.full(4, -1))
    assert th.all(stochastic <= exact + 1e-6)
    assert th.any(stochastic < exact - 1e-6)  # 12 + 4 candidates out of 4096 miss the max


def test_candidate_set_sizes_and_memory():
    model = StochDQN("MlpPolicy", small_reach(1000), seed=0, num_recent_actions=3, **FAST)
    assert model._k_random == 10 and model._k_batch == 7  # |C| = 2 ceil(log2 n) = 20
    model.learn(300)
    memory = model._memory()
    assert memory.shape == (10,) and np.all(memory >= 0)  # recent + batch actions filled
    custom = StochDQN("MlpPolicy", small_reach(1000), num_random=4, num_batch_actions=2, **FAST)
    assert custom._candidates(5, custom._memory()).shape == (5, 4 + 4 + 2)


def test_sparse_aware_adam_touches_only_used_rows():
    table = th.nn.Embedding(10_000, 8, sparse=True)
    dense = th.nn.Linear(8, 1)
    opt = SparseAwareAdam([*table.parameters(), *dense.parameters()], lr=0.1)
    before = table.weight.detach().clone()
    rows = th.tensor([3, 17, 17, 9000])
    loss = dense(table(rows)).pow(2).sum()
    loss.backward()
    opt.step()
    changed = (table.weight != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [3, 17, 9000]
    state = opt.state[table.weight]
    assert (state["exp_avg"].abs().sum(1) > 0).nonzero().flatten().tolist() == [3, 17, 9000]
    # lazy Adam equals Adam on the rows that get a gradient at every step
    emb_a = th.nn.Embedding(50, 4, sparse=True)
    emb_b = th.nn.Embedding(50, 4)
    emb_b.weight.data.copy_(emb_a.weight.data)
    idx = th.tensor([1, 2, 2, 40])
    opt_a = SparseAwareAdam(emb_a.parameters(), lr=0.01)
    opt_b = th.optim.Adam(emb_b.parameters(), lr=0.01)
    for _ in range(3):
        for emb, opt_ in ((emb_a, opt_a), (emb_b, opt_b)):
            opt_.zero_grad()
            emb(idx).sum().backward()
            opt_.step()
    th.testing.assert_close(emb_a.weight[idx], emb_b.weight[idx])


@pytest.mark.parametrize(
    "space",
    [gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([3, 4])],
    ids=["Box", "MultiDiscrete"],
)
@pytest.mark.parametrize("algo", ALGOS)
def test_non_discrete_action_spaces_raise(algo, space):
    env = small_reach(16)
    env.unwrapped.action_space = space
    env.action_space = space
    with pytest.raises(TypeError, match=r"needs a gymnasium.spaces.Discrete action space, got"):
        algo("MlpPolicy", env)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="maximizer must be one of"):
        StochDQN("MlpPolicy", small_reach(), maximizer="greedy")
    with pytest.raises(ValueError, match="num_random must be None or a positive integer"):
        StochDQN("MlpPolicy", small_reach(), num_random=0)
    with pytest.raises(ValueError, match="action_bins=.* has 10 grid points"):
        StochDQN("MlpPolicy", small_reach(64), policy_kwargs={"action_bins": [10]})


def test_action_head_policy_uses_sparse_rows():
    model = StochDQN(ActionHeadPolicy, small_reach(5000), seed=0, **FAST)
    head = model.q_net.head.weight
    before = head.detach().clone()
    model.learn(101)  # exactly one gradient step
    changed = int((head != before).any(dim=1).sum())
    assert 0 < changed <= FAST["batch_size"]  # only the rows of the sampled actions moved


def test_learns_target_reach():
    env = small_reach(64, obs_noise=0.0)
    model = StochDQN(
        "MlpPolicy",
        env,
        seed=0,
        learning_starts=200,
        exploration_fraction=0.3,
        target_update_interval=200,
        buffer_size=10_000,
        gamma=0.0,
    )
    model.learn(3000)
    eval_env = small_reach(64, obs_noise=0.0)
    obs, _ = eval_env.reset(seed=123)
    regrets, random_regrets = [], []
    rng = np.random.default_rng(0)
    for _ in range(300):
        action, _ = model.predict(obs, deterministic=True)
        target = obs.astype(np.float64)
        obs, _, _, _, info = eval_env.step(action)
        regrets.append(info["regret"])
        random_coord = eval_env.unwrapped.action_coordinates(rng.integers(64))
        best = eval_env.unwrapped.action_coordinates(eval_env.unwrapped.optimal_action(target))
        random_regrets.append(np.linalg.norm(random_coord - target) - np.linalg.norm(best - target))
    assert np.mean(regrets) < 0.15 * np.mean(random_regrets)
