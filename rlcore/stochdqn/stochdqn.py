"""StochDQN and StochDDQN: DQN / Double DQN with a stochastic max over ``O(log n)`` candidates.

Fourati, Aggarwal, Alouini, "Stochastic Q-learning for Large Discrete Action Spaces" (ICML 2024).
Built on Stable-Baselines3's ``OffPolicyAlgorithm`` (replay buffer, rollout collection, logger,
callbacks, TensorBoard, save / load); modelled on ``stable_baselines3/dqn/dqn.py``.

Candidate set (for the epsilon-greedy choice, the greedy policy and the TD target), drawn by
:func:`rlcore.stochmax.candidate_set` with a numpy generator seeded from ``seed``::

    C = R ∪ M,  R = num_random uniform distinct actions (default ceil(log2 n)),
                M = num_batch_actions replay actions (the first of the sampled batch in the
                    target) ∪ num_recent_actions most recently exploited (greedy) actions
                    [proposal="paper", exactly the paper's]
                    ∪ the action taken in s' (TD target only)   [proposal="state"]
                    then local refinement on the action grid   [proposal="local", default]

With ``maximizer="exact"`` the same code computes the max over all ``n`` actions (exact DQN /
Double DQN with the same networks), for fair comparisons.
"""

from __future__ import annotations

import io
import math
import pathlib
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    ReplayBufferSamples,
    Schedule,
)
from stable_baselines3.common.utils import LinearSchedule, get_parameters_by_name, polyak_update
from torch.nn import functional as F

import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
from rlcore.common.checks import check_finite_rewards
from rlcore.stochdqn.checkpoint import (
    load_buffer,
    load_model,
    print_checkpoint_versions,
    read_model,
    save_buffer,
    save_model,
)
from rlcore.stochdqn.optim import clip_grad_norm
from rlcore.stochdqn.policies import (
    ActionHeadPolicy,
    CandidateQNetwork,
    CnnPolicy,
    MlpPolicy,
    MultiInputPolicy,
    StochDQNPolicy,
)
from rlcore.stochmax import (
    GridNeighbourhood,
    RecentActions,
    argmax_over_candidates,
    candidate_set,
    default_num_random,
    refine_on_grid,
)

SelfStochDQN = TypeVar("SelfStochDQN", bound="StochDQN")

_MAXIMIZERS = ("stochastic", "exact")
_PROPOSALS = ("paper", "state", "local")
# (name, lowest, highest accepted) of the real-valued hyper-parameters; tau must be > 0
_REAL_RANGES = (
    ("tau", 0.0, 1.0),
    ("gamma", 0.0, 1.0),
    ("exploration_fraction", 0.0, 1.0),
    ("exploration_initial_eps", 0.0, 1.0),
    ("exploration_final_eps", 0.0, 1.0),
    ("max_grad_norm", 0.0, math.inf),
)
# (name, lowest accepted) of the integer hyper-parameters
_INT_MINIMA = (
    ("buffer_size", 1),
    ("learning_starts", 0),
    ("batch_size", 1),
    ("n_steps", 1),
    ("target_update_interval", 1),
    ("num_recent_actions", 0),
    ("refine_rounds", 0),
    ("stats_window_size", 1),
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int) -> None:
    if not _is_int(value) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_real(name: str, value: Any, low: float, high: float) -> None:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if (
        not ok
        or not low <= float(value) <= high
        or (name in ("tau", "max_grad_norm") and value <= 0)
    ):
        bound = "(0" if name in ("tau", "max_grad_norm") else f"[{low}"
        raise ValueError(f"{name} must be a number in {bound}, {high}], got {value!r}")


class StochDQN(OffPolicyAlgorithm):
    """Stochastic DQN: the TD target and the greedy action use a stochastic max over ``C``.

    Target: ``r + gamma * (1 - done) * max_{a in C(s')} Q_target(s', a)``; Huber loss; hard
    target-network copy every ``target_update_interval`` environment steps; linear epsilon
    schedule (as SB3's DQN). Per environment step with ``maximizer="stochastic"``: acting scores
    ``|C|`` candidates per env, a gradient step scores ``batch_size * |C|`` (state, action) rows
    and touches only the rows it used of any ``n``-row table: no tensor of size ``n`` is built.

    Args (besides SB3 DQN's, with the same meaning and defaults except where noted):
        policy: ``"MlpPolicy"`` (state-action scorer ``MLP([phi(s); x(a)])``, default) or
            ``"ActionHeadPolicy"`` (per-action head with sparse rows); see
            :mod:`rlcore.stochdqn.policies`. With ``"MlpPolicy"`` the action coordinates are
            read from the env's ``action_grid`` attribute when it has one.
        maximizer: ``"stochastic"`` (default) or ``"exact"`` (max over all ``n`` actions).
        num_random: ``|R|``; ``None`` -> ``ceil(log2 n)``.
        num_batch_actions: how many actions of the sampled replay batch join ``M``; ``None``
            -> ``max(1, ceil(log2 n) - num_recent_actions)``, so that by default
            ``|C| <= 2 ceil(log2 n)`` (the paper's bound) for ``n >= 32``.
        num_recent_actions: how many recently exploited actions join ``M`` (default 4).
        proposal: ``"local"`` (default), ``"state"`` or ``"paper"`` (see the module
            docstring and ``docs/stochdqn.md``).
        refine_rounds: maximum rounds of grid refinement of ``proposal="local"`` (default 4;
            each scores about ``2 log2 n`` neighbours per state, stops early when no move
            improves).
        learning_rate: default 1e-3 (SB3 DQN: 1e-4); train_freq default 1 (SB3: 4);
            target_update_interval default 1000 (SB3: 10000).

    ``predict(obs, deterministic=True)`` is the algorithm's own maximizer without exploration
    (``O(log n)`` per state, seeded candidate draws, reproducible after save / load); the exact
    argmax over all ``n`` actions is the ``O(n)`` opt-in ``predict(..., exact=True)`` (or
    ``exact_predict = True``). ``predict(obs, deterministic=False)`` is the training behaviour:
    epsilon-greedy with the same maximizer. See :meth:`predict`.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
        "ActionHeadPolicy": ActionHeadPolicy,
    }
    double_q: ClassVar[bool] = False
    # policy kwargs that _setup_model fills in from the env (load accepts them missing)
    filled_policy_kwargs: ClassVar[tuple[str, ...]] = ("action_bins",)
    exploration_schedule: Schedule
    q_net: CandidateQNetwork
    q_net_target: CandidateQNetwork
    policy: StochDQNPolicy

    def __init__(
        self,
        policy: str | type[StochDQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 64,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 1000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10,
        maximizer: str = "stochastic",
        num_random: int | None = None,
        num_batch_actions: int | None = None,
        num_recent_actions: int = 4,
        proposal: str = "local",
        refine_rounds: int = 4,
        torch_threads: int | str | None = "auto",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self.check_hyperparameters(locals())
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=None,  # checked below with a clearer message
            support_multi_env=True,
        )
        self.algorithm_name = type(self).__name__  # saved, checked by load()
        self.maximizer = maximizer
        self.num_random = num_random
        self.num_batch_actions = num_batch_actions
        self.num_recent_actions = int(num_recent_actions)
        self.proposal = proposal
        self.refine_rounds = int(refine_rounds)
        self.torch_threads = torch_threads
        self.exact_predict = False  # True: predict(deterministic=True) is the O(n) exact argmax
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_fraction = exploration_fraction
        self.target_update_interval = int(target_update_interval)
        self.max_grad_norm = max_grad_norm
        self.exploration_rate = 0.0
        self._n_calls = 0
        if getattr(self, "action_space", None) is not None:  # None when called by load()
            self._check_action_space(self.action_space)
        if _init_setup_model:
            self._setup_model()

    # ----------------------------------------------------------------------------------------
    # Set-up
    # ----------------------------------------------------------------------------------------
    @classmethod
    def check_hyperparameters(cls, values: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first hyper-parameter in ``values`` (name -> value)
        outside its accepted range; names not in ``values`` are not checked. Used by the
        constructor and by :meth:`load` (on the saved values)."""
        for name, low, high in _REAL_RANGES:
            if name in values:
                _check_real(name, values[name], low, high)
        for name, low in _INT_MINIMA:
            if name in values:
                _check_int(name, values[name], low)
        for name in ("num_random", "num_batch_actions"):
            value = values.get(name)
            if value is not None and (isinstance(value, bool) or not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be None or a positive integer, got {value!r}")
        lr = values.get("learning_rate", 1.0)
        if not callable(lr):
            _check_real("learning_rate", lr, 0.0, math.inf)
        grad_steps = values.get("gradient_steps", 1)
        _check_int("gradient_steps", grad_steps, -1)
        if grad_steps == 0:
            raise ValueError("gradient_steps must be >= 1 or -1 (as many as env steps), got 0")
        if values.get("maximizer", "stochastic") not in _MAXIMIZERS:
            raise ValueError(f"maximizer must be one of {_MAXIMIZERS}, got {values['maximizer']!r}")
        threads = values.get("torch_threads", "auto")
        if threads not in ("auto", None) and (not _is_int(threads) or threads < 1):
            raise ValueError(
                f"torch_threads must be 'auto', None or an integer >= 1, got {threads!r}"
            )
        if values.get("proposal", "local") not in _PROPOSALS:
            raise ValueError(f"proposal must be one of {_PROPOSALS}, got {values['proposal']!r}")

    @classmethod
    def _check_action_space(cls, action_space: spaces.Space) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(
                f"{cls.__name__} needs a gymnasium.spaces.Discrete action space, got "
                f"{action_space!r}; discretize continuous actions first (rlcore.envs.discretized / "
                "gymnasium.wrappers.DiscretizeAction), and flatten MultiDiscrete spaces"
            )
        if int(action_space.start) != 0:
            raise ValueError(
                f"{cls.__name__} needs a Discrete action space starting at 0, got {action_space!r}"
            )

    def _setup_model(self) -> None:
        self._check_action_space(self.action_space)
        self.n_actions = int(self.action_space.n)
        if (
            issubclass(self.policy_class, MlpPolicy)
            and "action_bins" not in self.policy_kwargs
            and self.env is not None
        ):
            self.policy_kwargs = {**self.policy_kwargs, "action_bins": self._env_action_bins()}
        super()._setup_model()
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target
        self._q_params = list(self.q_net.parameters())
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        default_k = default_num_random(self.n_actions)
        self._k_random = default_k if self.num_random is None else int(self.num_random)
        self._k_batch = (
            max(1, default_k - self.num_recent_actions)
            if self.num_batch_actions is None
            else int(self.num_batch_actions)
        )
        if not hasattr(self, "_rng"):  # load() restores the saved generator and memory
            self._rng = np.random.default_rng(self.seed)
            self._recent = RecentActions(self.num_recent_actions)
        if not hasattr(self, "_predict_rng"):  # candidate draws of predict(deterministic=True)
            self._predict_rng = np.random.default_rng(None if self.seed is None else [self.seed, 1])
        bins = getattr(self.q_net, "action_bins", None)
        self._grid = GridNeighbourhood(bins) if bins is not None else None
        if self.n_envs > self.target_update_interval:
            warnings.warn(
                f"n_envs={self.n_envs} > target_update_interval={self.target_update_interval}: "
                "the target network is updated after every call to env.step()",
                stacklevel=2,
            )

    def _env_action_bins(self) -> list[int] | None:
        """Per-dimension bins of the env's ``action_grid`` attribute, or None if it has none."""
        try:
            grid = self.env.get_attr("action_grid")[0]  # type: ignore[union-attr]
        except AttributeError:
            return None
        return [int(b) for b in grid["bins"]]

    # ----------------------------------------------------------------------------------------
    # Maximizers
    # ----------------------------------------------------------------------------------------
    def _memory(self, rng: np.random.Generator | None = None, replay: bool = True) -> np.ndarray:
        """Acting memory ``M``: int64 ``(num_recent_actions + num_batch_actions,)``, ``-1`` for
        empty slots: the recently exploited actions and ``num_batch_actions`` actions drawn
        uniformly from the replay buffer with ``rng`` (the paper's replay-minibatch actions).
        ``replay=False`` (evaluation): the recent actions only, ``(num_recent_actions,)``; they
        are saved with the model, the replay buffer is not."""
        if not replay:
            return self._recent.get()
        rng = self._rng if rng is None else rng
        buf = self.replay_buffer
        size = 0 if buf is None else (buf.buffer_size if buf.full else buf.pos)
        if size == 0:
            drawn = np.full(self._k_batch, -1, dtype=np.int64)
        else:
            rows = rng.integers(0, size, self._k_batch)
            envs = rng.integers(0, buf.n_envs, self._k_batch) if buf.n_envs > 1 else 0
            drawn = buf.actions[rows, envs, 0].astype(np.int64)
        return np.concatenate([self._recent.get(), drawn])

    def _target_memory(
        self, batch_actions: np.ndarray, next_actions: np.ndarray | None
    ) -> np.ndarray:
        """Memory of the TD target for a replay batch of ``B`` transitions.

        Paper (``proposal="paper"``): shared ``(m,)`` = recent actions + the first
        ``num_batch_actions`` actions of the batch. Other proposals add a per-row,
        state-conditioned slot: the action stored for the transition's next state ``s'`` (the
        action the agent took there, ``-1`` where unknown), giving ``(B, m + 1)``.
        """
        batch = batch_actions[: self._k_batch]
        if len(batch) < self._k_batch:
            batch = np.pad(batch, (0, self._k_batch - len(batch)), constant_values=-1)
        shared = np.concatenate([self._recent.get(), batch])
        if next_actions is None or self.proposal == "paper":
            return shared
        rows = np.broadcast_to(shared, (len(next_actions), len(shared)))
        return np.concatenate([rows, next_actions[:, None]], axis=1)

    def _candidates(
        self, batch_size: int, memory: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """``C = R ∪ M`` for ``batch_size`` states: int64 ``(B, |R| + |M|)``."""
        rng = self._rng if rng is None else rng
        return candidate_set(rng, self.n_actions, batch_size, self._k_random, memory)

    def _max(
        self,
        net: CandidateQNetwork,
        obs: th.Tensor,
        memory: np.ndarray,
        rng: np.random.Generator | None = None,
        refine: bool = False,
    ) -> tuple[th.Tensor, th.Tensor]:
        """The algorithm's maximizer of ``net`` in the ``B`` states ``obs``: ``(actions, values)``,
        each ``(B,)`` (int64 / float tensors).

        ``maximizer="exact"``: the max over all ``n`` actions (``O(n)``). Otherwise the stochastic
        max over ``C = R ∪ M`` (``memory``: ``(m,)`` shared or ``(B, m)`` per state, ``-1`` =
        empty; ``R`` drawn with ``rng``, default the training generator), followed, when
        ``refine`` (acting and evaluation) with ``proposal="local"`` and a network with action
        coordinates, by ``refine_rounds`` rounds of local refinement on the action grid:
        ``O(B * (|C| + refine_rounds * 2 log2 n))`` rows. Acting and evaluation score in numpy
        where the network has a numpy form on CPU (:meth:`CandidateQNetwork.numpy_scorer`; same
        function, a fraction of torch's per-call overhead for these few rows). The TD target is not refined (it would
        multiply the cost of the batch's scoring); its state-conditioned memory slot holds the
        refined action that was taken in ``s'``.
        """
        if self.maximizer == "exact":
            return net.exact_max(obs)
        features = net.extract_features(obs, net.features_extractor)
        cand = self._candidates(features.shape[0], memory, rng)
        rounds = self.refine_rounds if self.proposal == "local" and self._grid is not None else 0
        # acting: numpy on CPU (a few dozen rows per round: call overhead dominates)
        score = net.numpy_scorer(features) if refine else None
        if score is None:
            score = net.scorer(features)
            cand = th.as_tensor(cand, device=self.device)
        actions, values = argmax_over_candidates(score(cand), cand)
        if refine and rounds:
            actions, values = refine_on_grid(score, actions, values, self._grid, rounds)
        if isinstance(actions, np.ndarray):
            return th.from_numpy(actions), th.from_numpy(np.asarray(values))
        return actions, values

    def _greedy(self, obs: th.Tensor, evaluation: bool = False) -> np.ndarray:
        """Greedy actions ``(B,)`` of the online network with the algorithm's maximizer.

        ``evaluation=True``: candidates drawn with the predict generator, memory ``M`` = the
        recent actions only (what a saved model holds)."""
        rng = self._predict_rng if evaluation else self._rng
        memory = self._memory(rng, replay=not evaluation)
        return self._max(self.q_net, obs, memory, rng, refine=True)[0].cpu().numpy()

    def _next_values(self, next_obs: th.Tensor, memory: np.ndarray) -> th.Tensor:
        """``max_a Q_target(s', a)`` with the algorithm's maximizer: ``(B,)``."""
        return self._max(self.q_net_target, next_obs, memory)[1]

    def _sample_replay(self, batch_size: int) -> tuple[Any, np.ndarray | None]:
        """A replay minibatch and, per transition, the action stored for its next state.

        The indices are drawn exactly as SB3's ``ReplayBuffer.sample`` draws them. The action
        taken in ``s'`` is the action of the next slot of the same env, known when the episode
        did not end there and that slot is already written (``-1`` otherwise); ``None`` for the
        paper proposal and for other buffer classes (n-step, custom), which use plain sampling.
        Without VecNormalize the batch holds the arrays of SB3's ``_get_samples`` (same
        values, same random draws) made into tensors without a second copy.
        """
        buf = self.replay_buffer
        if type(buf) is not ReplayBuffer:
            return buf.sample(batch_size, env=self._vec_normalize_env), None  # type: ignore[union-attr]
        if not buf.optimize_memory_usage:
            inds = np.random.randint(0, buf.buffer_size if buf.full else buf.pos, size=batch_size)
        elif buf.full:
            inds = (
                np.random.randint(1, buf.buffer_size, size=batch_size) + buf.pos
            ) % buf.buffer_size
        else:
            inds = np.random.randint(0, buf.pos, size=batch_size)
        # the env indices, drawn as SB3's _get_samples draws them
        saved = np.random.get_state() if self._vec_normalize_env is not None else None
        envs = np.random.randint(0, high=buf.n_envs, size=(batch_size,))
        succ = (inds + 1) % buf.buffer_size
        if saved is None:  # _get_samples' arrays, without its second copy
            next_obs = buf.observations[succ, envs] if buf.optimize_memory_usage else None
            arrays = (
                buf.observations[inds, envs],
                buf.actions[inds, envs],
                buf.next_observations[inds, envs] if next_obs is None else next_obs,
                (buf.dones[inds, envs] * (1 - buf.timeouts[inds, envs])).reshape(-1, 1),
                buf.rewards[inds, envs].reshape(-1, 1),
            )
            data = ReplayBufferSamples(*(th.from_numpy(x).to(self.device) for x in arrays))
        else:
            np.random.set_state(saved)  # _get_samples draws the same env indices again
            data = buf._get_samples(inds, env=self._vec_normalize_env)
        if self.proposal == "paper":
            return data, None
        known = (buf.dones[inds, envs] == 0) & (succ != buf.pos)
        next_actions = np.where(known, buf.actions[succ, envs, 0], -1).astype(np.int64)
        return data, next_actions

    # ----------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------
    def _on_step(self) -> None:
        """After each env step: every ``target_update_interval`` steps the target network moves
        to the online one (``tau=1``: a copy, SB3's default; ``tau<1``: the Polyak average
        ``target <- tau * online + (1 - tau) * target``, batch-norm statistics copied, as SB3's
        DQN); then epsilon follows its schedule."""
        self._n_calls += 1
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            if self.tau >= 1.0:
                self.q_net_target.load_state_dict(self.q_net.state_dict())
            else:
                polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
                polyak_update(
                    get_parameters_by_name(self.q_net, ["running_"]),
                    get_parameters_by_name(self.q_net_target, ["running_"]),
                    1.0,
                )
        self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """SB3's, after refusing NaN / infinite rewards (they would poison every target)."""
        check_finite_rewards(reward, self.num_timesteps)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            data, next_actions = self._sample_replay(batch_size)
            discounts = data.discounts if data.discounts is not None else self.gamma
            actions = data.actions.long()  # (B, 1)
            with th.no_grad():
                memory = self._target_memory(actions[:, 0].cpu().numpy(), next_actions)
                next_values = self._next_values(data.next_observations, memory)
                targets = data.rewards + (1 - data.dones) * discounts * next_values.reshape(-1, 1)
            current = self.q_net.q_values(data.observations, actions)  # (B, 1)
            loss = F.smooth_l1_loss(current, targets)
            losses.append(loss.item())
            for param in self._q_params:  # zero_grad(set_to_none=True), minus its wrappers
                param.grad = None
            loss.backward()
            clip_grad_norm(self._q_params, self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))

    # ----------------------------------------------------------------------------------------
    # Acting
    # ----------------------------------------------------------------------------------------
    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        exact: bool | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Action(s) for ``observation`` (one observation or a batch ``(B, *obs_shape)``).

        SB3's signature (``evaluate_policy``, ``EvalCallback``), plus ``exact``.

        * ``deterministic=True`` (evaluation): the greedy action of the algorithm's own
          maximizer, without exploration: with ``maximizer="stochastic"`` the stochastic argmax
          over ``C`` (plus local refinement with ``proposal="local"``), ``O(log n)`` per state
          whatever ``n``. Its random candidates come from a generator of their own, seeded from
          ``seed`` (saved with the model), so evaluation does not change training and a seeded
          or reloaded model predicts reproducibly. Its memory ``M`` is the recently exploited
          actions (read, not written; no replay actions: the replay buffer is not saved).
        * ``exact=True`` (or the attribute ``exact_predict = True``, for ``evaluate_policy``):
          with ``deterministic=True``, the exact argmax of the online network over all ``n``
          actions instead, computed in chunks: **O(n) per state**, for diagnostics (how much
          the O(log n) policy loses against the exact argmax of the same network).
        * ``deterministic=False``: the training behaviour, epsilon-greedy where the greedy
          action is the algorithm's maximizer; greedy actions are remembered in ``M``.
        """
        if exact is not None and not isinstance(exact, bool | np.bool_):
            raise ValueError(f"exact must be True, False or None, got {exact!r}")
        self.policy.set_training_mode(False)  # a no-op when already in eval mode
        obs, vectorized = self.policy.obs_to_tensor(observation)
        if deterministic:
            use_exact = self.exact_predict if exact is None else bool(exact)
            with th.no_grad():
                if use_exact:
                    actions = self.q_net.exact_max(obs)[0].cpu().numpy()
                else:
                    actions = self._greedy(obs, evaluation=True)
        else:
            if exact:
                raise ValueError("exact=True applies to deterministic=True predictions only")
            batch = next(iter(obs.values())).shape[0] if isinstance(obs, dict) else obs.shape[0]
            explore = self._rng.random(batch) < self.exploration_rate
            actions = self._rng.integers(0, self.n_actions, size=batch, dtype=np.int64)
            if not explore.all():
                with th.no_grad():
                    greedy = self._greedy(obs)
                actions = np.where(explore, actions, greedy)
                self._recent.push(greedy[~explore])
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def learn(
        self: SelfStochDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfStochDQN:
        """SB3's ``learn``: ``total_timesteps`` (an integer >= 1) environment steps, summed over
        the envs of a VecEnv."""
        _check_int("total_timesteps", total_timesteps, 1)
        previous, threads = th.get_num_threads(), self._learn_threads()
        if threads is not None and threads != previous:
            th.set_num_threads(threads)
        try:
            return super().learn(
                total_timesteps=total_timesteps,
                callback=callback,
                log_interval=log_interval,
                tb_log_name=type(self).__name__ if tb_log_name is None else tb_log_name,
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=progress_bar,
            )
        finally:
            if th.get_num_threads() != previous:
                th.set_num_threads(previous)

    def _learn_threads(self) -> int | None:
        """torch's intra-op thread count during :meth:`learn` (None: leave torch's setting).

        ``torch_threads="auto"`` (default): 1 on CPU when the Q-network's dense part is small
        (< 1,000,000 parameters, sparse n-row tables not counted): the matrices of a step are
        tiny, and intra-op threads then cost far more in synchronization than they save (the
        README's pendulum example ran 12-40 it/s with 2 threads against 190-300 it/s with one
        on a 2-core machine); torch's setting otherwise (large CNNs, GPU). An integer: that
        many threads; None: torch's setting. The previous setting is restored when ``learn``
        returns.
        """
        setting = getattr(self, "torch_threads", "auto")
        if setting != "auto":
            return setting
        if self.device.type != "cpu":
            return None
        dense = sum(
            p.numel()
            for m in self.q_net.modules()
            if not (isinstance(m, th.nn.Embedding) and m.sparse)
            for p in m.parameters(recurse=False)
        )
        return 1 if dense < 1_000_000 else None

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """Save the model in rlcore's safe, atomic checkpoint format (a ``.zip``).

        Same arguments as SB3's ``save`` (``.zip`` is appended to a path without a suffix). The
        file holds the hyper-parameters, spaces, schedules, RNG states and memories as JSON data
        and the networks' and optimizer's tensors as ``.npy`` arrays; nothing is pickled unless an
        attribute cannot be written as data (for example a lambda learning-rate schedule: a
        warning names it). A path is written atomically: a crash, a kill or a full disk leaves a
        previous file at ``path`` as it was. See :mod:`rlcore.stochdqn.checkpoint`.
        """
        save_model(self, path, exclude, include)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfStochDQN],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        allow_pickle: bool = False,
        **kwargs: Any,
    ) -> SelfStochDQN:
        """Re-create a model saved by :meth:`save` (SB3's ``load`` arguments, plus ``allow_pickle``).

        Never runs code from the file by default: the file is JSON data and ``.npy`` arrays, and a
        class it names must be one of the package's, torch's or SB3's known classes (or passed in
        ``custom_objects``). Refused with :class:`rlcore.stochdqn.checkpoint.CheckpointError` (a
        ``ValueError`` naming the file): another algorithm's checkpoint (a StochDDQN file loaded
        as StochDQN, an SB3 DQN zip), a newer format version, tampered or malformed entries, and
        any pickled entry unless ``allow_pickle=True`` or ``custom_objects`` replaces it.
        ``allow_pickle=True`` (only for files you trust) also loads checkpoints written in SB3's
        pickle-based zip format by earlier rlcore versions.

        Args:
            path: the file (``path.zip`` is tried when ``path`` has no suffix) or a binary stream.
            env: the environment to train on (must have the saved spaces); None to only predict.
            device: where to put the networks.
            custom_objects: saved attributes to replace (by name), e.g.
                ``{"learning_rate": 1e-4}``; classes among the values are trusted when the file
                names them.
            print_system_info: print the library versions saved in the file and the current ones.
            force_reset: reset the env before training (SB3's default).
            allow_pickle: unpickle pickled entries (can run code: trusted files only).
            kwargs: attributes to set on the model after loading (as SB3).
        """
        if print_system_info:
            print_checkpoint_versions(path)
        model = load_model(
            cls, path, env, device, custom_objects, force_reset, allow_pickle, **kwargs
        )
        if model is None:  # an old SB3-format rlcore checkpoint, trusted by the caller
            model = super().load(
                path, env, device, custom_objects, print_system_info, force_reset, **kwargs
            )
        return model

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | dict[str, Any],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        """SB3's ``set_parameters``: from a dict of state dicts, or from a checkpoint written by
        :meth:`save`, read safely (SB3's reader would unpickle the file's entries)."""
        if not isinstance(load_path_or_dict, dict):
            read = read_model(load_path_or_dict, type(self).__name__, None, allow_pickle=False)
            load_path_or_dict = read[2]  # type: ignore[index]  (never None without allow_pickle)
        super().set_parameters(load_path_or_dict, exact_match, device)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """Save the replay buffer in the safe format of :meth:`save` (atomic for a path; SB3's
        own writes a pickle)."""
        if self.replay_buffer is None:
            raise ValueError("the model has no replay buffer to save")
        save_buffer(self.replay_buffer, path)

    def load_replay_buffer(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        truncate_last_traj: bool = True,
        allow_pickle: bool = False,
    ) -> None:
        """Load a replay buffer written by :meth:`save_replay_buffer` (SB3's pickled buffers are
        refused: unpickling can run code). ``truncate_last_traj`` is accepted for SB3
        compatibility and only matters for SB3's ``HerReplayBuffer`` (not used here)."""
        buffer = load_buffer(path, self.device, allow_pickle)
        if buffer.observation_space != self.observation_space:
            raise ValueError(
                f"{path}: the buffer's observation space {buffer.observation_space} differs from "
                f"the model's {self.observation_space}"
            )
        if buffer.action_space != self.action_space:
            raise ValueError(
                f"{path}: the buffer's action space {buffer.action_space} differs from the "
                f"model's {self.action_space}"
            )
        self.replay_buffer = buffer

    def _excluded_save_params(self) -> list[str]:
        """Attributes not saved: SB3's, the networks (saved as the policy's state dict) and what
        ``_setup_model`` rebuilds from the saved hyper-parameters."""
        return [
            *super()._excluded_save_params(),
            "q_net",
            "q_net_target",
            "_q_params",
            "_grid",
            "lr_schedule",
            "exploration_schedule",
        ]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []


class StochDDQN(StochDQN):
    """Stochastic Double DQN: ``b* = argmax_{a in C(s')} Q_online(s', a)`` and the target value
    is ``Q_target(s', b*)`` (with ``maximizer="exact"``: exact Double DQN). Same arguments as
    :class:`StochDQN`."""

    double_q: ClassVar[bool] = True

    def _next_values(self, next_obs: th.Tensor, memory: np.ndarray) -> th.Tensor:
        best = self._max(self.q_net, next_obs, memory)[0]
        return self.q_net_target.q_values(next_obs, best.unsqueeze(1)).squeeze(1)
