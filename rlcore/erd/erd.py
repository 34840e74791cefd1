"""ERD: early rumour detection with a GRU-state DQN (Zhou, Shu, Li, Lau, NAACL 2019).

The rumour detection module (RDM, :class:`~rlcore.erd.policies.RDM`) reads an event chunk by
chunk; the checkpoint module (CM, :class:`~rlcore.erd.policies.CheckpointModule`) is a DQN over
the RDM's GRU state that decides, after each chunk, to continue or to stop; on a stop the
answer is the RDM's argmax. Training (:meth:`ERD.learn`), as in the paper:

1. pre-train the RDM with cross-entropy (``rdm_pretrain_epochs`` epochs);
2. ``n_rounds`` times: train the CM with the RDM frozen (DQN: epsilon-greedy, replay buffer,
   target network, double-DQN targets, squared loss), then (except after the last round) train the RDM for
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
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from rlcore.common.serialization import load_checkpoint, save_checkpoint
from rlcore.erd.metrics import Decision
from rlcore.erd.policies import RDM, CheckpointModule

_HYPER = (
    "embedding_dim", "hidden_size", "dropout", "cm_hidden", "cm_input", "cm_rdm_dropout", "rdm_learning_rate", "cm_learning_rate",
    "gamma", "buffer_size", "batch_size", "cm_batch_size", "rdm_pretrain_epochs",
    "rdm_epochs_per_round", "n_rounds", "exploration_initial_eps", "exploration_final_eps",
    "exploration_fraction", "learning_starts", "train_freq", "target_update_interval", "tau",
    "max_grad_norm", "read_reward", "correct_reward", "wrong_reward", "seed",
)  # fmt: skip


def _device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _pad(streams: Sequence[Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T, L)`` token ids padded with empty chunks, and ``(B,)`` chunk counts."""
    lengths = torch.tensor([s.n_chunks for s in streams], dtype=torch.long)
    tokens = torch.zeros(
        len(streams), int(lengths.max()), streams[0].tokens.shape[1], dtype=torch.long
    )
    for b, s in enumerate(streams):
        tokens[b, : s.n_chunks] = torch.from_numpy(s.tokens.astype(np.int64))
    return tokens.to(device), lengths.to(device)


def rdm_outputs(
    rdm: RDM,
    streams: Sequence[Any],
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    dropout: bool = False,
) -> list[tuple[np.ndarray, torch.Tensor]]:
    """Run ``rdm`` over whole streams (no gradient; with ``dropout=True`` its dropout stays on).

    Returns:
        per stream, ``(probs, states)``: ``(n_chunks, 2)`` class probabilities after each chunk
        and ``(n_chunks, hidden_size)`` GRU states (on ``device``).
    """
    device = torch.device(device)
    order = sorted(range(len(streams)), key=lambda i: streams[i].n_chunks)
    out: list[Any] = [None] * len(streams)
    rdm.train(dropout)
    with torch.no_grad():
        for a in range(0, len(order), batch_size):
            idx = order[a : a + batch_size]
            tokens, lengths = _pad([streams[i] for i in idx], device)
            logits, states = rdm(tokens)
            probs = torch.softmax(logits, dim=-1).cpu().numpy()
            for b, i in enumerate(idx):
                n = int(lengths[b])
                out[i] = (probs[b, :n], states[b, :n])
    rdm.eval()
    return out


class _ReplayBuffer:
    """Ring buffer of CM transitions ``(state, action, reward, next_state, done, next_is_last)``."""

    def __init__(self, capacity: int, hidden_size: int, device: torch.device) -> None:
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.s = torch.zeros(capacity, hidden_size, device=device)
        self.next = torch.zeros(capacity, hidden_size, device=device)
        self.a = torch.zeros(capacity, dtype=torch.long, device=device)
        self.r = torch.zeros(capacity, device=device)
        self.done = torch.zeros(capacity, device=device)
        self.next_last = torch.zeros(capacity, dtype=torch.bool, device=device)

    def add(self, s: torch.Tensor, a: int, r: torch.Tensor, nxt: torch.Tensor, done: torch.Tensor,
            next_last: torch.Tensor) -> None:  # fmt: skip
        """Add ``len(s)`` transitions of action ``a`` (wrapping around)."""
        idx = (self.pos + torch.arange(len(s))) % self.capacity
        self.s[idx], self.a[idx], self.r[idx], self.next[idx] = s, a, r, nxt
        self.done[idx], self.next_last[idx] = done, next_last
        self.pos = (self.pos + len(s)) % self.capacity
        self.size = min(self.size + len(s), self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(rng.integers(0, self.size, batch_size), device=self.s.device)
        return (
            self.s[idx],
            self.a[idx],
            self.r[idx],
            self.next[idx],
            self.done[idx],
            self.next_last[idx],
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
        cm_input: ``"state"`` (the paper: the GRU state) or ``"state+probs"`` (default: the
            GRU state and the RDM's two class probabilities, which makes the value of stopping,
            a steep function of the RDM's confidence, easy for the small CM to represent).
        cm_rdm_dropout: compute the CM's training states with the RDM's dropout on (noisy
            states: the RDM is less over-confident than on clean states of its own training
            events, and the CM cannot memorise them).
        rdm_learning_rate, cm_learning_rate: Adam step sizes.
        gamma: CM discount (0.95).
        buffer_size: CM replay capacity (80,000).
        batch_size: events per RDM minibatch.
        cm_batch_size: transitions per CM minibatch (the code's 50 gives noisy stopping rules;
            256).
        rdm_pretrain_epochs, rdm_epochs_per_round, n_rounds: the training schedule.
        exploration_initial_eps, exploration_final_eps, exploration_fraction: epsilon schedule
            of each round (the final value is also used by ``predict(deterministic=False)``).
        learning_starts: CM steps of a round before the first gradient step.
        train_freq: CM steps between gradient steps.
        target_update_interval: gradient steps between target network updates.
        tau: soft update coefficient of the target network (1 = hard copy, as SB3's DQN).
        max_grad_norm: gradient clipping.
        read_reward, correct_reward, wrong_reward: override the environment's rewards.
        seed: seeds weights, sampling and exploration (same seed, same model on CPU).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
        verbose: 1 prints a line per training phase.
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
        _vocab: Sequence[str] | None = None,
        _max_chunk_tokens: int | None = None,
    ) -> None:
        self.env, self.cm_env = env, cm_env
        if cm_env is not None:
            cm_base = cm_env.unwrapped
            if not hasattr(cm_base, "streams") or cm_base.vocab != env.unwrapped.vocab:
                raise ValueError("cm_env must be a RumourStreamEnv with the same vocabulary as env")
        base = getattr(env, "unwrapped", env) if env is not None else None
        if base is not None:
            if not hasattr(base, "streams") or getattr(base, "obs_mode", None) != "tokens":
                raise TypeError(f"ERD needs a RumourStreamEnv with obs_mode='tokens', got {env!r}")
            _vocab = base.vocab.to_list()
            _max_chunk_tokens = base.max_chunk_tokens
            read_reward = base.read_reward if read_reward is None else read_reward
            correct_reward = base.correct_reward if correct_reward is None else correct_reward
            wrong_reward = base.wrong_reward if wrong_reward is None else wrong_reward
        if _vocab is None or _max_chunk_tokens is None:
            raise TypeError("ERD needs an environment (or use ERD.load)")
        for name, value in (("gamma", gamma), ("exploration_final_eps", exploration_final_eps),
                            ("dropout", dropout)):  # fmt: skip
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r}: expected a value in [0, 1]")
        self.vocab_words: list[str] = list(_vocab)
        self.max_chunk_tokens = int(_max_chunk_tokens)
        self.embedding_dim, self.hidden_size, self.cm_hidden = embedding_dim, hidden_size, cm_hidden
        self.dropout = dropout
        if cm_input not in ("state", "state+probs", "probs"):
            raise ValueError(f"cm_input {cm_input!r}: expected 'state', 'state+probs' or 'probs'")
        self.cm_input, self.cm_rdm_dropout = cm_input, cm_rdm_dropout
        self.rdm_learning_rate, self.cm_learning_rate = rdm_learning_rate, cm_learning_rate
        self.gamma, self.buffer_size = gamma, buffer_size
        self.batch_size, self.cm_batch_size = batch_size, cm_batch_size
        self.rdm_pretrain_epochs, self.rdm_epochs_per_round = (
            rdm_pretrain_epochs,
            rdm_epochs_per_round,
        )
        self.n_rounds = n_rounds
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_fraction = exploration_fraction
        self.learning_starts, self.train_freq = learning_starts, train_freq
        self.target_update_interval, self.max_grad_norm = target_update_interval, max_grad_norm
        self.tau = tau
        self.read_reward = float(read_reward if read_reward is not None else -0.01)
        self.correct_reward = float(correct_reward if correct_reward is not None else 1.0)
        self.wrong_reward = float(wrong_reward if wrong_reward is not None else -5.0)
        self.seed, self.verbose = seed, verbose
        self.device = _device(device)

        if seed is not None:
            torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.rdm = RDM(len(self.vocab_words), embedding_dim, hidden_size, dropout).to(self.device)
        self.rdm.eval()
        self.cm_input_size = {"state": hidden_size, "state+probs": hidden_size + 2, "probs": 2}[
            cm_input
        ]
        self.cm = CheckpointModule(self.cm_input_size, cm_hidden).to(self.device)
        self.cm_target = copy.deepcopy(self.cm)
        self.rdm_optimizer = torch.optim.Adam(self.rdm.parameters(), lr=rdm_learning_rate)
        self.cm_optimizer = torch.optim.Adam(self.cm.parameters(), lr=cm_learning_rate)
        self.pretrained = False
        self.num_timesteps = 0
        self.logs: list[dict[str, float]] = []

    # ================================================================== RDM training
    def _rdm_epoch(self, streams: Sequence[Any], limits: np.ndarray | None = None) -> float:
        """One epoch of cross-entropy on every chunk (up to ``limits[i]`` when given)."""
        order = np.argsort([s.n_chunks + self.rng.random() for s in streams], kind="stable")
        batches = [order[a : a + self.batch_size] for a in range(0, len(order), self.batch_size)]
        self.rdm.train()
        losses = []
        for k in self.rng.permutation(len(batches)):
            idx = batches[k]
            tokens, lengths = _pad([streams[i] for i in idx], self.device)
            if limits is not None:
                lengths = torch.minimum(
                    lengths, torch.as_tensor(limits[idx] + 1, device=self.device)
                )
            labels = torch.tensor([streams[i].label for i in idx], device=self.device)
            logits, _ = self.rdm(tokens)
            t = torch.arange(tokens.shape[1], device=self.device)
            weights = (t[None, :] < lengths[:, None]).float() / lengths[:, None].float()
            ce = F.cross_entropy(
                logits.transpose(1, 2),
                labels[:, None].expand(-1, tokens.shape[1]),
                reduction="none",
            )
            loss = (ce * weights).sum() / len(idx)
            self.rdm_optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.rdm.parameters(), self.max_grad_norm)
            self.rdm_optimizer.step()
            losses.append(loss.item())
        self.rdm.eval()
        return float(np.mean(losses))

    def pretrain_rdm(self, epochs: int | None = None) -> ERD:
        """Pre-train the RDM with cross-entropy on the environment's events."""
        streams = self._streams()
        for epoch in range(self.rdm_pretrain_epochs if epochs is None else epochs):
            t0 = time.perf_counter()
            loss = self._rdm_epoch(streams)
            self._log(
                phase="rdm_pretrain", epoch=epoch, loss=loss, seconds=time.perf_counter() - t0
            )
        self.pretrained = True
        return self

    # ================================================================== CM training (DQN)
    def _train_cm(self, n_steps: int, pbar: Any) -> None:
        """DQN on the frozen RDM's GRU states for ``n_steps`` behaviour steps.

        An episode walks one training event with the epsilon-greedy CM; the transitions of its
        visited checkpoints (both actions, see the module docstring) enter the replay buffer,
        then one gradient step is taken per ``train_freq`` steps of the episode.
        """
        streams = self._cm_streams()
        outputs = rdm_outputs(self.rdm, streams, self.device, dropout=self.cm_rdm_dropout)
        states = [self._cm_features(o[1]) for o in outputs]
        stop_rewards = [
            torch.as_tensor(
                np.where(o[0].argmax(1) == s.label, self.correct_reward, self.wrong_reward),
                dtype=torch.float32,
                device=self.device,
            )  # fmt: skip
            for o, s in zip(outputs, streams, strict=True)
        ]
        buf = _ReplayBuffer(self.buffer_size, self.cm_input_size, self.device)
        steps, pending, grad_steps, episode_returns = 0, 0, 0, []
        decay = max(1, int(self.exploration_fraction * n_steps))
        while steps < n_steps:
            e = int(self.rng.integers(len(streams)))
            s_e, r_stop, n = states[e], stop_rewards[e], streams[e].n_chunks
            # behaviour policy: epsilon-greedy on the CM, epsilon decaying linearly per step
            with torch.no_grad():
                greedy = self.cm(s_e).argmax(1).cpu().numpy()
            frac = np.minimum(1.0, (steps + np.arange(n)) / decay)
            eps = self.exploration_initial_eps + frac * (
                self.exploration_final_eps - self.exploration_initial_eps
            )
            explore = self.rng.random(n) < eps
            actions = np.where(explore, self.rng.integers(0, 2, n), greedy)
            stops = np.flatnonzero(actions == CheckpointModule.STOP)
            c = min(int(stops[0]) if stops.size else n - 1, n - 1, n_steps - steps - 1)
            # transitions of checkpoints 0..c: stop (terminal) and continue (to the next state)
            buf.add(s_e[: c + 1], CheckpointModule.STOP, r_stop[: c + 1], s_e[: c + 1],
                    torch.ones(c + 1, device=self.device), torch.zeros(c + 1, dtype=torch.bool, device=self.device))  # fmt: skip
            m = min(c + 1, n - 1)
            if m > 0:
                nxt_last = torch.arange(1, m + 1, device=self.device) == n - 1
                buf.add(s_e[:m], CheckpointModule.CONTINUE, torch.full((m,), self.read_reward, device=self.device),
                        s_e[1 : m + 1], torch.zeros(m, device=self.device), nxt_last)  # fmt: skip
            stopped = actions[c] == CheckpointModule.STOP or c == n - 1
            episode_returns.append(
                c * self.read_reward + (float(r_stop[c]) if stopped else self.read_reward)
            )
            steps += c + 1
            self.num_timesteps += c + 1
            if pbar is not None:
                pbar.update(c + 1)
            pending += c + 1
            while pending >= self.train_freq and steps > self.learning_starts:
                pending -= self.train_freq
                grad_steps += 1
                self._dqn_update(buf)
                if grad_steps % self.target_update_interval == 0:
                    with torch.no_grad():
                        for p_t, p in zip(
                            self.cm_target.parameters(), self.cm.parameters(), strict=True
                        ):
                            p_t.lerp_(p, self.tau)
        self.cm_target.load_state_dict(self.cm.state_dict())
        self._log(
            phase="cm",
            steps=steps,
            grad_steps=grad_steps,
            behaviour_return=float(np.mean(episode_returns)),
        )

    def _dqn_update(self, buf: _ReplayBuffer) -> None:
        """One DQN gradient step on a minibatch of the replay buffer."""
        s, a, r, nxt, done, nxt_last = buf.sample(self.rng, self.cm_batch_size)
        with torch.no_grad():
            # double DQN: the online CM picks the next action, the target CM values it
            q_next = self.cm_target(nxt)
            best = self.cm(nxt).argmax(1, keepdim=True)
            # on the last chunk the stop is forced: its value is the value of stopping
            best = torch.where(nxt_last[:, None], CheckpointModule.STOP, best)
            v_next = q_next.gather(1, best).squeeze(1)
            target = r + self.gamma * (1.0 - done) * v_next
        q = self.cm(s).gather(1, a[:, None]).squeeze(1)
        loss = F.mse_loss(q, target)
        self.cm_optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.cm.parameters(), self.max_grad_norm)
        self.cm_optimizer.step()

    # ================================================================== the schedule
    def learn(
        self,
        total_timesteps: int,
        callback: Callable[[dict[str, float]], bool | None] | None = None,
        progress_bar: bool = False,
    ) -> ERD:
        """Train: RDM pre-training (first call), then ``n_rounds`` of CM / RDM alternation.

        Args:
            total_timesteps: CM behaviour steps over all rounds.
            callback: called with the round's log after each round; returning ``False`` stops.
            progress_bar: show a tqdm bar of the CM steps.
        """
        if total_timesteps < 1:
            raise ValueError(f"total_timesteps={total_timesteps!r}: expected >= 1")
        if not self.pretrained:
            self.pretrain_rdm()
        per_round = max(1, total_timesteps // self.n_rounds)
        pbar = (
            tqdm(total=per_round * self.n_rounds, desc="ERD (CM steps)") if progress_bar else None
        )
        try:
            for r in range(self.n_rounds):
                if r > 0:
                    limits = np.array([d.chunk for d in self.decide(self._streams())])
                    for _ in range(self.rdm_epochs_per_round):
                        loss = self._rdm_epoch(self._streams(), limits)
                        self._log(phase="rdm_truncated", round=r, loss=loss)
                self._train_cm(per_round, pbar)
                log = self._round_log(r)
                if callback is not None and callback(log) is False:
                    break
        finally:
            if pbar is not None:
                pbar.close()
        return self

    def _round_log(self, r: int) -> dict[str, float]:
        from rlcore.erd.metrics import compute_metrics

        m = compute_metrics(self.decide(self._streams()))
        entry: dict[str, Any] = dict(train_accuracy=m["accuracy"], train_early_rate=m["early_rate"])
        if self.cm_env is not None:
            c = compute_metrics(self.decide(self._cm_streams()))
            entry.update(cm_accuracy=c["accuracy"], cm_early_rate=c["early_rate"])
        return self._log(phase="round", round=r, **entry)

    def _log(self, **entry: Any) -> dict[str, Any]:
        self.logs.append(entry)
        if self.verbose:
            print(
                "ERD "
                + " ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()
                )
            )
        return entry

    def _cm_features(self, states: torch.Tensor) -> torch.Tensor:
        """CM input of ``(N, hidden_size)`` GRU states: the states, and with
        ``cm_input="state+probs"`` the RDM's class probabilities: ``(N, cm_input_size)``."""
        if self.cm_input == "state":
            return states
        with torch.no_grad():
            probs = torch.softmax(self.rdm.classifier(states), dim=-1)
        return probs if self.cm_input == "probs" else torch.cat([states, probs], dim=-1)

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
                q = self.cm(self._cm_features(states)).cpu().numpy()
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
                )  # fmt: skip
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
            else np.array(state, dtype=np.float32)
        )
        if episode_start is not None:
            h[np.asarray(episode_start, dtype=bool).reshape(n)] = 0.0
        tokens = torch.as_tensor(obs[:, :-1].astype(np.int64), device=self.device)
        with torch.no_grad():
            _, states = self.rdm(tokens[:, None, :], torch.as_tensor(h, device=self.device))
            h_new = states[:, 0]
            answer = self.rdm.classifier(h_new).argmax(1).cpu().numpy()
            stop = (
                (self.cm(self._cm_features(h_new)).argmax(1) == CheckpointModule.STOP).cpu().numpy()
            )
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
        params, arrays = load_checkpoint(path, algorithm="ERD")
        hyper = {k: params[k] for k in _HYPER if k in params}
        model = cls(None, **hyper, device=device, _vocab=params["vocab"],
                    _max_chunk_tokens=params["max_chunk_tokens"])  # fmt: skip
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
            net.load_state_dict(state)
        model.pretrained, model.num_timesteps = params["pretrained"], params["num_timesteps"]
        return model
