"""The event type shared by every loader, the synthetic generator and the environment."""

from __future__ import annotations

import math
from dataclasses import dataclass

RUMOUR = 1
NON_RUMOUR = 0

VERACITIES: tuple[str, ...] = ("non-rumour", "true", "false", "unverified")
"""Veracity values of PHEME v9 (``non-rumour`` for threads that are not rumours)."""


@dataclass(frozen=True)
class Event:
    """One event (a source post and its stream of reactions; a PHEME "thread").

    Attributes:
        id: the event's identifier (a PHEME thread id, a Weibo ``eid``, ...).
        label: ``1`` = rumour, ``0`` = non-rumour.
        posts: time-ordered tuple of ``(timestamp in seconds, text)`` pairs; timestamps finite.
        group: the news story the event belongs to (PHEME's "event", e.g. ``"ferguson"``), the
            key of leave-one-group-out splits; ``None`` when unknown.
        veracity: ``"true"``, ``"false"``, ``"unverified"`` (rumours) or ``"non-rumour"``
            where the data set gives it; ``None`` otherwise.
    """

    id: str
    label: int
    posts: tuple[tuple[float, str], ...]
    group: str | None = None
    veracity: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.label, bool) or self.label not in (NON_RUMOUR, RUMOUR):
            raise ValueError(f"event {self.id!r}: label {self.label!r} is not 0 or 1")
        times = [t for t, _ in self.posts]
        bad = next((t for t in times if not math.isfinite(t)), None)
        if bad is not None:
            raise ValueError(f"event {self.id!r}: timestamp {bad!r} is not a finite number")
        if any(b < a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError(f"event {self.id!r}: posts are not sorted by time")

    @property
    def start(self) -> float:
        """Timestamp of the first post (seconds)."""
        return self.posts[0][0]


def make_event(
    event_id: str,
    label: int,
    posts: list[tuple[float, str]],
    group: str | None = None,
    veracity: str | None = None,
) -> Event:
    """Build an :class:`Event`, sorting ``posts`` by time (stable: equal times keep their order)."""
    ordered = sorted(((float(t), str(x)) for t, x in posts), key=lambda p: p[0])
    return Event(
        id=str(event_id), label=int(label), posts=tuple(ordered), group=group, veracity=veracity
    )
