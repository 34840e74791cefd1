"""``rlcore/RumourStream-v0``: an event's posts revealed chunk by chunk; read on or answer.

One episode = one event of the chosen split. Actions: ``0`` read the next chunk, ``1`` stop and
answer non-rumour, ``2`` stop and answer rumour.

Rewards (defaults follow the authors' code of ERD, Zhou et al. 2019, where a wrong answer costs
``-100`` and a read ``-0.01``; the correct-answer reward there grows with the number of correct
answers so far, ``1 + 0.2 log M``, which makes the reward depend on the past, so this
environment uses a constant):

* ``read_reward`` (default ``-0.01``) per chunk read;
* ``correct_reward`` (default ``1.0``) for a correct answer;
* ``wrong_reward`` (default ``-5.0``; smaller than the code's ``-100`` so that an answer is
  worth giving before certainty; configurable) for a wrong answer;
* reading past the last chunk is not possible: the episode ends with a *forced* stop that
  counts as a wrong answer (``info["forced"] = True``). The observation tells the agent that it
  is looking at the last chunk, so it can always answer in time.

Observations (``obs_mode``):

* ``"tokens"`` (for :class:`rlcore.ERD`): ``int64`` array of shape ``(max_chunk_tokens + 1,)``:
  the token ids of the chunk just revealed (``0`` = padding; posts truncated to
  ``max_post_tokens``), then one flag, ``1`` when this chunk is the stream's last.
* ``"bow"`` / ``"tfidf"`` (for SB3's MLP policies): ``float32`` array of shape
  ``(vector_size + 2,)``: term frequencies (or L2-normalised TF-IDF, document frequencies from
  the training part) of the ids ``< vector_size`` of the chunk (or, with ``cumulative=True``, of
  everything read so far: an MLP has no memory), then the last-chunk flag, then the share of
  ``max_chunks`` read.

With no ``dataset`` the environment streams ``synthetic(**synthetic_kwargs)`` (2,000 events,
seed 0 by default); a path is parsed once per process
(:func:`~rlcore.envs.rumour.loaders.load_dataset_cached`) and tokenization is memoized, so the
environments of a vector env or of several splits share one parsed corpus. Data are split
(:mod:`rlcore.envs.rumour.splits`) by a hash of the event id (default), by explicit id lists
(``split_ids``) or by news event (``test_groups``: leave-one-event-out), and the vocabulary /
document frequencies are fitted on the training part only, whatever ``split`` is, so a test
environment built with the same arguments shares the training vocabulary and never sees a word
known only from test events. An empty training part is refused.

Early rate (``info["early_rate"]``) is measured against the whole thread: posts read divided
by all the posts of the event, including those after the time limit or ``max_chunks`` that are
never streamed (HEARD's definition).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from rlcore.envs.rumour.events import Event
from rlcore.envs.rumour.loaders import load_dataset_cached
from rlcore.envs.rumour.splits import split_by_group, split_by_ids, split_events
from rlcore.envs.rumour.synthetic import synthetic
from rlcore.envs.rumour.text import Vocabulary, chunk_posts, stream_posts, tokenize

from rlcore.common.checks import check_action, check_float, check_int

READ, ANSWER_NON_RUMOUR, ANSWER_RUMOUR = 0, 1, 2


@functools.lru_cache(maxsize=4)
def _cached_synthetic(items: tuple[tuple[str, Any], ...]) -> tuple[Event, ...]:
    """The default data set, generated once per process and argument set (events are
    immutable, so environments can share them)."""
    return tuple(synthetic(**{"n_events": 2000, "seed": 0, **dict(items)}))


@dataclass(frozen=True)
class Stream:
    """An event prepared for streaming.

    Attributes:
        event: the event.
        tokens: ``(n_chunks, max_chunk_tokens)`` int32 token ids per chunk (0 = padding).
        posts_read: ``(n_chunks,)`` number of posts read once chunk ``i`` is revealed.
        elapsed: ``(n_chunks,)`` seconds from the first post to the last post of chunk ``i``.
        n_posts: posts of the whole thread (the denominator of the early rate).
        n_streamed: posts in the stream (inside the time limit and ``max_chunks``).
    """

    event: Event
    tokens: np.ndarray
    posts_read: np.ndarray
    elapsed: np.ndarray
    n_posts: int
    n_streamed: int

    @property
    def label(self) -> int:
        return self.event.label

    @property
    def n_chunks(self) -> int:
        return int(self.tokens.shape[0])


class RumourStreamEnv(gym.Env):
    """Early rumour detection as a sequential decision problem (see the module docstring).

    Args:
        dataset: list of events (from any loader), a path (``.jsonl`` file, Weibo or PHEME
            folder), or ``None`` for the synthetic data set.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        split_seed, val_fraction, test_fraction: the hash split (ERD's 10 % / 3:1 by default).
        split_ids: explicit split instead: ``{"train": [...], "val": [...], "test": [...]}``
            (``"train"`` omitted: every other event).
        test_groups, val_groups: split by news event (:attr:`Event.group`) instead: the test
            part is every event of ``test_groups``; validation the events of ``val_groups``
            or, when ``None``, a hashed ``val_fraction`` of the other groups' events.
        obs_mode: ``"tokens"``, ``"bow"`` or ``"tfidf"``.
        cumulative: vector modes only: describe everything read so far, not just the chunk.
        chunking: ``"posts"`` (``posts_per_chunk`` posts a chunk) or ``"time"``
            (``interval_hours`` a chunk).
        time_limit_hours: posts later than this after the first post are not streamed (48 h).
        max_chunks: at most this many chunks per event (ERD: 100).
        max_post_tokens: tokens kept per post.
        max_chunk_tokens: tokens kept per chunk (default ``posts_per_chunk * max_post_tokens``,
            or 128 for time chunks).
        vocab: a vocabulary (or its word list) to use instead of building one.
        min_freq, max_vocab: vocabulary building.
        vector_size: features of the vector observations.
        read_reward, correct_reward, wrong_reward: the rewards.
        synthetic_kwargs: arguments of :func:`~rlcore.envs.rumour.synthetic.synthetic`.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        dataset: Sequence[Event] | str | os.PathLike[str] | None = None,
        *,
        split: str = "train",
        split_seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.225,
        split_ids: dict[str, Sequence[str]] | None = None,
        test_groups: Sequence[str] | None = None,
        val_groups: Sequence[str] | None = None,
        obs_mode: str = "tokens",
        cumulative: bool = False,
        chunking: str = "posts",
        posts_per_chunk: int = 3,
        interval_hours: float = 2.0,
        time_limit_hours: float | None = 48.0,
        max_chunks: int = 100,
        max_post_tokens: int = 20,
        max_chunk_tokens: int | None = None,
        vocab: Vocabulary | Sequence[str] | None = None,
        min_freq: int = 2,
        max_vocab: int | None = 20000,
        vector_size: int = 1024,
        read_reward: float = -0.01,
        correct_reward: float = 1.0,
        wrong_reward: float = -5.0,
        synthetic_kwargs: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if obs_mode not in ("tokens", "bow", "tfidf"):
            raise ValueError(f"obs_mode {obs_mode!r}: expected 'tokens', 'bow' or 'tfidf'")
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"split {split!r}: expected 'train', 'val', 'test' or 'all'")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode {render_mode!r}: expected None, 'ansi' or 'rgb_array'")
        for name, value in (("read_reward", read_reward), ("correct_reward", correct_reward),
                            ("wrong_reward", wrong_reward)):  # fmt: skip
            if not np.isfinite(value):
                raise ValueError(f"{name}={value!r}: expected a finite number")
        for name, value in (("max_chunks", max_chunks), ("max_post_tokens", max_post_tokens),
                            ("vector_size", vector_size), ("posts_per_chunk", posts_per_chunk),
                            ("min_freq", min_freq)):  # fmt: skip
            check_int(name, value, low=1)
        if max_chunk_tokens is not None:
            check_int("max_chunk_tokens", max_chunk_tokens, low=1)
        if max_vocab is not None:
            check_int("max_vocab", max_vocab, low=1)
        if time_limit_hours is not None:
            check_float("time_limit_hours", time_limit_hours, low=0.0, low_open=True)
        check_float("interval_hours", interval_hours, low=0.0, low_open=True)
        check_float("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
        check_float("test_fraction", test_fraction, low=0.0, high=1.0, high_open=True)

        if dataset is None:
            events = list(_cached_synthetic(tuple(sorted((synthetic_kwargs or {}).items()))))
        elif isinstance(dataset, str | os.PathLike):
            events = list(load_dataset_cached(dataset))
        else:
            events = list(dataset)
            if not all(isinstance(e, Event) for e in events):
                raise TypeError(
                    "dataset: expected a list of rlcore.envs.rumour.Event, a path or None"
                )
        if not events:
            raise ValueError("dataset holds no event")
        if split_ids is not None and test_groups is not None:
            raise ValueError("give split_ids or test_groups, not both")
        if split_ids is not None:
            unknown = set(split_ids) - {"train", "val", "test"}
            if unknown:
                raise ValueError(f"split_ids keys {sorted(unknown)}: expected train, val, test")
            parts = split_by_ids(events, **split_ids)
        elif test_groups is not None:
            parts = split_by_group(events, test_groups, val_groups, val_fraction, split_seed)
        elif val_groups is not None:
            raise ValueError("val_groups needs test_groups (a split by news event)")
        else:
            parts = split_events(events, seed=split_seed, val_fraction=val_fraction,
                                 test_fraction=test_fraction)  # fmt: skip
        self.events: list[Event] = events if split == "all" else parts[split]
        if not self.events:
            raise ValueError(f"the {split!r} part of the dataset is empty")
        train = parts["train"]
        if not train:
            raise ValueError(
                "the training part of the split is empty: the vocabulary and IDF are fitted on "
                "training events only (give more events, other fractions or split_ids)"
            )

        self.obs_mode, self.cumulative, self.split = obs_mode, cumulative, split
        self.chunking, self.posts_per_chunk = chunking, posts_per_chunk
        self.interval_seconds = interval_hours * 3600.0
        self.time_limit_hours, self.max_chunks = time_limit_hours, max_chunks
        self.max_post_tokens = max_post_tokens
        if max_chunk_tokens is None:
            max_chunk_tokens = posts_per_chunk * max_post_tokens if chunking == "posts" else 128
        self.max_chunk_tokens = max_chunk_tokens
        self.read_reward, self.correct_reward = float(read_reward), float(correct_reward)
        self.wrong_reward = float(wrong_reward)
        self.render_mode = render_mode

        cache: dict[str, list[list[str]]] = {}

        def tokens_of(e: Event) -> list[list[str]]:
            if e.id not in cache:
                cache[e.id] = [tokenize(x) for _, x in stream_posts(e, time_limit_hours)]
            return cache[e.id]

        train_tokens = [tokens_of(e) for e in train]
        if vocab is None:
            vocab = Vocabulary.build((t for ev in train_tokens for t in ev), min_freq, max_vocab)
        elif not isinstance(vocab, Vocabulary):
            vocab = Vocabulary(list(vocab)[2:])
        self.vocab: Vocabulary = vocab
        self.vector_size = vector_size
        df = np.zeros(vector_size, dtype=np.float64)
        for ev in train_tokens:
            ids = np.unique([i for t in ev for i in vocab.encode(t) if i < vector_size])
            df[ids.astype(np.int64)] += 1
        self.idf = (np.log((1 + len(train_tokens)) / (1 + df)) + 1.0).astype(np.float32)
        self.streams: list[Stream] = [self._prepare(e, tokens_of(e)) for e in self.events]

        if obs_mode == "tokens":
            self.observation_space = spaces.Box(
                0, max(len(vocab) - 1, 1), shape=(max_chunk_tokens + 1,), dtype=np.int64
            )
        else:
            self.observation_space = spaces.Box(
                0.0, 1.0, shape=(vector_size + 2,), dtype=np.float32
            )
        self.action_space = spaces.Discrete(3)
        self._stream: Stream | None = None
        self._chunk = 0

    # ----------------------------------------------------------------- data preparation
    def _prepare(self, event: Event, post_tokens: list[list[str]]) -> Stream:
        posts = stream_posts(event, self.time_limit_hours)
        times = [t for t, _ in posts]
        bounds = chunk_posts(times, self.chunking, self.posts_per_chunk, self.interval_seconds,
                             self.max_chunks)  # fmt: skip
        tokens = np.zeros((len(bounds), self.max_chunk_tokens), dtype=np.int32)
        for c, (a, b) in enumerate(bounds):
            ids = [
                i
                for toks in post_tokens[a:b]
                for i in self.vocab.encode(toks[: self.max_post_tokens])
            ][: self.max_chunk_tokens]
            tokens[c, : len(ids)] = ids
        ends = np.array([b for _, b in bounds], dtype=np.int64)
        elapsed = np.array([times[b - 1] - times[0] for _, b in bounds], dtype=np.float64)
        return Stream(event, tokens, ends, elapsed, len(event.posts), int(ends[-1]))

    def vectorize(self, stream: Stream, chunk: int) -> np.ndarray:
        """The vector observation of ``stream`` once chunk ``chunk`` is revealed:
        ``(vector_size + 2,)`` float32."""
        first = 0 if self.cumulative else chunk
        ids = stream.tokens[first : chunk + 1].ravel()
        ids = ids[(ids > 0) & (ids < self.vector_size)]
        vec = np.bincount(ids, minlength=self.vector_size).astype(np.float32)
        if self.obs_mode == "tfidf":
            vec *= self.idf
            norm = float(np.linalg.norm(vec))
        else:
            norm = float(vec.sum())
        if norm > 0:
            vec /= norm
        last = float(chunk == stream.n_chunks - 1)
        return np.concatenate([vec, [last, (chunk + 1) / self.max_chunks]]).astype(np.float32)

    def observation(self, stream: Stream, chunk: int) -> np.ndarray:
        """The observation of ``stream`` once chunk ``chunk`` is revealed."""
        if self.obs_mode != "tokens":
            return self.vectorize(stream, chunk)
        obs = np.zeros(self.max_chunk_tokens + 1, dtype=np.int64)
        obs[:-1] = stream.tokens[chunk]
        obs[-1] = int(chunk == stream.n_chunks - 1)
        return obs

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode on a random event of the split, or on
        ``options["event_index"]`` (an index into ``self.streams``)."""
        super().reset(seed=seed)
        unknown = set(options or {}) - {"event_index"}
        if unknown:
            raise ValueError(f"reset options {sorted(unknown)}: the only option is 'event_index'")
        index = (options or {}).get("event_index")
        if index is None:
            index = int(self.np_random.integers(len(self.streams)))
        else:
            index = check_int('options["event_index"]', index, 0, len(self.streams) - 1)
        self._stream, self._chunk = self.streams[index], 0
        return self.observation(self._stream, 0), self._info()

    def _info(self) -> dict[str, Any]:
        s = self._stream
        assert s is not None
        return {
            "event_id": s.event.id,
            "chunk": self._chunk,
            "n_chunks": s.n_chunks,
            "is_last_chunk": self._chunk == s.n_chunks - 1,
        }

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._stream is None:
            raise RuntimeError("call reset() before step()")
        try:
            a = check_action(action, 3)
        except ValueError:
            raise ValueError(
                f"action {action!r}: expected the integer 0 (read), 1 (non-rumour) or 2 (rumour)"
            ) from None
        s = self._stream
        if a == READ and self._chunk < s.n_chunks - 1:
            self._chunk += 1
            return self.observation(s, self._chunk), self.read_reward, False, False, self._info()
        forced = a == READ
        answer = None if forced else a - 1
        correct = answer == s.label
        reward = self.correct_reward if correct else self.wrong_reward
        info = self._info()
        info.update(
            label=s.label,
            answer=answer,
            correct=correct,
            forced=forced,
            chunks_read=self._chunk + 1,
            posts_read=int(s.posts_read[self._chunk]),
            n_posts=s.n_posts,
            early_rate=float(s.posts_read[self._chunk]) / s.n_posts,
            elapsed_seconds=float(s.elapsed[self._chunk]),
        )
        obs = self.observation(s, self._chunk)
        self._stream = None
        return obs, reward, True, False, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the current chunk's words; ``"rgb_array"``: a ``(24, 240, 3)`` uint8
        progress bar (chunks read in blue, the rest grey); ``None`` between episodes."""
        if self.render_mode is None or self._stream is None:
            return None
        if self.render_mode == "rgb_array":
            img = np.full((24, 240, 3), 255, dtype=np.uint8)
            img[6:18, 4:236] = 200
            done = int(232 * (self._chunk + 1) / self._stream.n_chunks)
            img[6:18, 4 : 4 + done] = (40, 90, 200)
            return img
        ids = self._stream.tokens[self._chunk]
        words = " ".join(self.vocab.itos[i] for i in ids if i > 0)
        return f"[{self._stream.event.id} chunk {self._chunk + 1}/{self._stream.n_chunks}] {words}"
