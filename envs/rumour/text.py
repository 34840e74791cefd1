"""Tokenizer, vocabulary, chunking ("bucketing") and the deterministic split by event.

Choices (ERD, Zhou et al. 2019, unless said otherwise):

* HTML entities are unescaped (tweets in the PHEME release carry ``&amp;``, ``&lt;``...);
  tokens are lower-cased; URLs become ``<url>``, @mentions ``<user>``, numbers ``<num>``, and a
  run of them (``@a @b @c`` opening a reply, several links) becomes one token, so that the
  mentions of a reply do not use up the per-post token budget; a hashtag keeps its word
  (``#Hoax`` -> ``hoax``); ``?`` and ``!`` are kept as tokens (scepticism is evidence); other
  punctuation is dropped. Text that is already segmented with spaces (the Weibo release)
  tokenizes word by word. Tokenization is memoized per text (environments built on the same
  corpus do not tokenize it again).
* the vocabulary is built on the training part only; id ``0`` is padding, ``1`` is
  out-of-vocabulary, then words by decreasing frequency (ties by the word).
* chunks hold a fixed number of posts (ERD's choice, 3 by default) or a fixed time interval;
  each chunk holds only its own posts (the authors' code let the text accumulate); posts after
  the time limit (48 h after the first post) or beyond ``max_chunks`` are not streamed.
* splits live in :mod:`rlcore.envs.rumour.splits` (re-exported here: ``split_events``).
"""

from __future__ import annotations

import functools
import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from rlcore.envs.rumour.events import Event
from rlcore.envs.rumour.splits import split_events

__all__ = ["tokenize", "Vocabulary", "stream_posts", "chunk_posts", "split_events"]

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<oov>"

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_TOKEN = re.compile(r"<url>|<user>|\w+|[?!]")
_NUMBER = re.compile(r"^\d+([.,]\d+)?$")


_PLACEHOLDERS = frozenset(("<url>", "<user>"))


@functools.lru_cache(maxsize=1 << 18)
def _tokenize(text: str) -> tuple[str, ...]:
    text = _URL.sub(" <url> ", html.unescape(text).lower())
    text = _MENTION.sub(" <user> ", text)
    text = _HASHTAG.sub(r" \1 ", text)
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if _NUMBER.match(tok):
            tok = "<num>"
        if tok in _PLACEHOLDERS and out and out[-1] == tok:
            continue  # a run of mentions / links is one token
        out.append(tok)
    return tuple(out)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalized tokens (see the module docstring)."""
    return list(_tokenize(text))


class Vocabulary:
    """Word <-> id map with padding (id 0) and out-of-vocabulary (id 1) entries."""

    def __init__(self, words: Sequence[str]) -> None:
        self.itos: list[str] = [
            PAD_TOKEN,
            OOV_TOKEN,
            *[w for w in words if w not in (PAD_TOKEN, OOV_TOKEN)],
        ]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary words must be distinct")

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_freq: int = 2, max_size: int | None = None
    ) -> Vocabulary:
        """Vocabulary of the tokens seen at least ``min_freq`` times (at most ``max_size`` words,
        padding and OOV included), most frequent first."""
        if min_freq < 1:
            raise ValueError(f"min_freq={min_freq!r}: expected an integer >= 1")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            if max_size < 3:
                raise ValueError(f"max_size={max_size!r}: expected at least 3")
            words = words[: max_size - 2]
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids (OOV for unknown words)."""
        return [self.stoi.get(t, OOV_ID) for t in tokens]

    def to_list(self) -> list[str]:
        """The words (JSON-serializable); ``Vocabulary(v.to_list())`` rebuilds the same map."""
        return list(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos


def stream_posts(event: Event, time_limit_hours: float | None = 48.0) -> list[tuple[float, str]]:
    """The event's posts inside the time limit (counted from the first post)."""
    if time_limit_hours is None:
        return list(event.posts)
    end = event.start + time_limit_hours * 3600.0
    return [p for p in event.posts if p[0] <= end]


def chunk_posts(
    times: Sequence[float],
    mode: str = "posts",
    posts_per_chunk: int = 3,
    interval_seconds: float = 7200.0,
    max_chunks: int | None = 100,
) -> list[tuple[int, int]]:
    """Split a time-ordered stream into chunks of consecutive posts.

    Args:
        times: post timestamps (seconds), sorted.
        mode: ``"posts"`` (``posts_per_chunk`` posts each) or ``"time"`` (one chunk per
            non-empty interval of ``interval_seconds`` since the first post).
        max_chunks: keep at most this many chunks (``None``: all).

    Returns:
        ``[(first, end), ...]`` post index ranges (``end`` exclusive), in order.
    """
    n = len(times)
    if mode == "posts":
        if posts_per_chunk < 1:
            raise ValueError(f"posts_per_chunk={posts_per_chunk!r}: expected >= 1")
        bounds = [(i, min(i + posts_per_chunk, n)) for i in range(0, n, posts_per_chunk)]
    elif mode == "time":
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds={interval_seconds!r}: expected > 0")
        bounds, first = [], 0
        for i in range(1, n + 1):
            if i == n or int((times[i] - times[0]) // interval_seconds) != int(
                (times[first] - times[0]) // interval_seconds
            ):
                bounds.append((first, i))
                first = i
    else:
        raise ValueError(f"chunking mode {mode!r}: expected 'posts' or 'time'")
    return bounds if max_chunks is None else bounds[:max_chunks]
