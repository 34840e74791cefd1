"""ERD: early rumour detection with a GRU-state DQN (Zhou, Shu, Li, Lau, NAACL 2019).

The rumour detection module (RDM, :class:`~rlcore.erd.networks.RDM`, trained by
:mod:`rlcore.erd.detector`) reads an event chunk by chunk; the checkpoint module (CM,
:class:`~rlcore.erd.networks.CheckpointModule`, trained by :mod:`rlcore.erd.checkpoint_module`)
is a DQN over the RDM's GRU state that decides, after each chunk, to continue or to stop; on a stop the
answer is the RDM's argmax. Training (:meth:`ERD.learn`), as in the paper:

1. pre-train the RDM with cross-entropy (``rdm_pretrain_epochs`` epochs);
2. ``n_rounds`` times: train the CM with the RDM frozen (DQN on SB3's replay buffer, linear
   epsilon schedule and Polyak updates; double-DQN targets, squared loss), then (except after the last round) train the RDM for
   ``rdm_epochs_per_round`` epochs on the sequences truncated where the CM stops; the CM of
   the last round is trained on the final RDM.

Choices where the paper or code is silent or defective (named here on purpose):

* the RDM is supervised at every chunk (cross-entropy of the prediction after each prefix,
  averaged per event), since its prediction is used at every checkpoint;
* the CM's rewards are the environment's (``read_reward``, ``correct_reward``,
  ``wrong_reward``); a constant correct reward replaces the code's ``1 + 0.2 log M`` (which
  depends on past answers and takes ``log 0`` on the first one);
* with the RDM frozen the outcome of *both* actions at a visited checkpoint is known (stop:
  the RDM's answer is right or wrong; continue: the next GRU state), so both transitions are
  stored in the replay buffer; the behaviour policy is epsilon-greedy, epsilon decaying from
  ``exploration_initial_eps`` to ``exploration_final_eps`` (0.01, the paper's) over
  ``exploration_fraction`` of each round;
* the CM's loss is the squared error, not SB3's Huber loss: a stop's outcome is ``+1`` or
  ``wrong_reward`` (far apart), and a Huber loss would fit the median outcome instead of the
  expected one, i.e. stop as soon as the RDM is right more often than not;
* the RDM has dropout (0.2 by default; the paper has none), and the CM can train on held-out
  events (``cm_env``, e.g. the validation split) and see the RDM's class probabilities next to
  the GRU state (``cm_input="state+probs"``, default): an RDM is over-confident on its own
  training events, and a CM fitted there stops too early on new events;
* the last chunk forces a stop (the continue target there is the value of stopping);
* training sweeps the environment's events directly (``env.unwrapped.streams``) rather than
  through ``step``: the same episodes, batched. ``total_timesteps`` counts CM decisions
  (chunks read by the behaviour policy) over all rounds.

:meth:`ERD.predict` follows SB3's recurrent policies: it carries the GRU state between calls.
Training reports to an SB3 ``Logger`` (stdout with ``verbose=1``, TensorBoard with
``tensorboard_log``, or any logger given to :meth:`ERD.set_logger`) and calls SB3 callbacks
(:mod:`rlcore.erd.callbacks`); ``progress_bar=True`` shows one bar over the RDM pre-training,
the RDM epochs of the alternation and the CM steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger, get_device, set_random_seed

from rlcore.common.sb3_glue import init_callback
from rlcore.common.serialization import CheckpointError, load_checkpoint, save_checkpoint
from rlcore.erd.callbacks import ERDProgressBarCallback, RoundFunctionCallback
from rlcore.erd.checkpoint_module import (
    CheckpointTrainer,
    cm_features,
    cm_input_size,
    sequence_features,
)
from rlcore.erd.detector import rdm_outputs, train_rdm_epoch
from rlcore.erd.metrics import Decision, compute_metrics
from rlcore.erd.networks import RDM, CheckpointModule

__all__ = ["ERD", "rdm_outputs"]

_HYPER = (
    "embedding_dim", "hidden_size", "dropout", "cm_hidden", "cm_input", "cm_rdm_dropout",
    "rdm_learning_rate", "cm_learning_rate", "gamma", "buffer_size", "batch_size",
    "cm_batch_size", "rdm_pretrain_epochs", "rdm_epochs_per_round", "n_rounds",
    "exploration_initial_eps", "exploration_final_eps", "exploration_fraction",
    "learning_starts", "train_freq", "target_update_interval", "tau", "max_grad_norm",
    "read_reward", "correct_reward", "wrong_reward", "seed",
)  # fmt: skip

CallbackType = (
    BaseCallback
    | list[BaseCallback]
    | tuple[BaseCallback, ...]
    | Callable[[dict[str, Any]], Any]
    | None
)


class ERD:
    """Early rumour detection agent (RDM + checkpoint DQN), SB3-style API.

    Args:
        env: a ``RumourStreamEnv`` (or a wrapper of one) with ``obs_mode="tokens"``; its events
            are the training data and its rewards the CM's.
        cm_env: optional environment (same vocabulary, e.g. ``split="val"``) whose events train
            the CM. An RDM is more confident on the events it was trained on than on new
            ones; a CM fitted on held-out events learns a stopping rule that transfers to test
            events. Default: ``env``'s events (the paper).
        embedding_dim, hidden_size: RDM sizes (paper: 300, 100).
        dropout: RDM dropout during its training (not in the paper; see ``RDM``).
        cm_hidden: CM hidden units (the code's 64 lets the CM memorise its events; 16).
        cm_input: ``"state"`` (the paper: the GRU state), ``"state+probs"`` (default: the GRU
            state and the RDM's two class probabilities), ``"probs"`` or ``"probs+delta"``
            (the probabilities and their change since the previous chunk); see
            :mod:`rlcore.erd.checkpoint_module`.
        cm_rdm_dropout: compute the CM's training states with the RDM's dropout on.
        rdm_learning_rate, cm_learning_rate: Adam step sizes.
        gamma: CM discount (0.95).
        buffer_size: CM replay capacity (80,000).
        batch_size: events per RDM minibatch.
        cm_batch_size: transitions per CM minibatch (256).
        rdm_pretrain_epochs, rdm_epochs_per_round, n_rounds: the training schedule.
        exploration_initial_eps, exploration_final_eps, exploration_fraction: epsilon schedule
            of each round (the final value is also used by ``predict(deterministic=False)``).
        learning_starts: CM steps of a round before the first gradient step.
        train_freq: CM steps between gradient steps.
        target_update_interval: gradient steps between target network updates.
        tau: Polyak coefficient of the target network updates (1 = hard copy, as SB3's DQN).
        max_grad_norm: gradient clipping.
        read_reward, correct_reward, wrong_reward: override the environment's rewards.
        seed: seeds weights, sampling and exploration (SB3's ``set_random_seed``; same seed,
            same model on CPU).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` (SB3's ``get_device``).
        verbose: 1 logs each training phase to stdout (SB3 logger).
        tensorboard_log: folder of TensorBoard logs (SB3 logger), or ``None``.
    """

    def __init__(
        self,
        env: Any,
        *,
        cm_env: Any = None,
        embedding_dim: int = 64,
        hidden_size: int = 100,
        dropout: float = 0.2,
        cm_hidden: int = 16,
        cm_input: str = "state+probs",
        cm_rdm_dropout: bool = False,
        rdm_learning_rate: float = 2e-3,
        cm_learning_rate: float = 1e-3,
        gamma: float = 0.95,
        buffer_size: int = 80_000,
        batch_size: int = 32,
        cm_batch_size: int = 256,
        rdm_pretrain_epochs: int = 5,
        rdm_epochs_per_round: int = 1,
        n_rounds: int = 2,
        exploration_initial_eps: float = 0.5,
        exploration_final_eps: float = 0.01,
        exploration_fraction: float = 0.3,
        learning_starts: int = 500,
        train_freq: int = 1,
        target_update_interval: int = 1,
        tau: float = 0.01,
        max_grad_norm: float = 5.0,
        read_reward: float | None = None,
        correct_reward: float | None = None,
        wrong_reward: float | None = None,
        seed: int | None = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
        _vocab: Sequence[str] | None = None,
        _max_chunk_tokens: int | None = None,
    ) -> None:
        self.env, self.cm_env = env, cm_env
        base = getattr(env, "unwrapped", env) if env is not None else None
        if base is not None:
            if not hasattr(base, "streams") or getattr(base, "obs_mode", None) != "tokens":
                raise TypeError(f"ERD needs a RumourStreamEnv with obs_mode='tokens', got {env!r}")
            _vocab = base.vocab.to_list()
            _max_chunk_tokens = base.max_chunk_tokens
            read_reward = base.read_reward if read_reward is None else read_reward
            correct_reward = base.correct_reward if correct_reward is None else correct_reward
            wrong_reward = base.wrong_reward if wrong_reward is None else wrong_reward
        if cm_env is not None:
            cm_base = cm_env.unwrapped
            if not hasattr(cm_base, "streams") or base is None or cm_base.vocab != base.vocab:
                raise ValueError("cm_env must be a RumourStreamEnv with the same vocabulary as env")
        if _vocab is None or _max_chunk_tokens is None:
            raise TypeError("ERD needs an environment (or use ERD.load)")
        for name, value in (("gamma", gamma), ("exploration_final_eps", exploration_final_eps),
                            ("dropout", dropout)):  # fmt: skip
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r}: expected a value in [0, 1]")
        self.cm_input_size = cm_input_size(cm_input, hidden_size)
        self.vocab_words: list[str] = list(_vocab)
        self.max_chunk_tokens = int(_max_chunk_tokens)
        self.embedding_dim, self.hidden_size, self.cm_hidden = embedding_dim, hidden_size, cm_hidden
        self.dropout, self.cm_input, self.cm_rdm_dropout = dropout, cm_input, cm_rdm_dropout
        self.rdm_learning_rate, self.cm_learning_rate = rdm_learning_rate, cm_learning_rate
        self.gamma, self.buffer_size = gamma, buffer_size
        self.batch_size, self.cm_batch_size = batch_size, cm_batch_size
        self.rdm_pretrain_epochs = rdm_pretrain_epochs
        self.rdm_epochs_per_round, self.n_rounds = rdm_epochs_per_round, n_rounds
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_fraction = exploration_fraction
        self.learning_starts, self.train_freq = learning_starts, train_freq
        self.target_update_interval, self.max_grad_norm = target_update_interval, max_grad_norm
        self.tau = tau
        self.read_reward = float(read_reward if read_reward is not None else -0.01)
        self.correct_reward = float(correct_reward if correct_reward is not None else 1.0)
        self.wrong_reward = float(wrong_reward if wrong_reward is not None else -5.0)
        self.seed, self.verbose, self.tensorboard_log = seed, verbose, tensorboard_log
        self.device = get_device(device)

        if seed is not None:
            set_random_seed(seed, using_cuda=self.device.type == "cuda")
        self.rng = np.random.default_rng(seed)
        self.rdm = RDM(len(self.vocab_words), embedding_dim, hidden_size, dropout).to(self.device)
        self.rdm.eval()
        self.cm = CheckpointModule(self.cm_input_size, cm_hidden).to(self.device)
        self.rdm_optimizer = torch.optim.Adam(self.rdm.parameters(), lr=rdm_learning_rate)
        self.cm_trainer = CheckpointTrainer(
            self.cm, learning_rate=cm_learning_rate, gamma=gamma, buffer_size=buffer_size,
            batch_size=cm_batch_size, learning_starts=learning_starts, train_freq=train_freq,
            target_update_interval=target_update_interval, tau=tau, max_grad_norm=max_grad_norm,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            exploration_fraction=exploration_fraction, read_reward=self.read_reward,
            device=self.device,
        )  # fmt: skip
        self.cm_target = self.cm_trainer.cm_target
        self.pretrained = False
        self.num_timesteps = 0
        self.logs: list[dict[str, Any]] = []
        self._logger: Logger | None = None
        self._vec_env: Any = None
        self.stop_training = False
        self.progress: tuple[int, int] = (0, 0)
        self._callback: BaseCallback | None = None

    # ================================================================== SB3 plumbing
    @property
    def logger(self) -> Logger:
        """The SB3 logger (configured on first use from ``verbose`` / ``tensorboard_log``)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, "ERD")
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Log to ``logger`` (SB3's ``stable_baselines3.common.logger.configure(...)``)."""
        self._logger = logger

    def get_env(self) -> Any:
        """The training environment as an SB3 ``VecEnv`` (``DummyVecEnv`` of ``env``)."""
        if self.env is None:
            return None
        if self._vec_env is None:
            from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

            env = self.env
            self._vec_env = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
        return self._vec_env

    def get_vec_normalize_env(self) -> None:
        """SB3 callbacks ask for it; ERD never normalizes its token observations."""
        return None

    def _init_callback(self, callback: CallbackType, progress_bar: bool) -> BaseCallback:
        """The shared conversion (:func:`rlcore.common.sb3_glue.init_callback`) with ERD's
        function callback (``f(round_log)`` after each round) and progress bar."""
        return init_callback(
            callback,  # type: ignore[arg-type]
            self,  # type: ignore[arg-type]
            progress_bar,
            function_callback=RoundFunctionCallback,
            progress_callback=ERDProgressBarCallback,
        )

    def _advance(self, units: int) -> None:
        done, total = self.progress
        self.progress = (done + units, total)

    def _phase_end(self, **locals_: Any) -> None:
        if self._callback is not None:
            self._callback.update_locals(locals_)
            self._callback.on_rollout_end()

    def _log(self, **entry: Any) -> dict[str, Any]:
        """Record ``entry`` (a training phase) in ``self.logs`` and the SB3 logger."""
        self.logs.append(entry)
        phase = entry["phase"]
        for k, v in entry.items():
            if k != "phase" and isinstance(v, int | float):
                self.logger.record(f"{phase}/{k}", v)
        self.logger.record("time/num_timesteps", self.num_timesteps)
        self.logger.dump(self.num_timesteps)
        return entry

    # ================================================================== RDM training
    def _rdm_epoch(self, streams: Sequence[Any], limits: np.ndarray | None = None) -> float:
        return train_rdm_epoch(
            self.rdm, self.rdm_optimizer, streams, self.rng, self.batch_size,
            self.max_grad_norm, self.device, limits, on_batch=self._advance,
        )  # fmt: skip

    def pretrain_rdm(self, epochs: int | None = None) -> ERD:
        """Pre-train the RDM with cross-entropy on every prefix of the environment's events."""
        streams = self._streams()
        for epoch in range(self.rdm_pretrain_epochs if epochs is None else epochs):
            t0 = time.perf_counter()
            loss = self._rdm_epoch(streams)
            entry = self._log(
                phase="rdm_pretrain", epoch=epoch, loss=loss, seconds=time.perf_counter() - t0
            )
            self._phase_end(phase="rdm_pretrain", log=entry)
        self.pretrained = True
        return self

    # ================================================================== CM training
    def _train_cm(self, n_steps: int) -> dict[str, Any]:
        """DQN of the CM on the frozen RDM's outputs for ``n_steps`` behaviour steps."""
        streams = self._cm_streams()
        outputs = rdm_outputs(self.rdm, streams, self.device, dropout=self.cm_rdm_dropout)
        features = [sequence_features(self.rdm, o[1], self.cm_input) for o in outputs]
        stop_rewards = [
            np.where(o[0].argmax(1) == s.label, self.correct_reward, self.wrong_reward)
            for o, s in zip(outputs, streams, strict=True)
        ]

        def on_episode(steps: int) -> bool:
            self.num_timesteps += steps
            self._advance(steps)
            if self._callback is None:
                return True
            self._callback.update_locals({"phase": "cm", "episode_steps": steps})
            return bool(self._callback.on_step())

        stats = self.cm_trainer.train(features, stop_rewards, n_steps, self.rng, on_episode)
        if stats["steps"] < n_steps:
            self.stop_training = True
        return self._log(phase="cm", **stats)

    # ================================================================== the schedule
    def learn(
        self,
        total_timesteps: int,
        callback: CallbackType = None,
        log_interval: int = 1,
        progress_bar: bool = False,
        reset_num_timesteps: bool = False,
    ) -> ERD:
        """Train: RDM pre-training (first call), then ``n_rounds`` of CM / RDM alternation.

        Args:
            total_timesteps: CM behaviour steps over all rounds.
            callback: an SB3 ``BaseCallback`` (or a list of them; see
                :mod:`rlcore.erd.callbacks` for when each hook is called), or a function
                called with each round's log (``False`` stops training).
            log_interval: accepted for SB3 compatibility (ERD logs every phase).
            progress_bar: one tqdm bar over the RDM pre-training, the RDM epochs and the CM
                steps.
            reset_num_timesteps: start ``num_timesteps`` from 0.
        """
        if total_timesteps < 1:
            raise ValueError(f"total_timesteps={total_timesteps!r}: expected >= 1")
        if reset_num_timesteps:
            self.num_timesteps = 0
        n_events = len(self._streams())
        per_round = max(1, total_timesteps // self.n_rounds)
        pretrain = 0 if self.pretrained else self.rdm_pretrain_epochs * n_events
        rdm_rounds = (self.n_rounds - 1) * self.rdm_epochs_per_round * n_events
        self.progress = (0, pretrain + rdm_rounds + per_round * self.n_rounds)
        self.stop_training = False
        self._callback = self._init_callback(callback, progress_bar)
        self._callback.on_training_start(locals(), globals())
        try:
            if not self.pretrained:
                self.pretrain_rdm()
            for r in range(self.n_rounds):
                if r > 0:
                    limits = np.array([d.chunk for d in self.decide(self._streams())])
                    for _ in range(self.rdm_epochs_per_round):
                        loss = self._rdm_epoch(self._streams(), limits)
                        entry = self._log(phase="rdm_truncated", round=r, loss=loss)
                        self._phase_end(phase="rdm_truncated", log=entry)
                self._train_cm(per_round)
                self._phase_end(phase="round", round_log=self._round_log(r))
                if self.stop_training:
                    break
        finally:
            self._callback.on_training_end()
            self._callback = None
        return self

    def _round_log(self, r: int) -> dict[str, Any]:
        m = compute_metrics(self.decide(self._streams()))
        entry: dict[str, Any] = dict(train_accuracy=m["accuracy"], train_early_rate=m["early_rate"])
        if self.cm_env is not None:
            c = compute_metrics(self.decide(self._cm_streams()))
            entry.update(cm_accuracy=c["accuracy"], cm_early_rate=c["early_rate"])
        return self._log(phase="round", round=r, **entry)

    def _cm_streams(self) -> list[Any]:
        return self.cm_env.unwrapped.streams if self.cm_env is not None else self._streams()

    def _streams(self) -> list[Any]:
        if self.env is None:
            raise RuntimeError("this ERD has no environment; pass env= to ERD.load to train")
        return self.env.unwrapped.streams

    # ================================================================== decisions
    def decide(self, streams: Sequence[Any]) -> list[Decision]:
        """Greedy decisions on whole streams (batched): stop at the first chunk where the CM
        prefers stopping (or the last chunk); the answer is the RDM's argmax there."""
        decisions = []
        for s, (probs, states) in zip(
            streams, rdm_outputs(self.rdm, streams, self.device), strict=True
        ):
            with torch.no_grad():
                q = self.cm(sequence_features(self.rdm, states, self.cm_input)).cpu().numpy()
            stops = np.flatnonzero(q[:, CheckpointModule.STOP] > q[:, CheckpointModule.CONTINUE])
            c = int(stops[0]) if stops.size else s.n_chunks - 1
            preds = probs.argmax(1)
            decisions.append(
                Decision(
                    label=s.label,
                    answer=int(preds[c]),
                    chunk=c,
                    posts_read=int(s.posts_read[c]),
                    n_posts=s.n_posts,
                    time_to_answer=float(s.elapsed[c]),
                    later_predictions=tuple(int(p) for p in preds[c:]),
                )
            )
        return decisions

    def predict(
        self,
        observation: np.ndarray,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Act on one chunk per environment, carrying the GRU state (SB3 recurrent convention).

        Args:
            observation: ``(max_chunk_tokens + 1,)`` or ``(n_envs, max_chunk_tokens + 1)``
                token observations of ``RumourStreamEnv`` (last entry: last-chunk flag).
            state: ``(n_envs, hidden_size)`` GRU states from the previous call, or ``None``.
            episode_start: ``(n_envs,)`` booleans; ``True`` resets that environment's state.
            deterministic: ``False`` flips the CM's decision with probability
                ``exploration_final_eps``.

        Returns:
            ``(actions, state)``: actions ``0`` read, ``1`` non-rumour, ``2`` rumour (shape
            ``()`` for a single observation, else ``(n_envs,)``), and the new GRU states.
        """
        obs = np.asarray(observation)
        single = obs.ndim == 1
        obs = obs.reshape(-1, obs.shape[-1])
        if obs.shape[1] != self.max_chunk_tokens + 1:
            raise ValueError(
                f"observation of width {obs.shape[1]}: expected {self.max_chunk_tokens + 1} "
                "(token ids + last-chunk flag of RumourStreamEnv(obs_mode='tokens'))"
            )
        n = obs.shape[0]
        h = (
            np.zeros((n, self.hidden_size), dtype=np.float32)
            if state is None
            else np.array(state, dtype=np.float32).reshape(n, self.hidden_size)
        )
        if episode_start is not None:
            h[np.asarray(episode_start, dtype=bool).reshape(n)] = 0.0
        tokens = torch.as_tensor(obs[:, :-1].astype(np.int64), device=self.device)
        with torch.no_grad():
            h_prev = torch.as_tensor(h, device=self.device)
            _, states = self.rdm(tokens[:, None, :], h_prev)
            h_new = states[:, 0]
            answer = self.rdm.classifier(h_new).argmax(1).cpu().numpy()
            q = self.cm(cm_features(self.rdm, h_new, h_prev, self.cm_input))
            stop = (q.argmax(1) == CheckpointModule.STOP).cpu().numpy()
        if not deterministic:
            flip = self.rng.random(n) < self.exploration_final_eps
            stop = np.where(flip, ~stop, stop)
        stop |= obs[:, -1] == 1
        actions = np.where(stop, answer + 1, 0).astype(np.int64)
        return (actions[0] if single else actions), h_new.cpu().numpy()

    # ================================================================== persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save networks, vocabulary and hyper-parameters (safe ``.npz`` + JSON, atomic)."""
        params = {name: getattr(self, name) for name in _HYPER}
        params.update(vocab=self.vocab_words, max_chunk_tokens=self.max_chunk_tokens,
                      pretrained=self.pretrained, num_timesteps=self.num_timesteps)  # fmt: skip
        arrays = {
            f"{prefix}.{k}": v.detach().cpu().numpy()
            for prefix, net in (("rdm", self.rdm), ("cm", self.cm), ("cm_target", self.cm_target))
            for k, v in net.state_dict().items()
        }
        return save_checkpoint(path, "ERD", params, arrays)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], env: Any = None, device: str | torch.device = "auto"
    ) -> ERD:
        """Load a model saved by :meth:`save` (a checkpoint of another algorithm is refused).

        With ``env`` the model can keep training; its vocabulary must be the saved one.
        """

        def check_params(params: dict[str, Any]) -> None:
            for key in ("vocab", "max_chunk_tokens", "pretrained", "num_timesteps"):
                if key not in params:
                    raise CheckpointError(path, f"the metadata has no {key!r} entry")
            vocab = params["vocab"]
            if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
                raise CheckpointError(path, "'vocab' is not a list of words")

        def allocate(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
            # Network weights are float32; BatchNorm-style counters are int64.
            ok = np.dtype(dtype) == np.float32 or (
                name.endswith("num_batches_tracked") and np.dtype(dtype) == np.int64
            )
            if not ok:
                raise CheckpointError(path, f"entry {name!r} has dtype {dtype}, expected float32")

        params, arrays = load_checkpoint(
            path, algorithm="ERD", check_params=check_params, allocate=allocate
        )
        hyper = {k: params[k] for k in _HYPER if k in params}
        try:
            model = cls(None, **hyper, device=device, _vocab=params["vocab"],
                        _max_chunk_tokens=params["max_chunk_tokens"])  # fmt: skip
        except (TypeError, ValueError) as e:
            raise CheckpointError(path, f"the saved hyper-parameters are invalid: {e}") from e
        if env is not None:
            words = env.unwrapped.vocab.to_list()
            if words != model.vocab_words:
                raise ValueError(
                    "env's vocabulary differs from the checkpoint's; token ids would not match"
                )
            model.env = env
        for prefix, net in (("rdm", model.rdm), ("cm", model.cm), ("cm_target", model.cm_target)):
            state = {
                k[len(prefix) + 1 :]: torch.from_numpy(v)
                for k, v in arrays.items()
                if k.split(".")[0] == prefix
            }
            try:
                net.load_state_dict(state)
            except RuntimeError as e:  # missing / unexpected entries, wrong shapes
                raise CheckpointError(path, f"the {prefix!r} network does not match: {e}") from e
        model.pretrained, model.num_timesteps = params["pretrained"], params["num_timesteps"]
        return model
