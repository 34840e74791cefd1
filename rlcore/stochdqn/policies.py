"""Q-networks for StochDQN / StochDDQN that score a *candidate set* of actions, not all ``n``.

Every Q-network here implements

* ``q_values(obs, candidates)``: ``obs`` a batch of ``B`` observations, ``candidates`` an int64
  tensor ``(B, C)`` of actions -> ``(B, C)`` values ``Q(obs_b, candidates[b, j])``. Cost
  ``O(B * C)`` network rows: independent of ``n``.
* ``exact_max(obs)``: the exact ``(argmax, max)`` over all ``n`` actions, each ``(B,)``, computed
  in chunks of actions (``O(n)`` time, bounded memory). Used by the exact maximizer and by the
  explicit exact opt-in ``StochDQN.predict(obs, exact=True)`` (the agent's default greedy
  policy is its ``O(log n)`` maximizer). ``policy.predict`` / ``policy._predict`` (SB3's policy
  interface) is this exact argmax too: ``O(n)``; deploy the model's ``predict`` instead.

Two kinds of network:

(a) :class:`StateActionQNetwork` (policy ``"MlpPolicy"``, the default): a state-action scorer
    ``Q(s, a) = MLP([phi(s); x(a)])``. The action features ``x(a)`` are the action's continuous
    coordinates when the environment exposes an ``action_grid`` (``rlcore.envs.discretized``,
    ``rlcore/TargetReach-v0``), normalized to ``(-1, 1)`` per dimension and computed from the
    action index with integer arithmetic (no ``n``-row table); otherwise a learned embedding
    ``nn.Embedding(n, action_embedding_dim, sparse=True)``. The first layer is split into a
    state part (once per state) and an action part (once per candidate), which is the same
    function as one linear layer on the concatenation, at ``O(B + B*C)`` instead of
    ``O(B*C)`` state-feature work.
(b) :class:`ActionHeadQNetwork` (policy ``"ActionHeadPolicy"``): a state MLP ``z(s)`` and a
    per-action output head ``Q(s, a) = w_a . z(s) + b_a`` stored as a sparse-gradient embedding
    table of ``n`` rows ``[w_a, b_a]``; only candidate rows are gathered, so the backward pass
    produces a sparse gradient over the rows used.

Both are trained by :class:`SparseAwareAdam`: Adam on dense parameters and lazy Adam (update only
the rows present in the sparse gradient, like ``torch.optim.SparseAdam``) on sparse-gradient
tables, so an optimizer step costs ``O(rows used)`` and never ``O(n)``.

Choice of default: (a) with coordinates generalizes across neighbouring actions (an update of
one action moves the values of nearby actions), which is what lets a ``log n`` candidate set
find good actions in 1000-4096 action continuous-control tasks; (b) has to learn every row it
wants to use and is the natural choice when actions have no geometry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    create_mlp,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn
from torch.nn import functional as F

from rlcore.common.checks import available_memory_bytes
from rlcore.stochdqn.optim import SparseAwareAdam, clip_grad_norm

__all__ = [
    "SparseAwareAdam",
    "clip_grad_norm",
    "GridActionFeatures",
    "CandidateQNetwork",
    "StateActionQNetwork",
    "ActionHeadQNetwork",
    "StochDQNPolicy",
    "MlpPolicy",
    "CnnPolicy",
    "MultiInputPolicy",
    "ActionHeadPolicy",
    "check_rows_fit",
]


# --------------------------------------------------------------------------------------------
# Memory check
# --------------------------------------------------------------------------------------------
TABLE_COPIES = 4  # an n-row table lives in the online net, the target net and 2 Adam moments


def check_rows_fit(n_rows: int, row_size: int, what: str) -> None:
    """Raise ``MemoryError`` before allocating an ``(n_rows, row_size)`` float32 table whose
    :data:`TABLE_COPIES` copies (online and target network, two Adam moments) would not fit in
    the memory available now (the same check as the tabular agents' Q-table)."""
    nbytes = TABLE_COPIES * float(n_rows) * row_size * 4
    avail = available_memory_bytes()
    if nbytes > avail:
        raise MemoryError(
            f"{what}: a table of shape ({n_rows}, {row_size}) (float32; {TABLE_COPIES} copies: "
            f"online and target network, two Adam moments) needs {nbytes / 2**30:.2f} GiB but "
            f"only {avail / 2**30:.2f} GiB of memory is available; use fewer actions, a smaller "
            "row, or the MlpPolicy on an env with action coordinates (an action_grid), which "
            "has no n-row table"
        )


# --------------------------------------------------------------------------------------------
# Action features
# --------------------------------------------------------------------------------------------
class GridActionFeatures(nn.Module):
    """Normalized coordinates of the actions of a regular grid (C-order flattening).

    Action ``a`` has multi-index ``i = unravel_index(a, bins)`` and features
    ``u_j = -1 + (2 i_j + 1) / bins_j`` in ``(-1, 1)`` (the bin centre mapped affinely from the
    environment's ``[low_j, high_j]``). Maps int64 actions of shape ``S`` to ``S + (d,)`` floats
    in ``O(d)`` per action; there is no ``n``-row table.
    """

    def __init__(self, bins: Sequence[int]) -> None:
        super().__init__()
        b = th.as_tensor([int(x) for x in bins], dtype=th.int64)
        strides = th.ones_like(b)
        if len(b) > 1:
            strides[:-1] = th.flip(th.cumprod(th.flip(b[1:], [0]), 0), [0])
        self.register_buffer("bins", b, persistent=False)
        self.register_buffer("strides", strides, persistent=False)
        self.features_dim = len(b)
        self.n_1d = float(b[0])

    def forward(self, actions: th.Tensor) -> th.Tensor:
        if self.features_dim == 1:  # fast path: the index is the grid index
            return actions.unsqueeze(-1).float().mul_(2.0 / self.n_1d).add_(1.0 / self.n_1d - 1.0)
        idx = th.div(actions.unsqueeze(-1), self.strides, rounding_mode="floor") % self.bins
        return (2.0 * idx + 1.0) / self.bins - 1.0


# --------------------------------------------------------------------------------------------
# Q-networks
# --------------------------------------------------------------------------------------------
class CandidateQNetwork(BasePolicy):
    """Base class: a Q-network that scores given candidate actions (see module docstring)."""

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        exact_chunk_rows: int = 65536,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = [64, 64] if net_arch is None else list(net_arch)
        if not self.net_arch:
            raise ValueError("net_arch must have at least one hidden layer, got []")
        self.activation_fn = activation_fn
        self.features_dim = features_dim
        self.n_actions = int(action_space.n)
        self.exact_chunk_rows = int(exact_chunk_rows)

    def q_values(self, obs: PyTorchObs, candidates: th.Tensor) -> th.Tensor:
        """Values ``(B, C)`` of int64 ``candidates`` ``(B, C)`` in the ``B`` states ``obs``."""
        return self.score_features(self.extract_features(obs, self.features_extractor), candidates)

    def score_features(self, features: th.Tensor, candidates: th.Tensor) -> th.Tensor:
        """Like :meth:`q_values` from extracted state features ``(B, features_dim)``."""
        raise NotImplementedError

    def scorer(self, features: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        """A function scoring candidates ``(B, C)`` in the ``B`` states of ``features``, for
        repeated scoring of the same states (the maximizer's refinement rounds): the state part
        is computed once. Same values as :meth:`score_features`; meant for ``no_grad`` use."""
        return lambda candidates: self.score_features(features, candidates)

    def numpy_scorer(self, features: th.Tensor) -> Callable[[np.ndarray], np.ndarray] | None:
        """:meth:`scorer` as numpy functions of numpy candidates ``(B, C)`` -> float32 scores
        ``(B, C)``, or ``None`` where this network has no numpy form (the default; a network
        off the CPU). Same function as :meth:`scorer` up to float rounding; used on CPU for
        acting, whose rounds of refinement score a few dozen rows each, where numpy's call
        overhead is a fraction of torch's."""
        return None

    def exact_max(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """Exact ``(argmax, max)`` over all ``n`` actions, each ``(B,)``; ties -> lowest action.

        Scores chunks of actions so that at most ``exact_chunk_rows`` (state, action) rows are
        in memory at once: ``O(n)`` time, ``O(exact_chunk_rows)`` memory.
        """
        features = self.extract_features(obs, self.features_extractor)
        batch = features.shape[0]
        chunk = self._exact_chunk(batch)
        score_all = self._score_for_all(features)
        best_v = th.full((batch,), -math.inf, device=features.device)
        best_a = th.zeros(batch, dtype=th.int64, device=features.device)
        for start in range(0, self.n_actions, chunk):
            acts = th.arange(start, min(start + chunk, self.n_actions), device=features.device)
            values, idx = score_all(acts).max(dim=1)
            better = values > best_v
            best_v = th.where(better, values, best_v)
            best_a = th.where(better, acts[idx], best_a)
        return best_a, best_v

    def _exact_chunk(self, batch: int) -> int:
        """Actions per chunk of the exact max for ``batch`` states (at most ``exact_chunk_rows``
        (state, action) rows)."""
        return max(1, self.exact_chunk_rows // batch)

    def _score_for_all(self, features: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        """A function scoring the same actions ``(C,)`` in every one of the ``B`` states of
        ``features``: ``(B, C)`` (the chunks of the exact max and of ``forward``)."""
        batch = features.shape[0]
        return lambda actions: self.score_features(features, actions.expand(batch, -1))

    def forward(self, obs: PyTorchObs, candidates: th.Tensor | None = None) -> th.Tensor:
        """Q-values, with the meaning of SB3's ``DQN.q_net(obs)``.

        ``candidates=None``: the values of all ``n`` actions, ``(B, n)`` (as SB3): ``O(n)`` time
        and memory per state, scored in chunks of at most ``exact_chunk_rows`` (state, action)
        rows; a ``MemoryError`` is raised before allocating a ``(B, n)`` result that cannot fit.
        With int64 ``candidates`` ``(B, C)``: their values ``(B, C)`` (:meth:`q_values`,
        ``O(C)`` per state), the way to query a network with a large ``n``. The greedy action
        is :meth:`exact_max` (``O(n)``) or the algorithm's ``predict`` (``O(log n)``).
        """
        if candidates is not None:
            return self.q_values(obs, candidates)
        features = self.extract_features(obs, self.features_extractor)
        batch, n = features.shape[0], self.n_actions
        need, avail = 4.0 * batch * n, available_memory_bytes()
        if need > avail:
            raise MemoryError(
                f"q_net(obs): the Q-values of all n={n} actions for {batch} states need "
                f"{need / 2**30:.2f} GiB but only {avail / 2**30:.2f} GiB of memory is available; "
                "pass candidates (q_net(obs, candidates) / q_values) or use exact_max"
            )
        values = th.empty((batch, n), device=features.device)
        chunk = self._exact_chunk(batch)
        score_all = self._score_for_all(features)
        for start in range(0, n, chunk):
            acts = th.arange(start, min(start + chunk, n), device=features.device)
            values[:, start : start + len(acts)] = score_all(acts)
        return values

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        return self.exact_max(observation)[0]

    @classmethod
    def load(  # type: ignore[override]
        cls, path: str, device: th.device | str = "auto", allow_pickle: bool = False
    ) -> CandidateQNetwork:
        """SB3's ``load`` of a network saved with ``save`` (torch's pickle-based ``th.save``):
        refused unless ``allow_pickle=True`` (unpickling a file can run code; use it for files
        you trust). The safe alternatives are the policy's and the model's ``save`` / ``load``."""
        if not allow_pickle:
            raise ValueError(
                f"{path}: a Q-network saved with th.save is a pickle (loading it can run code); "
                "refused. Pass allow_pickle=True for a file you trust, or save the policy "
                "(model.policy.save) or the model (model.save) in rlcore's safe format"
            )
        return super().load(path, device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            features_dim=self.features_dim,
            activation_fn=self.activation_fn,
            features_extractor=self.features_extractor,
            exact_chunk_rows=self.exact_chunk_rows,
        )
        return data


class StateActionQNetwork(CandidateQNetwork):
    """(a) ``Q(s, a) = MLP([phi(s); x(a)])`` -> scalar (see module docstring).

    Args (besides :class:`CandidateQNetwork`'s):
        action_bins: per-dimension bins of the environment's action grid (product must be
            ``n``): use :class:`GridActionFeatures`. ``None``: a learned sparse embedding.
        action_embedding_dim: size of the learned embedding (only without ``action_bins``).
    """

    def __init__(
        self,
        *args: Any,
        action_bins: Sequence[int] | None = None,
        action_embedding_dim: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.action_bins = None if action_bins is None else [int(b) for b in action_bins]
        self.action_embedding_dim = int(action_embedding_dim)
        if self.action_bins is not None:
            if math.prod(self.action_bins) != self.n_actions:
                raise ValueError(
                    f"action_bins={self.action_bins} has {math.prod(self.action_bins)} grid "
                    f"points but the action space has n={self.n_actions} actions"
                )
            self.action_features: nn.Module = GridActionFeatures(self.action_bins)
            action_dim = len(self.action_bins)
        else:
            check_rows_fit(
                self.n_actions,
                self.action_embedding_dim,
                "MlpPolicy (learned action embedding, no action_grid)",
            )
            self.action_features = nn.Embedding(
                self.n_actions, self.action_embedding_dim, sparse=True
            )
            nn.init.uniform_(self.action_features.weight, -1.0, 1.0)
            action_dim = self.action_embedding_dim
        hidden = self.net_arch[0]
        self.state_in = nn.Linear(self.features_dim, hidden)
        self.action_in = nn.Linear(action_dim, hidden, bias=False)
        layers = create_mlp(hidden, 1, self.net_arch[1:], self.activation_fn)
        self.body = nn.Sequential(self.activation_fn(), *layers)

    CACHE_BYTES = 2 * 2**20
    """Bytes of hidden activations per chunk of the exact max (at most): every (state, action)
    row carries ``max(net_arch)`` floats through the body, and chunks that stay in the CPU's
    cache score 3-4x faster than 65536-row chunks (measured on this project's machine:
    TargetReach n=10^5, 64 states: 1.7 s against 4.5 s; HalfCheetah 4096: 74 ms against 375 ms)."""

    def _exact_chunk(self, batch: int) -> int:
        rows = min(self.exact_chunk_rows, self.CACHE_BYTES // (4 * max(self.net_arch)))
        return max(1, rows // batch)

    def _score_for_all(self, features: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        # the state part once, each chunk's action part once (not once per state)
        h_state = self.state_in(features).unsqueeze(1)  # (B, 1, H)

        def score(actions: th.Tensor) -> th.Tensor:
            h_action = self.action_in(self.action_features(actions))  # (C, H)
            return self.body(h_state + h_action).squeeze(-1)  # (B, C)

        return score

    def score_features(self, features: th.Tensor, candidates: th.Tensor) -> th.Tensor:
        h_state = self.state_in(features).unsqueeze(1)  # (B, 1, H)
        h_action = self.action_in(self.action_features(candidates))  # (B, C, H)
        return self.body(h_state + h_action).squeeze(-1)  # (B, C)

    def scorer(self, features: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        h_state = F.linear(features, self.state_in.weight, self.state_in.bias).unsqueeze(1)
        w_action = self.action_in.weight
        # the body as plain functions (no nn.Module call overhead per layer and round)
        ops: list[Callable[[th.Tensor], th.Tensor]] = []
        for m in self.body:
            if type(m) is nn.Linear:
                ops.append(lambda x, w=m.weight, b=m.bias: F.linear(x, w, b))
            elif type(m) is nn.ReLU:
                ops.append(th.relu)
            else:
                ops.append(m)
        features_of = self.action_features.forward

        def score(candidates: th.Tensor) -> th.Tensor:
            x = h_state + F.linear(features_of(candidates), w_action)
            for op in ops:
                x = op(x)
            return x.squeeze(-1)

        return score

    def numpy_scorer(self, features: th.Tensor) -> Callable[[np.ndarray], np.ndarray] | None:
        """:meth:`scorer` in numpy on CPU when the body is ``nn.Linear`` / ``nn.ReLU`` layers
        (the ``MlpPolicy`` default); ``None`` otherwise. The parameters are read through
        zero-copy views (rebuilt when a parameter's storage changes) and copied, per call, into
        the contiguous layouts the scoring rounds multiply fastest (a few KiB), so the scorer
        always sees the current network."""
        weight = self.state_in.weight
        if weight.device.type != "cpu" or weight.dtype != th.float32:
            return None
        key, modules = self._numpy_key()
        cached = self.__dict__.get("_numpy_form")
        if (
            cached is None
            or cached[0] != key
            or any(a is not b for a, b in zip(cached[1], modules, strict=True))
        ):
            cached = (key, modules, self._numpy_form_of())
            self.__dict__["_numpy_form"] = cached
        form = cached[2]
        if form is None:
            return None
        w_state, b_state, action_x, w_action, views = form
        # per call: (in, out) contiguous copies of the body's weights, the state part once
        layers = [None if v is None else (v[0].T.copy(), v[1]) for v in views]
        h_state = (features.detach().numpy() @ w_state.T + b_state)[:, None, :]  # (B, 1, H)
        if action_x is None:  # 1-D grid: x(a) = scale * a + shift, so the first layer is affine
            scale, shift = self._numpy_1d
            w_a = w_action[:, 0]
            base, slope = h_state + shift * w_a, scale * w_a

            def first(candidates: np.ndarray) -> np.ndarray:
                return base + candidates.astype(np.float32)[..., None] * slope

        else:
            w_a = w_action.T.copy()

            def first(candidates: np.ndarray) -> np.ndarray:
                return h_state + action_x(candidates) @ w_a

        def score(candidates: np.ndarray) -> np.ndarray:
            batch, width = candidates.shape
            x = first(candidates).reshape(batch * width, -1)
            for layer in layers:
                if layer is None:
                    np.maximum(x, 0.0, out=x)
                else:
                    x = x @ layer[0]
                    if layer[1] is not None:
                        x += layer[1]
            return x.reshape(batch, width)

        return score

    def _numpy_key(self) -> tuple[tuple[int, ...], tuple[nn.Module, ...]]:
        """The storage addresses of the parameters the numpy form views and the modules it was
        built from (compared by identity: a replaced parameter or module rebuilds it); cheaper
        than walking ``parameters()``."""
        modules = (self.state_in, self.action_in, self.action_features, *self.body)
        key = []
        for m in modules:
            if isinstance(m, nn.Linear | nn.Embedding):
                key.append(m.weight.data_ptr())
                bias = getattr(m, "bias", None)
                if bias is not None:
                    key.append(bias.data_ptr())
        return tuple(key), modules

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the numpy form (closures and views of this process's storage; it is
        rebuilt on first use)."""
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {k: v for k, v in state.items() if k not in ("_numpy_form", "_numpy_1d")}

    def _numpy_form_of(self) -> tuple[Any, ...] | None:
        """Numpy views of the weights (``(out, in)`` as torch stores them) and the
        action-feature map (None for a 1-D grid: affine, see :meth:`numpy_scorer`), or None
        when a layer has no numpy form."""
        views: list[tuple[np.ndarray, np.ndarray | None] | None] = []  # None = ReLU
        for m in self.body:
            if type(m) is nn.Linear:
                bias = None if m.bias is None else m.bias.detach().numpy()
                views.append((m.weight.detach().numpy(), bias))
            elif type(m) is nn.ReLU:
                views.append(None)
            else:
                return None
        feats = self.action_features
        action_x: Callable[[np.ndarray], np.ndarray] | None
        if isinstance(feats, GridActionFeatures):
            n_1d = np.float32(feats.n_1d)
            # GridActionFeatures.forward's 1-D fast path: float32(a) * (2 / n) + (1 / n - 1)
            self._numpy_1d = (np.float32(2.0) / n_1d, np.float32(1.0) / n_1d - np.float32(1.0))
            if feats.features_dim == 1:
                action_x = None
            else:
                bins = feats.bins.numpy()
                bins_f = bins.astype(np.float32)
                strides = feats.strides.numpy()

                def action_x(cand: np.ndarray) -> np.ndarray:
                    idx = ((cand[..., None] // strides) % bins).astype(np.float32)
                    return (np.float32(2.0) * idx + np.float32(1.0)) / bins_f - np.float32(1.0)

        elif isinstance(feats, nn.Embedding):
            table = feats.weight.detach().numpy()

            def action_x(cand: np.ndarray) -> np.ndarray:
                return table[cand]

        else:
            return None
        bias = self.state_in.bias
        b_state = np.zeros(1, np.float32) if bias is None else bias.detach().numpy()
        w_state = self.state_in.weight.detach().numpy()
        return w_state, b_state, action_x, self.action_in.weight.detach().numpy(), views

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(action_bins=self.action_bins, action_embedding_dim=self.action_embedding_dim)
        return data


class ActionHeadQNetwork(CandidateQNetwork):
    """(b) ``Q(s, a) = w_a . z(s) + b_a``: state MLP ``z`` and a sparse-gradient ``n``-row head.

    The head is ``nn.Embedding(n, H + 1, sparse=True)`` (row ``a`` is ``[w_a, b_a]``); scoring
    candidates gathers their rows only, and its gradient is sparse over those rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hidden = self.net_arch[-1]
        self.body = nn.Sequential(
            *create_mlp(self.features_dim, -1, self.net_arch, self.activation_fn)
        )
        check_rows_fit(self.n_actions, hidden + 1, "ActionHeadPolicy (per-action head)")
        self.head = nn.Embedding(self.n_actions, hidden + 1, sparse=True)
        bound = 1.0 / math.sqrt(hidden)
        nn.init.uniform_(self.head.weight, -bound, bound)

    def score_features(self, features: th.Tensor, candidates: th.Tensor) -> th.Tensor:
        z = self.body(features)  # (B, H)
        rows = self.head(candidates)  # (B, C, H + 1)
        return th.einsum("bch,bh->bc", rows[..., :-1], z) + rows[..., -1]

    def scorer(self, features: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        z = self.body(features).unsqueeze(2)  # (B, H, 1), once
        weight = self.head.weight

        def score(candidates: th.Tensor) -> th.Tensor:
            rows = weight[candidates]  # (B, C, H + 1)
            return th.bmm(rows[..., :-1], z).squeeze(2) + rows[..., -1]

        return score

    def exact_max(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """Exact max with one matrix product per chunk of head rows (``O(n)``)."""
        z = self.body(self.extract_features(obs, self.features_extractor))
        batch = z.shape[0]
        chunk = max(1, self.exact_chunk_rows // batch)
        weight = self.head.weight
        best_v = th.full((batch,), -math.inf, device=z.device)
        best_a = th.zeros(batch, dtype=th.int64, device=z.device)
        for start in range(0, self.n_actions, chunk):
            rows = weight[start : start + chunk]
            values, idx = (z @ rows[:, :-1].T + rows[:, -1]).max(dim=1)
            better = values > best_v
            best_v = th.where(better, values, best_v)
            best_a = th.where(better, idx + start, best_a)
        return best_a, best_v


# --------------------------------------------------------------------------------------------
# Policies (online + target network + optimizer), SB3 style
# --------------------------------------------------------------------------------------------
class StochDQNPolicy(BasePolicy):
    """Online Q-network, target Q-network and a :class:`SparseAwareAdam` optimizer.

    ``predict(obs, deterministic=True)`` (and ``deterministic=False``: the policy alone has no
    exploration) returns the exact argmax of the online network over all ``n`` actions,
    computed in chunks: a pure function of the parameters. Exploration and the stochastic
    maximizer live in the algorithm (:class:`rlcore.stochdqn.StochDQN`).
    """

    q_net: CandidateQNetwork
    q_net_target: CandidateQNetwork
    q_net_class: type[CandidateQNetwork] = StateActionQNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = SparseAwareAdam,
        optimizer_kwargs: dict[str, Any] | None = None,
        exact_chunk_rows: int = 65536,
        **q_net_kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=normalize_images,
        )
        self.net_arch = [64, 64] if net_arch is None else list(net_arch)
        self.activation_fn = activation_fn
        self.exact_chunk_rows = exact_chunk_rows
        self.q_net_kwargs = q_net_kwargs
        self.net_args = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "net_arch": self.net_arch,
            "activation_fn": self.activation_fn,
            "normalize_images": normalize_images,
            "exact_chunk_rows": exact_chunk_rows,
            **q_net_kwargs,
        }
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        self.q_net = self.make_q_net()
        self.q_net_target = self.make_q_net()
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.set_training_mode(False)
        self.q_net_target.requires_grad_(False)
        self._q_net_modules = list(self.q_net.modules())
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.q_net.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def make_q_net(self) -> CandidateQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return self.q_net_class(**net_args).to(self.device)

    def forward(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        return self.q_net.exact_max(obs)[0]

    def save(self, path: str) -> None:  # type: ignore[override]
        """Save the policy alone (constructor arguments and parameters) in the safe, atomic
        format of :mod:`rlcore.stochdqn.checkpoint` (SB3's writes a pickle)."""
        from rlcore.stochdqn.checkpoint import save_policy

        save_policy(self, path)

    @classmethod
    def load(  # type: ignore[override]
        cls, path: str, device: th.device | str = "auto", allow_pickle: bool = False
    ) -> StochDQNPolicy:
        """Load a policy written by :meth:`save`; no code runs unless ``allow_pickle``."""
        from rlcore.stochdqn.checkpoint import load_policy

        return load_policy(cls, path, device, allow_pickle)

    def set_training_mode(self, mode: bool) -> None:
        """Train / eval mode of the online network (the target network stays in eval mode).

        SB3 switches modes twice per environment step; setting the flag on a cached module list
        instead of walking the module tree saves a measurable share of a small network's step.
        """
        if self.q_net.training != mode:
            for module in self._q_net_modules:
                module.__dict__["training"] = mode  # what nn.Module.train sets, minus overhead
        self.__dict__["training"] = mode

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            lr_schedule=self._dummy_schedule,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            features_extractor_class=self.features_extractor_class,
            features_extractor_kwargs=self.features_extractor_kwargs,
            exact_chunk_rows=self.exact_chunk_rows,
            **self.q_net_kwargs,
        )
        return data


class MlpPolicy(StochDQNPolicy):
    """(a) State-action scorer ``MLP([phi(s); x(a)])`` (default). Extra policy kwargs:
    ``action_bins`` (filled from the env's ``action_grid`` when available) and
    ``action_embedding_dim`` (learned sparse embedding used when there is no grid)."""

    q_net_class = StateActionQNetwork


class ActionHeadPolicy(StochDQNPolicy):
    """(b) Per-action output head with sparse-gradient rows."""

    q_net_class = ActionHeadQNetwork


class CnnPolicy(MlpPolicy):
    """(a) on image observations: SB3's ``NatureCNN`` features (SB3's ``CnnPolicy`` extractor)
    feeding the state-action scorer ``MLP([phi(s); x(a)])``; same kwargs as :class:`MlpPolicy`."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            features_extractor_class,
            **kwargs,
        )


class MultiInputPolicy(MlpPolicy):
    """(a) on ``Dict`` observations: SB3's ``CombinedExtractor`` (a CNN per image key, flatten
    for the others, concatenated; SB3's ``MultiInputPolicy`` extractor) feeding the state-action
    scorer; same kwargs as :class:`MlpPolicy`."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            features_extractor_class,
            **kwargs,
        )
