"""The greedy policy of StochDQN / StochDDQN: O(log n) by default, exact argmax on request.

Cost is asserted structurally (no tensor or array of size n is ever built, at n = 10^7), never
on wall time.
"""

import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from rlcore.stochdqn import StochDDQN, StochDQN
from rlcore.stochmax import candidate_set

ALGOS = [StochDQN, StochDDQN]
PROPOSALS = ["paper", "state", "local"]
FAST = dict(learning_starts=100, batch_size=32, buffer_size=5000, target_update_interval=100)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def reach(n, dim=1):
    return gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)


class TensorSizeGuard(TorchDispatchMode):
    """Raise when any torch operation produces a tensor of more than ``bound`` elements."""

    def __init__(self, bound):
        super().__init__()
        self.bound, self.largest = bound, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, th.Tensor):
                self.largest = max(self.largest, t.numel())
                if t.numel() > self.bound:
                    raise AssertionError(f"{func} built a tensor of {t.numel()} elements")
        return out


def test_default_greedy_policy_never_builds_an_n_sized_tensor():
    # StochDDQN: its target runs the maximizer on the online net and scores the target net
    n = 10**7
    model = StochDDQN("MlpPolicy", reach(n), seed=0, **FAST)
    assert model.proposal == "local" and model.maximizer == "stochastic"
    obs = np.random.default_rng(0).uniform(-1, 1, (8, 1)).astype(np.float32)
    bound = 300_000  # batch x candidates x hidden units of one scoring pass; n is 33x more
    with TensorSizeGuard(bound) as guard:
        model.learn(140)  # acting, TD targets (replay memory) and gradient steps
        tracemalloc.start()
        try:
            model.learn(10, reset_num_timesteps=False)
            actions, _ = model.predict(obs, deterministic=True)
            model.predict(obs[0], deterministic=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert model._n_updates > 0 and actions.shape == (8,) and actions.max() < n
    assert 0 < guard.largest <= bound
    assert peak < 8 * 2**20  # bytes of numpy / Python objects; an int64 n-vector is 80 MB
    # the guard does catch the O(n) path: the exact argmax scores chunks of thousands of actions
    with pytest.raises(AssertionError, match="built a tensor of"), TensorSizeGuard(bound):
        model.predict(obs, deterministic=True, exact=True)


def _trained(algo, n, seed=0, steps=300, **kwargs):
    model = algo("MlpPolicy", reach(n), seed=seed, **FAST, **kwargs)
    model.learn(steps)
    return model


@pytest.mark.parametrize("algo", ALGOS)
def test_exact_opt_in_equals_brute_force_argmax(algo):
    n = 300
    model = _trained(algo, n)
    obs = np.random.default_rng(1).uniform(-1, 1, (40, 1)).astype(np.float32)
    with th.no_grad():
        all_q = model.q_net.q_values(th.as_tensor(obs), th.arange(n).expand(40, -1))
    brute = all_q.argmax(dim=1).numpy()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True, exact=True)[0], brute)
    model.exact_predict = True  # the attribute form, for evaluate_policy / EvalCallback
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], brute)
    single, _ = model.predict(obs[3], deterministic=True)
    assert single.shape == () and single == brute[3]
    mean, _ = evaluate_policy(model, reach(n), n_eval_episodes=1)
    assert np.isfinite(mean)
    with pytest.raises(ValueError, match="exact=True applies to deterministic=True"):
        model.predict(obs, deterministic=False, exact=True)
    for bad in ("no", 1):  # never a silent O(n) argmax from a truthy non-bool
        with pytest.raises(ValueError, match="exact must be True, False or None"):
            model.predict(obs, deterministic=True, exact=bad)


def test_greedy_policy_is_the_stochastic_maximizer_not_the_exact_one():
    # 4096 actions, 12 random + a few remembered candidates, an untrained (random) network:
    # the O(log n) policy cannot find the exact argmax of every state, the opt-in does.
    model = StochDQN("MlpPolicy", reach(4096), seed=0, proposal="paper", **FAST)
    obs = np.random.default_rng(2).uniform(-1, 1, (200, 1)).astype(np.float32)
    with th.no_grad():
        q = model.q_net.q_values(th.as_tensor(obs), th.arange(4096).expand(200, -1))
    logn, _ = model.predict(obs, deterministic=True)
    exact, _ = model.predict(obs, deterministic=True, exact=True)
    q_logn = q.gather(1, th.as_tensor(logn).unsqueeze(1)).squeeze(1)
    assert th.all(q_logn <= q.max(dim=1).values)
    assert np.mean(logn != exact) > 0.2


def test_paper_proposal_scores_exactly_r_union_m():
    model = _trained(StochDQN, 1000, proposal="paper", num_recent_actions=3)
    scored = []
    scorer = model.q_net.numpy_scorer  # acting on CPU scores in numpy

    def recording(features):
        score = scorer(features)

        def record(candidates):
            scored.append(candidates.copy())
            return score(candidates)

        return record

    model.q_net.numpy_scorer = recording
    obs = np.random.default_rng(3).uniform(-1, 1, (5, 1)).astype(np.float32)
    rng_copy = np.random.default_rng()
    rng_copy.bit_generator.state = model._predict_rng.bit_generator.state
    memory = model._recent.get()
    assert memory.shape == (3,) and np.all(memory >= 0)
    model.predict(obs, deterministic=True)
    expected = candidate_set(rng_copy, 1000, 5, model._k_random, memory)
    assert len(scored) == 1  # one scoring pass: no refinement
    np.testing.assert_array_equal(scored[0], expected)
    assert expected.shape == (5, 10 + 3)
    np.testing.assert_array_equal(expected[:, 10:], np.broadcast_to(memory, (5, 3)))
    # the TD target of the paper: R ∪ (recent actions + first actions of the replay batch)
    data, next_actions = model._sample_replay(32)
    assert next_actions is None
    batch = data.actions[:, 0].long().numpy()
    target_memory = model._target_memory(batch, next_actions)
    np.testing.assert_array_equal(target_memory, np.r_[memory, batch[: model._k_batch]])


def test_state_memory_holds_the_action_taken_in_the_next_state():
    model = _trained(StochDQN, 1000, proposal="state")
    buf = model.replay_buffer
    np.random.seed(0)
    data, next_actions = model._sample_replay(64)
    assert next_actions.shape == (64,)
    np.random.seed(0)
    inds = np.random.randint(0, buf.pos, size=64)
    np.testing.assert_array_equal(data.observations.numpy(), buf.observations[inds, 0])
    for i, nxt in zip(inds, next_actions, strict=True):
        if buf.dones[i, 0] or i + 1 == buf.pos:  # episode end, or successor not stored yet
            assert nxt == -1
        else:
            assert nxt == buf.actions[i + 1, 0, 0]
            np.testing.assert_array_equal(buf.next_observations[i, 0], buf.observations[i + 1, 0])
    assert np.sum(next_actions >= 0) > 50
    memory = model._target_memory(data.actions[:, 0].long().numpy(), next_actions)
    assert memory.shape == (64, model.num_recent_actions + model._k_batch + 1)
    np.testing.assert_array_equal(memory[:, -1], next_actions)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("proposal", PROPOSALS)
def test_every_proposal_equals_the_exact_max_when_candidates_cover_all_actions(algo, proposal):
    n = 64
    model = _trained(algo, n, steps=200, proposal=proposal, num_random=n)
    obs = np.random.default_rng(4).uniform(-1, 1, (30, 1)).astype(np.float32)
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0],
        model.predict(obs, deterministic=True, exact=True)[0],
    )
    data, next_actions = model._sample_replay(32)
    memory = model._target_memory(data.actions[:, 0].long().numpy(), next_actions)
    with th.no_grad():
        stochastic = model._next_values(data.next_observations, memory)
        model.maximizer = "exact"
        exact = model._next_values(data.next_observations, memory)
    th.testing.assert_close(stochastic, exact)


def test_local_refinement_finds_better_actions_than_r_union_m():
    # Same random candidates, same network: refinement only moves to better neighbours.
    n = 10**5
    local = StochDQN("MlpPolicy", reach(n), seed=5, proposal="local", **FAST)
    paper = StochDQN("MlpPolicy", reach(n), seed=5, proposal="paper", **FAST)
    paper.policy.load_state_dict(local.policy.state_dict())
    obs = np.random.default_rng(5).uniform(-1, 1, (100, 1)).astype(np.float32)
    with th.no_grad():
        o = th.as_tensor(obs)
        a_local = th.as_tensor(local.predict(obs, deterministic=True)[0]).unsqueeze(1)
        a_paper = th.as_tensor(paper.predict(obs, deterministic=True)[0]).unsqueeze(1)
        q_local = local.q_net.q_values(o, a_local).squeeze(1)
        q_paper = local.q_net.q_values(o, a_paper).squeeze(1)
    assert th.all(q_local >= q_paper) and th.any(q_local > q_paper)


@pytest.mark.parametrize("proposal", PROPOSALS)
def test_same_seed_same_predictions_and_save_load(tmp_path, proposal):
    obs = np.random.default_rng(6).uniform(-1, 1, (16, 1)).astype(np.float32)
    a = _trained(StochDDQN, 10**5, seed=7, steps=150, proposal=proposal)
    b = _trained(StochDDQN, 10**5, seed=7, steps=150, proposal=proposal)
    a.save(tmp_path / "a.zip")
    seq_a = [a.predict(obs, deterministic=True)[0] for _ in range(3)]
    seq_b = [b.predict(obs, deterministic=True)[0] for _ in range(3)]
    np.testing.assert_array_equal(seq_a, seq_b)
    assert not np.array_equal(seq_a[0], seq_a[1])  # fresh candidates at every call
    loaded = StochDDQN.load(tmp_path / "a.zip")
    assert loaded.proposal == proposal
    np.testing.assert_array_equal(
        [loaded.predict(obs, deterministic=True)[0] for _ in range(3)], seq_a
    )
    other = _trained(StochDDQN, 10**5, seed=8, steps=150, proposal=proposal)
    assert not np.array_equal(other.predict(obs, deterministic=True)[0], seq_a[0])


def test_evaluation_does_not_change_training():
    def run(evaluate):
        model = StochDQN("MlpPolicy", reach(1000), seed=9, **FAST)
        model.learn(130)
        if evaluate:
            obs = np.random.default_rng(0).uniform(-1, 1, (50, 1)).astype(np.float32)
            model.predict(obs, deterministic=True)
            model.predict(obs, deterministic=True, exact=True)
        model.learn(40, reset_num_timesteps=False)
        return th.cat([p.detach().flatten() for p in model.q_net.parameters()])

    assert th.equal(run(False), run(True))


@pytest.mark.parametrize("policy", ["MlpPolicy", "ActionHeadPolicy"])
def test_scorer_equals_score_features(policy):
    model = StochDQN(policy, reach(1000), seed=0, **FAST)
    features = th.randn(6, 1)
    cand = th.randint(0, 1000, (6, 9))
    with th.no_grad():
        th.testing.assert_close(
            model.q_net.scorer(features)(cand), model.q_net.score_features(features, cand)
        )


@pytest.mark.parametrize(
    "env_kwargs, policy_kwargs",
    [
        ({"n_actions": 1000, "dim": 1}, {}),  # 1-D grid coordinates
        ({"n_actions": 900, "dim": 2}, {}),  # 2-D grid coordinates
        ({"n_actions": 1000, "dim": 3}, {}),  # 3-D grid coordinates
        ({"n_actions": 1000, "dim": 1}, {"action_bins": None}),  # learned embedding
    ],
)
def test_numpy_scorer_equals_score_features(env_kwargs, policy_kwargs):
    """The numpy form used for acting on CPU is the same function as the torch scorer, and it
    follows the network as it trains (zero-copy views) and when its storage is replaced."""
    env = gym.make("rlcore/TargetReach-v0", **env_kwargs)
    model = StochDQN("MlpPolicy", env, seed=0, policy_kwargs=policy_kwargs, **FAST)
    if "action_bins" in policy_kwargs:
        assert isinstance(model.q_net.action_features, th.nn.Embedding)
    n = env_kwargs["n_actions"]
    features = th.randn(6, env_kwargs["dim"])
    cand = np.random.default_rng(0).integers(0, n, (6, 9))

    def check():
        with th.no_grad():
            expected = model.q_net.score_features(features, th.as_tensor(cand)).numpy()
        got = model.q_net.numpy_scorer(features)(cand)
        assert got.dtype == np.float32 and got.shape == (6, 9)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    check()
    model.learn(300)  # optimizer steps update the parameters in place
    check()
    other = StochDQN("MlpPolicy", env, seed=1, policy_kwargs=policy_kwargs, **FAST)
    model.q_net.load_state_dict(other.q_net.state_dict())
    check()
    for p in model.q_net.parameters():  # new storage: the numpy form is rebuilt
        p.data = p.data.clone() + 0.5
    check()


def test_numpy_scorer_absent_falls_back_to_torch():
    """No numpy form (another activation, the per-action head): acting scores in torch."""
    tanh = StochDQN(
        "MlpPolicy", reach(1000), seed=0, policy_kwargs={"activation_fn": th.nn.Tanh}, **FAST
    )
    head = StochDQN("ActionHeadPolicy", reach(1000), seed=0, **FAST)
    obs = np.zeros((3, 1), dtype=np.float32)
    for model in (tanh, head):
        assert model.q_net.numpy_scorer(th.zeros(3, 1)) is None
        actions, _ = model.predict(obs, deterministic=True)
        assert actions.shape == (3,) and ((0 <= actions) & (actions < 1000)).all()


@pytest.mark.parametrize("dim, policy_kwargs", [(1, {}), (2, {}), (1, {"action_bins": None})])
def test_network_pickles_after_acting(dim, policy_kwargs):
    """The numpy form (closures, views of this process's storage) is not pickled; a pickled
    and reloaded network scores like the original and rebuilds its own numpy form."""
    import pickle

    n = 1000 if dim == 1 else 900
    env = gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim)
    model = StochDQN("MlpPolicy", env, seed=0, policy_kwargs=policy_kwargs, **FAST)
    model.predict(np.zeros((2, dim), dtype=np.float32), deterministic=True)
    assert "_numpy_form" in model.q_net.__dict__
    clone = pickle.loads(pickle.dumps(model.q_net))
    assert "_numpy_form" not in clone.__dict__
    features = th.randn(3, dim)
    cand = np.random.default_rng(1).integers(0, n, (3, 7))
    np.testing.assert_allclose(
        clone.numpy_scorer(features)(cand), model.q_net.numpy_scorer(features)(cand), rtol=1e-6
    )
    clone.state_in.weight.data.add_(1.0)  # the clone's form views the clone's storage
    assert not np.allclose(
        clone.numpy_scorer(features)(cand), model.q_net.numpy_scorer(features)(cand)
    )
