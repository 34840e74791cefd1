"""Early rumour detection data: events, loaders, a synthetic generator and the stream env.

>>> from rlcore.envs.rumour import synthetic, load_pheme, load_weibo, load_jsonl
>>> events = synthetic(200, seed=0)  # list[Event]: id, label (1 = rumour), posts, group, veracity
>>> import gymnasium as gym, rlcore
>>> env = gym.make("rlcore/RumourStream-v0")   # streams the synthetic training split
"""

from __future__ import annotations

from rlcore.envs.rumour.events import NON_RUMOUR, RUMOUR, Event, make_event
from rlcore.envs.rumour.loaders import (
    DataFormatError,
    load_dataset,
    load_dataset_cached,
    load_jsonl,
    load_pheme,
    load_weibo,
    save_jsonl,
)
from rlcore.envs.rumour.splits import (
    groups_of,
    leave_one_group_out,
    split_by_group,
    split_by_ids,
    split_events,
)
from rlcore.envs.rumour.synthetic import synthetic
from rlcore.envs.rumour.text import Vocabulary, chunk_posts, tokenize

__all__ = [
    "Event",
    "make_event",
    "RUMOUR",
    "NON_RUMOUR",
    "DataFormatError",
    "load_pheme",
    "load_weibo",
    "load_jsonl",
    "save_jsonl",
    "load_dataset",
    "load_dataset_cached",
    "synthetic",
    "Vocabulary",
    "tokenize",
    "chunk_posts",
    "split_events",
    "split_by_ids",
    "split_by_group",
    "leave_one_group_out",
    "groups_of",
]
