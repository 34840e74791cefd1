"""Splits of a list of events into ``{"train", "val", "test"}`` parts.

* :func:`split_events`: by a seeded hash of the event id (ERD's 10 % validation, the rest 3:1
  train:test by default); independent of the order of the events.
* :func:`split_by_ids`: explicit id lists (a published split).
* :func:`split_by_group`: by news story (:attr:`Event.group`): the test part holds every event
  of the test groups, validation the events of ``val_groups`` or, without them, a hashed share
  of the other groups' events; :func:`leave_one_group_out` yields one such split per group,
  the standard PHEME protocol (train on the other news events, test on an unseen one).

Every split puts an event in at most one part; event ids must be unique.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from rlcore.envs.rumour.events import Event

PARTS: tuple[str, ...] = ("train", "val", "test")


def _unit_hash(seed: int, event_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _check_unique(events: Sequence[Event]) -> None:
    seen: set[str] = set()
    for e in events:
        if e.id in seen:
            raise ValueError(f"event id {e.id!r} appears twice: ids must be unique to split")
        seen.add(e.id)


def split_events(
    events: Sequence[Event], seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.225
) -> dict[str, list[Event]]:
    """Deterministic split by event id: ``{"train", "val", "test"}``.

    The defaults follow ERD: 10 % validation, the rest 3:1 train:test (0.9 / 4 = 0.225 test).
    Each event goes to a part by a seeded hash of its id, so the split does not depend on the
    order of ``events`` and an event never appears in two parts.
    """
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction!r}, test_fraction={test_fraction!r}: expected "
            "non-negative fractions summing to less than 1"
        )
    _check_unique(events)
    parts: dict[str, list[Event]] = {p: [] for p in PARTS}
    for event in events:
        u = _unit_hash(seed, event.id)
        part = (
            "val" if u < val_fraction else "test" if u < val_fraction + test_fraction else "train"
        )
        parts[part].append(event)
    return parts


def split_by_ids(
    events: Sequence[Event],
    train: Sequence[str] | None = None,
    val: Sequence[str] = (),
    test: Sequence[str] = (),
) -> dict[str, list[Event]]:
    """Split by explicit id lists; with ``train=None`` every event not in ``val`` or ``test``
    is a training event.

    Raises:
        ValueError: an id in two lists, or an id that is not an event of ``events`` (named).
    """
    _check_unique(events)
    known = {e.id for e in events}
    lists = {"val": [str(i) for i in val], "test": [str(i) for i in test]}
    if train is not None:
        lists["train"] = [str(i) for i in train]
    where: dict[str, str] = {}
    for part, ids in lists.items():
        for i in ids:
            if i not in known:
                raise ValueError(f"{part} id {i!r} is not the id of an event of the data set")
            if where.get(i, part) != part:
                raise ValueError(f"id {i!r} is in both the {where[i]} and the {part} lists")
            where[i] = part
    parts: dict[str, list[Event]] = {p: [] for p in PARTS}
    for e in events:
        part = where.get(e.id, "train" if train is None else None)
        if part is not None:
            parts[part].append(e)
    return parts


def groups_of(events: Sequence[Event]) -> list[str]:
    """The distinct groups of ``events``, sorted.

    Raises:
        ValueError: an event has no group.
    """
    missing = next((e.id for e in events if e.group is None), None)
    if missing is not None:
        raise ValueError(
            f"event {missing!r} has no group (news event): a split by group needs "
            "Event.group on every event (load_pheme / load_jsonl with an 'event' field)"
        )
    return sorted({str(e.group) for e in events})


def split_by_group(
    events: Sequence[Event],
    test_groups: Sequence[str],
    val_groups: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, list[Event]]:
    """Split by news story: test = the events of ``test_groups``; validation = the events of
    ``val_groups`` or, when ``None``, a share ``val_fraction`` of the remaining events by a
    seeded hash of their id (so it is carved from the training groups only); train = the rest.

    Raises:
        ValueError: an unknown group, a group both in test and validation, an event with no
            group, or a ``val_fraction`` outside ``[0, 1)``.
    """
    known = groups_of(events)
    test_set = {str(g) for g in test_groups}
    val_set = {str(g) for g in val_groups} if val_groups is not None else set()
    for g in sorted(test_set | val_set):
        if g not in known:
            raise ValueError(f"group {g!r} is not a group of the data set (groups: {known})")
    if test_set & val_set:
        raise ValueError(f"groups {sorted(test_set & val_set)} are in both test and validation")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r}: expected a fraction in [0, 1)")
    _check_unique(events)
    parts: dict[str, list[Event]] = {p: [] for p in PARTS}
    for e in events:
        if e.group in test_set:
            parts["test"].append(e)
        elif e.group in val_set or (val_groups is None and _unit_hash(seed, e.id) < val_fraction):
            parts["val"].append(e)
        else:
            parts["train"].append(e)
    return parts


def leave_one_group_out(
    events: Sequence[Event], val_fraction: float = 0.1, seed: int = 0
) -> Iterator[tuple[str, dict[str, list[Event]]]]:
    """``(group, split)`` for every group: that group is the test part, validation a hashed
    ``val_fraction`` of the other groups' events (see :func:`split_by_group`)."""
    for g in groups_of(events):
        yield g, split_by_group(events, [g], val_fraction=val_fraction, seed=seed)
