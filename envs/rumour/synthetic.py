"""A seeded generator of rumour / non-rumour event streams (no download needed).

What makes the problem real (and not rigged):

* both classes draw most words from the same neutral vocabulary (Zipf-distributed chatter and
  per-event topic words shared by both classes);
* class evidence (scepticism / denial phrases for rumours, confirmation phrases for
  non-rumours) starts at a random *onset* post drawn from a Beta distribution over the stream:
  early for some events, late for others; after the onset a post carries a cue with probability
  ``evidence_rate`` and the cue points to the wrong class with probability
  ``1 - evidence_reliability``; before the onset, cues of either class appear at
  ``noise_rate``; a share ``uninformative_fraction`` of events has cues that carry no signal;
* post timing is bursty (heavy-tailed gaps, activity decaying over the event's life), events have
  very different lengths (log-normal) and durations (some run past ERD's 48 h limit).

Presets: ``difficulty="default"`` (the benchmark), ``"easy"`` (tests: early, reliable
evidence) and ``"hard"``; any knob passed explicitly overrides the preset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rlcore.envs.rumour.events import Event

RUMOUR_CUES: tuple[str, ...] = (
    "fake", "hoax", "is this true ?", "not true", "unconfirmed", "debunked", "doubt it",
    "photoshopped", "just a rumour", "false claim", "fake news", "unverified", "can anyone confirm ?",
    "no evidence", "misleading", "really ?", "old photo", "satire",
)  # fmt: skip
NON_RUMOUR_CUES: tuple[str, ...] = (
    "confirmed", "official statement", "police confirm", "verified", "press conference",
    "according to officials", "reuters reports", "live updates", "eyewitness video",
    "authorities say", "confirmed by police", "statement released", "source confirms",
    "our thoughts are with", "breaking official", "true story",
)  # fmt: skip

DIFFICULTY: dict[str, dict[str, Any]] = {
    "easy": dict(
        evidence_rate=0.9, evidence_reliability=1.0, onset_beta=(1.0, 60.0), noise_rate=0.0,
        uninformative_fraction=0.0, median_posts=20, min_posts=6, max_posts=60,
    ),
    "default": dict(
        evidence_rate=0.7, evidence_reliability=0.9, onset_beta=(1.0, 8.0), noise_rate=0.05,
        uninformative_fraction=0.04, median_posts=50, min_posts=8, max_posts=400,
    ),
    "hard": dict(
        evidence_rate=0.12, evidence_reliability=0.7, onset_beta=(1.5, 2.0), noise_rate=0.08,
        uninformative_fraction=0.1, median_posts=50, min_posts=8, max_posts=400,
    ),
}  # fmt: skip

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]


def _pseudo_words(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def synthetic(
    n_events: int = 2000,
    seed: int = 0,
    *,
    difficulty: str = "default",
    rumour_fraction: float = 0.5,
    evidence_rate: float | None = None,
    evidence_reliability: float | None = None,
    onset_beta: tuple[float, float] | None = None,
    noise_rate: float | None = None,
    uninformative_fraction: float | None = None,
    median_posts: int | None = None,
    min_posts: int | None = None,
    max_posts: int | None = None,
    words_per_post: tuple[int, int] = (4, 12),
    n_neutral_words: int = 2000,
    n_topic_words: int = 500,
    median_duration_hours: float = 10.0,
) -> list[Event]:
    """Generate ``n_events`` labelled event streams (see the module docstring).

    Args:
        n_events: number of events (ids ``"syn-<seed>-<i>"``).
        seed: seed of the generator; the same arguments give the same events.
        difficulty: preset of the evidence knobs (``"easy"``, ``"default"``, ``"hard"``).
        rumour_fraction: probability that an event is a rumour.
        evidence_rate: probability that a post after the onset carries a class cue.
        evidence_reliability: probability that such a cue points to the true class.
        onset_beta: Beta(a, b) of the onset position, as a fraction of the stream.
        noise_rate: probability that a post before the onset carries a cue of a random class.
        uninformative_fraction: share of events whose cues carry no signal (reliability 0.5).
        median_posts, min_posts, max_posts: log-normal event length and its clipping.
        words_per_post: (low, high) inclusive number of filler words per post.
        median_duration_hours: median time from the first to the last post.

    Returns:
        list of :class:`Event`.
    """
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty {difficulty!r}: expected one of {sorted(DIFFICULTY)}")
    knobs = dict(DIFFICULTY[difficulty])
    given = dict(
        evidence_rate=evidence_rate, evidence_reliability=evidence_reliability,
        onset_beta=onset_beta, noise_rate=noise_rate,
        uninformative_fraction=uninformative_fraction, median_posts=median_posts,
        min_posts=min_posts, max_posts=max_posts,
    )  # fmt: skip
    knobs.update({k: v for k, v in given.items() if v is not None})
    if n_events < 1:
        raise ValueError(f"n_events={n_events!r}: expected >= 1")
    for name in ("evidence_rate", "evidence_reliability", "noise_rate", "uninformative_fraction"):
        if not 0.0 <= knobs[name] <= 1.0:
            raise ValueError(f"{name}={knobs[name]!r}: expected a probability in [0, 1]")
    if not 1 <= knobs["min_posts"] <= knobs["median_posts"] <= knobs["max_posts"]:
        raise ValueError("expected 1 <= min_posts <= median_posts <= max_posts")

    rng = np.random.default_rng(seed)
    neutral = _pseudo_words(n_neutral_words + n_topic_words, seed=12345)
    topic_pool, neutral = neutral[n_neutral_words:], neutral[:n_neutral_words]
    zipf = 1.0 / np.arange(1, n_neutral_words + 1) ** 1.05
    zipf /= zipf.sum()
    cues = (NON_RUMOUR_CUES, RUMOUR_CUES)
    lo_w, hi_w = words_per_post

    events = []
    for i in range(n_events):
        label = int(rng.random() < rumour_fraction)
        n = int(np.clip(round(knobs["median_posts"] * np.exp(0.8 * rng.standard_normal())),
                        knobs["min_posts"], knobs["max_posts"]))  # fmt: skip
        onset = int(rng.beta(*knobs["onset_beta"]) * n)
        reliability = (
            0.5 if rng.random() < knobs["uninformative_fraction"] else knobs["evidence_reliability"]
        )
        topic = rng.choice(len(topic_pool), size=6, replace=False)

        # bursty timing: heavy-tailed gaps, slowing down over the event's life
        gaps = (
            rng.exponential(1.0, n - 1)
            * np.exp(rng.standard_normal(n - 1))
            * (1 + np.arange(n - 1) / 5) ** 0.8
        )
        duration = 3600.0 * float(
            np.clip(median_duration_hours * np.exp(rng.standard_normal()), 0.3, 120.0)
        )
        times = np.concatenate([[0.0], np.cumsum(gaps)])
        times = 1.4e9 + rng.uniform(0, 3e7) + times * (duration / max(times[-1], 1e-9))

        n_words = rng.integers(lo_w, hi_w + 1, size=n)
        words = rng.choice(n_neutral_words, size=int(n_words.sum()), p=zipf)
        use_topic = rng.random(words.size) < 0.25
        topic_words = rng.choice(topic, size=words.size)
        cue_draw = rng.random(n)
        cue_true = rng.random(n) < reliability
        noise_class = rng.integers(0, 2, size=n)
        posts, w = [], 0
        for j in range(n):
            toks = [
                topic_pool[topic_words[w + k]] if use_topic[w + k] else neutral[words[w + k]]
                for k in range(n_words[j])
            ]
            w += n_words[j]
            if j >= onset and cue_draw[j] < knobs["evidence_rate"]:
                cls = label if cue_true[j] else 1 - label
            elif j < onset and cue_draw[j] < knobs["noise_rate"]:
                cls = int(noise_class[j])
            else:
                cls = -1
            if cls >= 0:
                pos = int(rng.integers(0, len(toks) + 1))
                toks.insert(pos, cues[cls][int(rng.integers(len(cues[cls])))])
            posts.append((float(times[j]), " ".join(toks)))
        events.append(Event(id=f"syn-{seed}-{i}", label=label, posts=tuple(posts)))
    return events
