"""The checkpoint module's inputs and its DQN training (the RDM frozen).

Inputs (``cm_input``), computed from the RDM's GRU states:

* ``"state"``: the GRU state (the paper);
* ``"state+probs"``: the state and the RDM's two class probabilities;
* ``"probs"``: the class probabilities only (a learned confidence threshold);
* ``"probs+delta"``: the probabilities and the change of the rumour probability since the
  previous chunk (0 at the first chunk): how the evidence is moving.

Training (:class:`CheckpointTrainer`): DQN with epsilon-greedy exploration (SB3's
``LinearSchedule``), SB3's ``ReplayBuffer``, a target network updated by SB3's
``polyak_update``, double-DQN targets and a squared loss. With the RDM frozen, the outcome of
*both* actions at a visited checkpoint is known (stop: the RDM's answer is right or wrong;
continue: the next state), so both transitions are stored. On the last chunk the stop is
forced, so a continue into it is terminal with the read reward plus the discounted reward of
that forced stop. The squared loss (not SB3's Huber loss) fits the expected value of a stop,
whose outcomes (``correct_reward`` or ``wrong_reward``) are far apart.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.utils import LinearSchedule, polyak_update

from rlcore.erd.networks import RDM, CheckpointModule

CM_INPUTS: tuple[str, ...] = ("state", "state+probs", "probs", "probs+delta")


def cm_input_size(cm_input: str, hidden_size: int) -> int:
    """Width of the checkpoint module's input for ``cm_input``."""
    sizes = {"state": hidden_size, "state+probs": hidden_size + 2, "probs": 2, "probs+delta": 3}
    if cm_input not in sizes:
        raise ValueError(f"cm_input {cm_input!r}: expected one of {list(CM_INPUTS)}")
    return sizes[cm_input]


def cm_features(
    rdm: RDM, states: torch.Tensor, prev_states: torch.Tensor, cm_input: str
) -> torch.Tensor:
    """Checkpoint-module inputs.

    Args:
        rdm: the RDM (its classifier maps states to class logits).
        states: ``(N, hidden_size)`` GRU states after the chunk just read.
        prev_states: ``(N, hidden_size)`` GRU states before it (all zeros at a stream's start).
        cm_input: one of :data:`CM_INPUTS`.

    Returns:
        ``(N, cm_input_size)`` features.
    """
    if cm_input == "state":
        return states
    with torch.no_grad():
        probs = torch.softmax(rdm.classifier(states), dim=-1)
        if cm_input == "state+probs":
            return torch.cat([states, probs], dim=-1)
        if cm_input == "probs":
            return probs
        if cm_input != "probs+delta":
            raise ValueError(f"cm_input {cm_input!r}: expected one of {list(CM_INPUTS)}")
        prev = torch.softmax(rdm.classifier(prev_states), dim=-1)
        first = (prev_states == 0).all(dim=-1)
        delta = torch.where(first, torch.zeros_like(probs[:, 1]), probs[:, 1] - prev[:, 1])
        return torch.cat([probs, delta[:, None]], dim=-1)


def sequence_features(rdm: RDM, states: torch.Tensor, cm_input: str) -> torch.Tensor:
    """:func:`cm_features` of one stream's ``(n_chunks, hidden_size)`` GRU states."""
    prev = torch.cat([torch.zeros_like(states[:1]), states[:-1]], dim=0)
    return cm_features(rdm, states, prev, cm_input)


class CheckpointTrainer:
    """DQN of the checkpoint module over precomputed features (see the module docstring).

    Args:
        cm: the online Q-network (``(N, input_size)`` -> ``(N, 2)``: continue, stop).
        learning_rate, gamma, buffer_size, batch_size, learning_starts, train_freq,
        target_update_interval, tau, max_grad_norm: as in SB3's DQN.
        exploration_initial_eps, exploration_final_eps, exploration_fraction: the epsilon
            schedule of each call of :meth:`train`.
        read_reward: reward of a continue.
        device: torch device of the networks.
    """

    def __init__(
        self,
        cm: CheckpointModule,
        *,
        learning_rate: float,
        gamma: float,
        buffer_size: int,
        batch_size: int,
        learning_starts: int,
        train_freq: int,
        target_update_interval: int,
        tau: float,
        max_grad_norm: float,
        exploration_initial_eps: float,
        exploration_final_eps: float,
        exploration_fraction: float,
        read_reward: float,
        device: torch.device,
    ) -> None:
        self.cm, self.cm_target = cm, copy.deepcopy(cm)
        self.optimizer = torch.optim.Adam(cm.parameters(), lr=learning_rate)
        self.gamma, self.buffer_size, self.batch_size = gamma, buffer_size, batch_size
        self.learning_starts, self.train_freq = learning_starts, train_freq
        self.target_update_interval, self.tau = target_update_interval, tau
        self.max_grad_norm, self.read_reward, self.device = max_grad_norm, read_reward, device
        self.eps_start, self.eps_end = exploration_initial_eps, exploration_final_eps
        self.exploration_fraction = exploration_fraction
        size = cm.net[0].in_features
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def train(
        self,
        features: Sequence[torch.Tensor],
        stop_rewards: Sequence[np.ndarray],
        n_steps: int,
        rng: np.random.Generator,
        on_episode: Callable[[int], bool] | None = None,
    ) -> dict[str, float]:
        """Run ``n_steps`` behaviour steps (checkpoints visited) of epsilon-greedy episodes.

        Args:
            features: per stream, ``(n_chunks, input_size)`` CM inputs.
            stop_rewards: per stream, ``(n_chunks,)`` reward of stopping at each chunk.
            n_steps: behaviour steps of this call.
            rng: the episode / exploration generator.
            on_episode: called with the steps of each episode; ``False`` stops training.

        Returns:
            ``{"steps", "grad_steps", "behaviour_return", "loss"}``.
        """
        buf = ReplayBuffer(
            self.buffer_size,
            self.observation_space,
            self.action_space,
            device=self.device,
            handle_timeout_termination=False,
        )
        schedule = LinearSchedule(self.eps_start, self.eps_end, self.exploration_fraction)
        feats = [f.detach().cpu().numpy().astype(np.float32) for f in features]
        steps, pending, grad_steps, returns, losses = 0, 0, 0, [], []
        stop, cont = CheckpointModule.STOP, CheckpointModule.CONTINUE
        while steps < n_steps:
            e = int(rng.integers(len(feats)))
            x, r_stop, n = feats[e], stop_rewards[e], len(feats[e])
            with torch.no_grad():
                greedy = self.cm(torch.as_tensor(x, device=self.device)).argmax(1).cpu().numpy()
            eps = np.array([schedule(1.0 - (steps + i) / n_steps) for i in range(n)])
            actions = np.where(rng.random(n) < eps, rng.integers(0, 2, n), greedy)
            stops = np.flatnonzero(actions == stop)
            c = min(int(stops[0]) if stops.size else n - 1, n - 1, n_steps - steps - 1)
            for i in range(c + 1):
                buf.add(x[i : i + 1], x[i : i + 1], np.array([[stop]]), np.array([r_stop[i]]),
                        np.array([1.0]), [{}])  # fmt: skip
                if i < n - 1:  # continue: to the next chunk; into the last one it is terminal
                    last = i + 1 == n - 1
                    r = self.read_reward + (self.gamma * r_stop[i + 1] if last else 0.0)
                    buf.add(x[i : i + 1], x[i + 1 : i + 2], np.array([[cont]]), np.array([r]),
                            np.array([float(last)]), [{}])  # fmt: skip
            stopped = actions[c] == stop or c == n - 1
            returns.append(
                c * self.read_reward + (float(r_stop[c]) if stopped else self.read_reward)
            )
            steps += c + 1
            pending += c + 1
            while pending >= self.train_freq and steps > self.learning_starts:
                pending -= self.train_freq
                grad_steps += 1
                losses.append(self._update(buf))
                if grad_steps % self.target_update_interval == 0:
                    polyak_update(self.cm.parameters(), self.cm_target.parameters(), self.tau)
            if on_episode is not None and on_episode(c + 1) is False:
                break
        self.cm_target.load_state_dict(self.cm.state_dict())
        return {
            "steps": float(steps),
            "grad_steps": float(grad_steps),
            "behaviour_return": float(np.mean(returns)),
            "loss": float(np.mean(losses)) if losses else float("nan"),
        }

    def _update(self, buf: ReplayBuffer) -> float:
        """One double-DQN gradient step on a minibatch of ``buf``; returns the loss."""
        batch = buf.sample(self.batch_size)
        a = batch.actions.long()
        r, done = batch.rewards.squeeze(1), batch.dones.squeeze(1)
        with torch.no_grad():
            best = self.cm(batch.next_observations).argmax(1, keepdim=True)
            v_next = self.cm_target(batch.next_observations).gather(1, best).squeeze(1)
            target = r + self.gamma * (1.0 - done) * v_next
        q = self.cm(batch.observations).gather(1, a).squeeze(1)
        loss = F.mse_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.cm.parameters(), self.max_grad_norm)
        self.optimizer.step()
        return float(loss.item())
