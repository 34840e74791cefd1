"""Stochastic maximization: max / argmax over a small candidate set instead of all n actions.

This is the one place where the idea of Fourati, Aggarwal and Alouini (ICML 2024,
"Stochastic Q-learning for Large Discrete Action Spaces") lives; every agent of the package
calls it.

The candidate set of a state is ``C = R ∪ M`` where

* ``R`` holds ``k`` *distinct* actions drawn uniformly at random from ``[0, n)``
  (default ``k = ceil(log2 n)``), and
* ``M`` holds a few remembered actions (for example the actions most recently exploited in that
  state, or the actions of a replay minibatch).

Cost: drawing ``R`` costs ``O(B * k log k)`` for a batch of ``B`` states and never touches all
``n`` actions (no ``randperm(n)``, no ``choice(n, replace=False)``), so a stochastic max costs
``O(B * |C|)`` score evaluations whatever ``n`` is. The one exception is ``n <= 2 k**2`` (tiny
action spaces, where ``n`` is itself bounded by ``O(log^2 n)``), which uses a partial shuffle of
all ``n`` actions, and ``k >= n``, where ``C`` is every action and the result is the exact max.

Batching: by default every row of a batch gets its **own, independent** ``R``
(``shared=False``). With ``shared=True`` one ``R`` is drawn and used for the whole batch, which
is cheaper to score with a per-action output head (one gather of ``k`` columns) at the price of
correlated errors across the batch.

Ties are broken towards the first candidate in the row (``R`` comes before ``M``).

Local refinement (beyond the paper). When the actions are the points of a regular grid (action
``a`` has integer coordinates ``unravel_index(a, bins)``), :class:`GridNeighbourhood` lists, for
each action, its coordinate-wise neighbours at distances ``1, 2, 4, ...`` (below the number of
bins of the coordinate) in both directions: ``2 * sum_j ceil(log2 bins_j)``, about
``2 log2 n``, actions. :func:`refine_on_grid` moves each row's best candidate to its best
neighbour (or to the combination of every coordinate's best move) for a few rounds, a
multi-scale coordinate search: ``O(rounds * log n)`` more scores per state, never ``O(n)``. It never lowers the value found, so the stochastic max still never
exceeds the exact max.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "default_num_random",
    "sample_distinct",
    "candidate_set",
    "argmax_over_candidates",
    "stoch_argmax",
    "StateActionMemory",
    "RecentActions",
    "GridNeighbourhood",
    "refine_on_grid",
]


_FLOAT_EXACT = 2**40  # below this, floor(u * n) with a float64 u is uniform to ~1e-4 relative


def _check_n(n: Any) -> int:
    if type(n) is int and n >= 1:  # fast path of the per-step calls
        return n
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 1:
        raise ValueError(f"the number of actions n must be a positive integer, got {n!r}")
    return int(n)


def default_num_random(n: int) -> int:
    """Size ``k`` of the random part ``R`` of the candidate set: ``ceil(log2 n)``, at least 1."""
    n = _check_n(n)
    return max(1, math.ceil(math.log2(n)))


def sample_distinct(rng: np.random.Generator, n: int, k: int, batch_size: int = 1) -> np.ndarray:
    """Draw ``batch_size`` independent uniform ``k``-subsets of ``[0, n)``.

    Args:
        rng: numpy random generator (the only source of randomness, so results are seeded).
        n: number of actions, ``n >= 1``.
        k: subset size, ``k >= 1``. With ``k >= n`` every row is ``arange(n)`` (all actions).
        batch_size: number of rows ``B``.

    Returns:
        int64 array of shape ``(B, min(k, n))``; each row holds distinct actions, and every
        action is in a row with probability exactly ``min(k, n) / n``.

    Cost ``O(B k log k)`` expected (rejection of rows that drew a repeat, which happens with
    probability below ``k**2 / (2n) <= 1/4`` here), except for ``n <= 2 k**2``, which shuffles
    the ``n`` actions of each row (``O(n) = O(k**2)``).
    """
    n = _check_n(n)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"the number of random candidates k must be a positive integer, got {k!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    k = int(k)
    if k >= n:
        return np.broadcast_to(np.arange(n, dtype=np.int64), (batch_size, n)).copy()
    if n <= 2 * k * k:
        keys = rng.random((batch_size, n))
        return np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int64, copy=False)
    if batch_size == 1 and n <= _FLOAT_EXACT:
        # The per-step call of tabular agents, where numpy's call overhead dominates:
        # floor(u * n) of uniform floats (exactly uniform up to n / 2**53) and a set.
        while True:
            row = [int(u * n) for u in rng.random(k).tolist()]
            if len(set(row)) == k:
                return np.array([row], dtype=np.int64)
    out = rng.integers(0, n, size=(batch_size, k), dtype=np.int64)
    while True:
        s = np.sort(out, axis=1)
        repeat = (s[:, 1:] == s[:, :-1]).any(axis=1)
        n_repeat = int(repeat.sum())
        if n_repeat == 0:
            return out
        out[repeat] = rng.integers(0, n, size=(n_repeat, k), dtype=np.int64)


def candidate_set(
    rng: np.random.Generator,
    n: int,
    batch_size: int = 1,
    num_random: int | None = None,
    memory: np.ndarray | None = None,
    shared: bool = False,
) -> np.ndarray:
    """Candidate actions ``C = R ∪ M`` for a batch of states.

    Args:
        rng: numpy random generator.
        n: number of actions.
        batch_size: number of states ``B``.
        num_random: ``k = |R|``; ``None`` means :func:`default_num_random` ``(n)``.
        memory: remembered actions, int array of shape ``(B, m)`` (per state) or ``(m,)``
            (the same for every state); ``-1`` marks an empty slot. ``None``: no memory.
        shared: draw one ``R`` for the whole batch instead of one per row.

    Returns:
        int64 array of shape ``(B, k' + m)`` with ``k' = min(k, n)``: the ``R`` columns first,
        then the memory columns (empty slots repeat the row's first random action, which
        leaves max and argmax unchanged).
    """
    n = _check_n(n)
    k = default_num_random(n) if num_random is None else num_random
    rand = sample_distinct(rng, n, k, 1 if shared else batch_size)
    if shared:
        rand = np.broadcast_to(rand, (batch_size, rand.shape[1]))
    if memory is None:
        return np.ascontiguousarray(rand)
    mem = np.asarray(memory)
    one_row = mem.ndim == 1 or (mem.ndim == 2 and mem.shape[0] == 1)
    if batch_size == 1 and one_row and mem.dtype.kind in "iu" and mem.size <= 64:
        # the per-step call of tabular agents: plain Python on a handful of ints
        r, m = rand[0].tolist(), mem.reshape(-1).tolist()
        if m and not (-1 <= min(m) and max(m) < n):
            raise ValueError(f"memory holds an action outside [0, {n}) (or -1 for empty): {mem}")
        return np.array([r + [a if a >= 0 else r[0] for a in m]], dtype=np.int64)
    if mem.dtype.kind not in "iu":
        raise TypeError(f"memory must hold integer actions, got dtype {mem.dtype}")
    if mem.ndim == 1:
        mem = np.broadcast_to(mem, (batch_size, mem.shape[0]))
    if mem.ndim != 2 or mem.shape[0] != batch_size:
        raise ValueError(f"memory must have shape (B, m) with B={batch_size}, got {mem.shape}")
    if mem.size and not (-1 <= mem.min() and mem.max() < n):
        raise ValueError(f"memory holds an action outside [0, {n}) (or -1 for empty): {mem}")
    mem = np.where(mem >= 0, mem, rand[:, :1]).astype(np.int64, copy=False)
    return np.concatenate([rand, mem], axis=1)


def argmax_over_candidates(scores: Any, candidates: np.ndarray) -> tuple[Any, Any]:
    """Argmax and max of ``scores`` over each row's candidates.

    Args:
        scores: numpy array or torch tensor of shape ``(B, C)``; ``scores[b, j]`` is the value
            of action ``candidates[b, j]`` in state ``b``.
        candidates: int array (numpy, or torch tensor) of shape ``(B, C)``.

    Returns:
        ``(actions, values)``, each of shape ``(B,)``, of the same kind (numpy / torch, and
        device) as ``scores``; ``actions`` is int64.
    """
    if isinstance(scores, np.ndarray):
        idx = scores.argmax(axis=1)
        rows = np.arange(scores.shape[0])
        return np.asarray(candidates)[rows, idx].astype(np.int64, copy=False), scores[rows, idx]
    import torch

    values, idx = scores.max(dim=1)
    if isinstance(candidates, torch.Tensor):
        cand = candidates.to(scores.device)
    else:
        cand = torch.as_tensor(np.asarray(candidates), device=scores.device)
    return cand.gather(1, idx.unsqueeze(1)).squeeze(1), values


def stoch_argmax(
    score_fn: Callable[[np.ndarray], Any],
    n: int,
    rng: np.random.Generator,
    batch_size: int = 1,
    num_random: int | None = None,
    memory: np.ndarray | None = None,
    shared: bool = False,
) -> tuple[Any, Any, np.ndarray]:
    """Stochastic argmax / max: draw ``C = R ∪ M`` and maximize ``score_fn`` over it.

    Args:
        score_fn: maps candidates, an int64 array of shape ``(B, C)``, to their scores of
            shape ``(B, C)`` (numpy array, or torch tensor for deep agents).
        n, rng, batch_size, num_random, memory, shared: see :func:`candidate_set`.

    Returns:
        ``(actions, values, candidates)``: the stochastic argmax ``(B,)``, the stochastic max
        ``(B,)`` (numpy or torch, like the scores) and the candidate array ``(B, C)``.
        With ``num_random >= n`` this is the exact argmax / max.
    """
    cand = candidate_set(rng, n, batch_size, num_random, memory, shared)
    actions, values = argmax_over_candidates(score_fn(cand), cand)
    return actions, values, cand


class GridNeighbourhood:
    """Multi-scale coordinate-wise neighbours of actions on a regular grid (C-order flattening).

    Action ``a`` has integer coordinates ``i = unravel_index(a, bins)``. Its neighbours are the
    actions with one coordinate ``i_j`` moved by ``+-s``, ``s`` in the scales
    ``round(2 ** (e / steps_per_octave)) < bins_j`` (``1, 2, 4, ...`` by default; with
    ``steps_per_octave=2``: ``1, 2, 3, 4, 6, 8, 11, ...``), clipped to ``[0, bins_j)`` (a clipped
    move can repeat ``a`` itself, which is harmless for a max). About
    ``2 * steps_per_octave * log2 n`` neighbours per action (:attr:`size`), grouped by
    coordinate; computed with integer arithmetic in ``O(size)`` per action, so it works for any
    ``n`` (no ``n``-row table).

    Args:
        bins: number of grid points per coordinate, ``prod(bins) == n``; each ``>= 1``.
        steps_per_octave: scales per doubling of the move, ``>= 1``.
    """

    def __init__(self, bins: Sequence[int], steps_per_octave: int = 1) -> None:
        b = [int(x) for x in bins]
        if not b or min(b) < 1:
            raise ValueError(f"bins must be a non-empty list of positive integers, got {bins!r}")
        if isinstance(steps_per_octave, bool) or not isinstance(steps_per_octave, int):
            raise ValueError(f"steps_per_octave must be an integer >= 1, got {steps_per_octave!r}")
        if steps_per_octave < 1:
            raise ValueError(f"steps_per_octave must be an integer >= 1, got {steps_per_octave!r}")
        self.bins = np.array(b, dtype=np.int64)
        self.n = math.prod(b)
        strides = np.ones(len(b), dtype=np.int64)
        for j in range(len(b) - 2, -1, -1):
            strides[j] = strides[j + 1] * b[j + 1]
        self.strides = strides
        coord: list[int] = []
        delta: list[int] = []
        for j, bj in enumerate(b):
            top = steps_per_octave * max(0, math.ceil(math.log2(bj)))
            scales = sorted({round(2 ** (e / steps_per_octave)) for e in range(top)})
            for sc in (x for x in scales if x < bj):
                coord += [j, j]
                delta += [sc, -sc]
        self.coord = np.array(coord, dtype=np.int64)  # (size,) coordinate moved
        self.delta = np.array(delta, dtype=np.int64)  # (size,) signed move
        self.size = len(coord)
        # (d, width) column of each coordinate's moves, padded with the index `size`
        counts = np.bincount(self.coord, minlength=len(b)) if coord else np.zeros(len(b), int)
        width = max(1, int(counts.max()))
        groups = np.full((len(b), width), self.size, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for j in range(len(b)):
            groups[j, : counts[j]] = np.arange(starts[j], starts[j] + counts[j])
        self.groups = groups
        self._torch: dict[Any, tuple[Any, ...]] = {}

    def __call__(self, actions: Any) -> Any:
        """Neighbours of ``actions`` (int64 numpy array or torch tensor of shape ``(B,)``):
        shape ``(B, size)``, of the same kind (and device) as ``actions``."""
        if isinstance(actions, np.ndarray):
            a = actions.astype(np.int64, copy=False)[:, None]
            if len(self.bins) == 1:  # 1-D: the action is its own coordinate
                return np.minimum(np.maximum(a + self.delta, 0), self.n - 1)
            stride, bins = self.strides[self.coord], self.bins[self.coord]
            idx = (a // stride) % bins
            moved = np.clip(idx + self.delta, 0, bins - 1)
            return a + (moved - idx) * stride
        import torch

        stride, bins, delta, _ = self._on(actions.device)
        a = actions.unsqueeze(1)
        if len(self.bins) == 1:  # 1-D: the action is its own coordinate
            return torch.clamp(a + delta, 0, self.n - 1)
        idx = torch.div(a, stride, rounding_mode="floor") % bins
        moved = torch.minimum(torch.clamp(idx + delta, min=0), bins - 1)
        return a + (moved - idx) * stride

    def _on(self, device: Any) -> tuple[Any, ...]:
        if device not in self._torch:
            import torch

            self._torch[device] = tuple(
                torch.as_tensor(x, device=device)
                for x in (self.strides[self.coord], self.bins[self.coord], self.delta, self.groups)
            )
        return self._torch[device]

    def combined_move(self, actions: Any, values: Any, neighbours: Any, scores: Any) -> Any:
        """The action that applies, on every coordinate at once, that coordinate's best move
        (only moves that beat ``values``): ``(B,)`` from ``actions``, ``values`` ``(B,)`` and
        the ``neighbours`` ``(B, size)`` of ``actions`` with their ``scores``."""
        if isinstance(actions, np.ndarray):
            pad = np.concatenate([scores, np.full((len(scores), 1), -np.inf)], axis=1)
            grouped = pad[:, self.groups]  # (B, d, width)
            best = grouped.argmax(axis=2)
            gain = np.take_along_axis(grouped, best[..., None], 2)[..., 0] > values[:, None]
            cols = np.minimum(self.groups[np.arange(len(self.bins)), best], self.size - 1)
            moves = np.take_along_axis(neighbours, cols, 1) - actions[:, None]
            return actions + (moves * gain).sum(axis=1)
        import torch

        groups = self._on(actions.device)[3]
        batch = scores.shape[0]
        pad = torch.cat([scores, scores.new_full((batch, 1), -math.inf)], dim=1)
        grouped = pad[:, groups]  # (B, d, width)
        top, best = grouped.max(dim=2)
        cols = groups.gather(1, best.T).T.clamp(max=self.size - 1)  # (B, d)
        moves = neighbours.gather(1, cols) - actions.unsqueeze(1)
        return actions + (moves * (top > values.unsqueeze(1))).sum(dim=1)


def refine_on_grid(
    score_fn: Callable[[Any], Any],
    actions: Any,
    values: Any,
    neighbourhood: GridNeighbourhood,
    rounds: int,
) -> tuple[Any, Any]:
    """Local refinement (multi-scale coordinate search) of each row's action on the grid.

    Each round scores the :class:`GridNeighbourhood` of the current action together with the
    previous round's *combined move* (every coordinate's best move applied at once, so that
    ``d`` coordinates can improve in one round), and moves to the best of them when it is
    strictly better. Stops early when no row improves.

    Args:
        score_fn: maps candidates ``(B, C)`` (numpy or torch int64, like ``actions``) to
            scores ``(B, C)`` of the same kind.
        actions: current best action of each row ``(B,)``; ``values``: its score ``(B,)``.
        neighbourhood: the grid's :class:`GridNeighbourhood`.
        rounds: maximum number of rounds, each scoring ``B * (neighbourhood.size + 1)`` rows.

    Returns:
        ``(actions, values)`` ``(B,)``; ``values`` never decreases.
    """
    is_np = isinstance(actions, np.ndarray)
    if is_np:
        where, cat = np.where, lambda xs: np.concatenate(xs, axis=1)
    else:
        import torch

        where, cat = torch.where, lambda xs: torch.cat(xs, dim=1)
    combined = None
    size = neighbourhood.size
    several = len(neighbourhood.bins) > 1  # in 1-D the combined move is the best move
    for _ in range(rounds if size else 0):
        nb = neighbourhood(actions)
        cand = nb if combined is None else cat([nb, combined[:, None]])
        scores = score_fn(cand)
        if several:
            combined = neighbourhood.combined_move(actions, values, nb, scores[:, :size])
        if is_np:
            a, v = argmax_over_candidates(scores, cand)
        else:  # inlined: this loop runs per environment step
            v, best = scores.max(dim=1)
            a = cand.gather(1, best.unsqueeze(1)).squeeze(1)
        better = v > values
        if not better.any():
            break
        actions, values = where(better, a, actions), where(better, v, values)
    return actions, values


class StateActionMemory:
    """Per-state memory ``M(s)`` of the ``size`` most recently exploited actions (tabular agents).

    Stored as an int64 table of shape ``(n_states, size)``, ``-1`` for empty slots; the newest
    action is in column 0. Pushing an action already in the memory moves it to the front.
    """

    def __init__(self, n_states: int, size: int = 1) -> None:
        if size < 0:
            raise ValueError(f"memory size must be >= 0, got {size}")
        self.table = np.full((n_states, size), -1, dtype=np.int64)

    @property
    def size(self) -> int:
        return self.table.shape[1]

    def get(self, states: np.ndarray) -> np.ndarray | None:
        """Memory rows of ``states`` (int array ``(B,)``): shape ``(B, size)``, or None if size 0."""
        return self.table[states] if self.size else None

    def push(self, state: int, action: int) -> None:
        """Record that ``action`` was exploited in ``state`` (``O(size)``)."""
        if not self.size:
            return
        row = self.table[state]
        hit = np.flatnonzero(row == action)
        end = hit[0] if hit.size else self.size - 1
        row[1 : end + 1] = row[:end].copy()
        row[0] = action


class RecentActions:
    """Ring buffer of the ``capacity`` most recently exploited actions (deep agents).

    ``get()`` returns an int64 array of shape ``(capacity,)`` with ``-1`` for empty slots,
    ready to be passed as the shared ``memory`` of :func:`candidate_set`.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.buffer = np.full(capacity, -1, dtype=np.int64)
        self.pos = 0

    def push(self, actions: np.ndarray) -> None:
        """Append actions (int array of any shape); the oldest are overwritten."""
        cap = self.buffer.shape[0]
        for a in np.asarray(actions, dtype=np.int64).ravel()[-cap:] if cap else ():
            self.buffer[self.pos] = a
            self.pos = (self.pos + 1) % cap

    def get(self) -> np.ndarray:
        return self.buffer.copy()
