"""Loaders for published rumour data sets and a JSON Lines interchange format.

Every loader returns a list of :class:`~rlcore.envs.rumour.events.Event` (label 1 = rumour), posts
sorted by time. A malformed file raises :class:`DataFormatError` naming the file (and the line
for line-based files). Events with no posts are skipped and counted in one warning.

Formats:

* **PHEME** rumour / non-rumour (Zubiaga et al.): ``<root>/[<event>/]rumours|non-rumours/
  <thread-id>/source-tweet(s)/<id>.json`` and ``reactions/<id>.json``; each tweet JSON has
  ``created_at`` (``"Wed Jan 07 11:06:08 +0000 2015"``) and ``text`` (or ``full_text``).
  Both ``source-tweet`` (PHEME-RNR) and ``source-tweets`` (PHEME v9) are read; other files
  (``annotation.json``, ``structure.json``, ``retweets.json``, ``.DS_Store``, macOS ``._*``
  files) are ignored.
* **Weibo** (Ma et al., IJCAI 2016, "rumdect"): ``<root>/Weibo.txt`` with one event a line,
  ``eid:<id>\\tlabel:<0|1>\\t<post ids ...>``, and ``<root>/Weibo/<eid>.json``, a JSON list of
  posts with ``t`` (Unix seconds) and ``text`` (segmented) or ``original_text``.
* **JSON Lines** (this package): one event a line,
  ``{"id": "e1", "label": 1, "posts": [{"t": 0.0, "text": "..."}, ...]}``; a post may also be
  a ``[t, text]`` pair. :func:`save_jsonl` writes it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from rlcore.envs.rumour.events import Event, make_event

_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_PHEME_LABELS = {"rumours": 1, "non-rumours": 0}


class DataFormatError(ValueError):
    """A data file does not follow its format; the message names the file (and line)."""


def _warn_skipped(n_empty: int, source: str | os.PathLike[str]) -> None:
    if n_empty:
        warnings.warn(
            f"{source}: skipped {n_empty} event(s) with no posts", UserWarning, stacklevel=3
        )


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: malformed JSON ({exc})") from exc


def _is_data_file(path: Path) -> bool:
    return path.is_file() and path.suffix == ".json" and not path.name.startswith(".")


def _tweet_post(path: Path) -> tuple[float, str]:
    tweet = _read_json(path)
    if not isinstance(tweet, dict):
        raise DataFormatError(f"{path}: expected a tweet JSON object, got {type(tweet).__name__}")
    text = tweet.get("full_text", tweet.get("text"))
    created = tweet.get("created_at")
    if not isinstance(text, str) or not isinstance(created, str):
        raise DataFormatError(f"{path}: a tweet needs string fields 'created_at' and 'text'")
    try:
        t = datetime.strptime(created, _TWITTER_TIME).timestamp()
    except ValueError as exc:
        raise DataFormatError(
            f"{path}: created_at {created!r} does not match {_TWITTER_TIME!r}"
        ) from exc
    return t, text


def load_pheme(root: str | os.PathLike[str]) -> list[Event]:
    """Load the PHEME rumour / non-rumour threads under ``root`` (any depth).

    Returns:
        events sorted by (event folder, thread id); ``id`` is the thread folder's name.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DataFormatError: no ``rumours`` / ``non-rumours`` thread under ``root``, or a
            malformed tweet file (named).
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"PHEME root {str(root_path)!r} is not a folder")
    events, n_empty, n_threads = [], 0, 0
    label_dirs = sorted(p for p in root_path.rglob("*") if p.is_dir() and p.name in _PHEME_LABELS)
    for label_dir in label_dirs:
        label = _PHEME_LABELS[label_dir.name]
        for thread in sorted(p for p in label_dir.iterdir() if p.is_dir()):
            n_threads += 1
            files = [
                f
                for sub in ("source-tweet", "source-tweets", "reactions")
                if (thread / sub).is_dir()
                for f in sorted((thread / sub).iterdir())
                if _is_data_file(f)
            ]
            posts = [_tweet_post(f) for f in files]
            if not posts:
                n_empty += 1
                continue
            events.append(make_event(thread.name, label, posts))
    if n_threads == 0:
        raise DataFormatError(
            f"{root_path}: no PHEME thread found (expected .../rumours/<thread>/source-tweet(s)/"
            "and .../non-rumours/<thread>/...)"
        )
    _warn_skipped(n_empty, root_path)
    return events


def _weibo_post(path: Path, index: int, post: Any) -> tuple[float, str]:
    if not isinstance(post, dict):
        raise DataFormatError(f"{path}: post {index} is not a JSON object")
    text = post.get("text", post.get("original_text"))
    t = post.get("t")
    if not isinstance(text, str) or isinstance(t, bool) or not isinstance(t, int | float):
        raise DataFormatError(
            f"{path}: post {index} needs a numeric 't' and a string 'text' or 'original_text'"
        )
    return float(t), text


def load_weibo(root: str | os.PathLike[str]) -> list[Event]:
    """Load Ma et al.'s Weibo release: ``root/Weibo.txt`` and ``root/Weibo/<eid>.json``.

    Returns:
        events in the order of ``Weibo.txt``.

    Raises:
        FileNotFoundError: ``Weibo.txt`` or an event's JSON file is missing (named).
        DataFormatError: a malformed line of ``Weibo.txt`` (file and line) or JSON file.
    """
    root_path = Path(root)
    index_file = root_path / "Weibo.txt"
    if not index_file.is_file():
        raise FileNotFoundError(f"no Weibo.txt in {str(root_path)!r}")
    events, n_empty = [], 0
    with open(index_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.split()
            if (
                len(fields) < 2
                or not fields[0].startswith("eid:")
                or not fields[1].startswith("label:")
                or fields[1][6:] not in ("0", "1")
                or not fields[0][4:]
            ):
                raise DataFormatError(
                    f"{index_file}:{lineno}: expected 'eid:<id> label:<0|1> <post ids>', "
                    f"got {line.strip()[:80]!r}"
                )
            eid, label = fields[0][4:], int(fields[1][6:])
            post_file = root_path / "Weibo" / f"{eid}.json"
            if not post_file.is_file():
                raise FileNotFoundError(f"{index_file}:{lineno}: missing posts file {post_file}")
            raw = _read_json(post_file)
            if not isinstance(raw, list):
                raise DataFormatError(f"{post_file}: expected a JSON list of posts")
            posts = [_weibo_post(post_file, i, p) for i, p in enumerate(raw)]
            if not posts:
                n_empty += 1
                continue
            events.append(make_event(eid, label, posts))
    _warn_skipped(n_empty, index_file)
    return events


def _jsonl_post(where: str, index: int, post: Any) -> tuple[float, str]:
    if isinstance(post, dict):
        t, text = post.get("t"), post.get("text")
    elif isinstance(post, list | tuple) and len(post) == 2:
        t, text = post
    else:
        raise DataFormatError(
            f"{where}: post {index} must be {{'t': ..., 'text': ...}} or [t, text]"
        )
    if isinstance(t, bool) or not isinstance(t, int | float) or not isinstance(text, str):
        raise DataFormatError(f"{where}: post {index} needs a numeric 't' and a string 'text'")
    return float(t), text


def load_jsonl(path: str | os.PathLike[str]) -> list[Event]:
    """Load events from a JSON Lines file (format in the module docstring).

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: malformed line (file and line named), duplicate id, bad label.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no JSON Lines file at {str(p)!r}")
    events, n_empty, seen = [], 0, set()
    with open(p, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{where}: malformed JSON ({exc.msg})") from exc
            if not isinstance(obj, dict) or not {"id", "label", "posts"} <= obj.keys():
                raise DataFormatError(f"{where}: expected an object with 'id', 'label', 'posts'")
            if obj["label"] not in (0, 1) or isinstance(obj["label"], bool):
                raise DataFormatError(f"{where}: label {obj['label']!r} is not 0 or 1")
            if not isinstance(obj["posts"], list):
                raise DataFormatError(f"{where}: 'posts' must be a list")
            eid = str(obj["id"])
            if eid in seen:
                raise DataFormatError(f"{where}: duplicate event id {eid!r}")
            seen.add(eid)
            posts = [_jsonl_post(where, i, q) for i, q in enumerate(obj["posts"])]
            if not posts:
                n_empty += 1
                continue
            events.append(make_event(eid, obj["label"], posts))
    _warn_skipped(n_empty, p)
    return events


def save_jsonl(events: Iterable[Event], path: str | os.PathLike[str]) -> Path:
    """Write ``events`` in the JSON Lines format of :func:`load_jsonl` (atomically)."""
    from rlcore.common.serialization import atomic_write_bytes

    lines = [
        json.dumps(
            {"id": e.id, "label": e.label, "posts": [{"t": t, "text": x} for t, x in e.posts]},
            ensure_ascii=False,
        )
        for e in events
    ]
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


def load_dataset(path: str | os.PathLike[str]) -> list[Event]:
    """Load a path of any supported format: a ``.jsonl`` file, a folder holding ``Weibo.txt``
    (Weibo), or any other folder (PHEME)."""
    p = Path(path)
    if p.is_file():
        return load_jsonl(p)
    if (p / "Weibo.txt").is_file():
        return load_weibo(p)
    if p.is_dir():
        return load_pheme(p)
    raise FileNotFoundError(f"dataset path {str(p)!r} does not exist")
