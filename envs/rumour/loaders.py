"""Loaders for published rumour data sets and a JSON Lines interchange format.

Every loader returns a list of :class:`~rlcore.envs.rumour.events.Event` (label 1 = rumour), posts
sorted by time. A malformed file raises :class:`DataFormatError` naming the file (and the line
for line-based files). Events with no posts are skipped and counted in one warning.

Formats:

* **PHEME** rumour / non-rumour (Zubiaga et al.): ``<root>/[<event>/]rumours|non-rumours/
  <thread-id>/source-tweet(s)/<id>.json`` and ``reactions/<id>.json``; each tweet JSON has
  ``created_at`` (``"Wed Jan 07 11:06:08 +0000 2015"``) and ``text`` (or ``full_text``).
  Both ``source-tweet`` (PHEME-RNR) and ``source-tweets`` (PHEME v9) are read; other files
  (``structure.json``, ``retweets.json``, ``.DS_Store``, macOS ``._*`` files) are ignored;
  ``annotation.json`` gives the veracity of rumours; the news event is the folder above
  ``rumours`` / ``non-rumours`` (without ``-all-rnr-threads``).
* **Weibo** (Ma et al., IJCAI 2016, "rumdect"): ``<root>/Weibo.txt`` with one event a line,
  ``eid:<id>\\tlabel:<0|1>\\t<post ids ...>``, and ``<root>/Weibo/<eid>.json``, a JSON list of
  posts with ``t`` (Unix seconds) and ``text`` (segmented) or ``original_text``.
* **JSON Lines** (this package): one event a line,
  ``{"id": "e1", "label": 1, "posts": [{"t": 0.0, "text": "..."}, ...]}``, optionally with
  ``"event"`` (the news story, kept as :attr:`Event.group`) and ``"veracity"``; a post may
  also be a ``[t, text]`` pair. :func:`save_jsonl` writes it.

Bad data raises :class:`DataFormatError` naming the file and line: NaN, infinite or missing
timestamps, labels other than 0 / 1, duplicate event ids (both places named), bytes that are
not UTF-8, malformed or too deeply nested JSON. :func:`load_dataset_cached` parses a path once
per process (the environment uses it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from rlcore.envs.rumour.events import Event, make_event

_TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
_PHEME_LABELS = {"rumours": 1, "non-rumours": 0}
_PHEME_SUFFIX = "-all-rnr-threads"


class DataFormatError(ValueError):
    """A data file does not follow its format; the message names the file (and line)."""


def _warn_skipped(n_empty: int, source: str | os.PathLike[str]) -> None:
    if n_empty:
        warnings.warn(
            f"{source}: skipped {n_empty} event(s) with no posts", UserWarning, stacklevel=3
        )


def _decode(data: bytes, where: str, first_line: int = 1) -> str:
    """UTF-8 text of ``data``; a bad byte raises :class:`DataFormatError` naming its line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data[: exc.start].count(b"\n")
        raise DataFormatError(
            f"{where}:{line}: byte {data[exc.start : exc.start + 1]!r} is not UTF-8 "
            "(expected UTF-8 text)"
        ) from None


def _parse_json(text: str, where: str) -> Any:
    """``json.loads`` with errors naming ``where`` (``file`` or ``file:line``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError:
        raise DataFormatError(f"{where}: JSON nested too deeply (expected a flat record)") from None


def _read_json(path: Path) -> Any:
    data = path.read_bytes()
    text = _decode(data, str(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
    except RecursionError:
        raise DataFormatError(f"{path}: JSON nested too deeply (expected a tweet)") from None


def _check_time(t: Any, where: str, what: str) -> float:
    """A finite number of seconds, or :class:`DataFormatError` naming ``where``."""
    if t is None:
        raise DataFormatError(f"{where}: {what} has no timestamp (expected a number of seconds)")
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise DataFormatError(
            f"{where}: {what} needs a numeric 't' (got {t!r}) and a string 'text'"
        )
    if not math.isfinite(t):
        raise DataFormatError(f"{where}: {what} has timestamp {t!r} (expected a finite number)")
    return float(t)


def _is_data_file(entry: os.DirEntry[str]) -> bool:
    return entry.name.endswith(".json") and not entry.name.startswith(".") and entry.is_file()


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


def _pheme_veracity(thread: Path, label: int) -> str | None:
    """Veracity from ``annotation.json`` (PHEME v9), as the release's conversion script maps it:
    misinformation 1 -> false, true 1 -> true, otherwise unverified; non-rumours: non-rumour."""
    if label == 0:
        return "non-rumour"
    path = thread / "annotation.json"
    if not path.is_file():
        return None
    ann = _read_json(path)
    if not isinstance(ann, dict):
        raise DataFormatError(f"{path}: expected a JSON object")
    try:
        mis = int(ann.get("misinformation", 0) or 0)
        true = int(ann.get("true", 0) or 0)
    except (TypeError, ValueError):
        raise DataFormatError(
            f"{path}: 'misinformation' / 'true' must be 0 or 1, got "
            f"{ann.get('misinformation')!r} / {ann.get('true')!r}"
        ) from None
    if mis == 1 and true == 1:
        raise DataFormatError(f"{path}: both 'misinformation' and 'true' are 1")
    return "false" if mis == 1 else "true" if true == 1 else "unverified"


def _pheme_group(label_dir: Path) -> str:
    """The news event of a ``rumours`` / ``non-rumours`` folder: its parent folder's name
    without the v9 suffix ``-all-rnr-threads``."""
    name = label_dir.parent.name
    return name[: -len(_PHEME_SUFFIX)] if name.endswith(_PHEME_SUFFIX) else name


def _pheme_label_dirs(root: Path) -> list[Path]:
    """Every ``rumours`` / ``non-rumours`` folder under ``root`` (not descending into them)."""
    found = []
    for folder, dirs, _ in os.walk(root):
        for name in [d for d in dirs if d in _PHEME_LABELS]:
            found.append(Path(folder) / name)
            dirs.remove(name)
    return sorted(found)


def load_pheme(root: str | os.PathLike[str]) -> list[Event]:
    """Load the PHEME rumour / non-rumour threads under ``root`` (any depth).

    Each event keeps its news event as ``group`` (the folder above ``rumours`` /
    ``non-rumours``, without ``-all-rnr-threads``; when ``root`` is that folder itself, its
    name) and, from ``annotation.json`` where present, its ``veracity``.

    Returns:
        events sorted by (news event folder, label folder, thread id); ``id`` is the thread
        folder's name.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DataFormatError: no ``rumours`` / ``non-rumours`` thread under ``root``, a thread id
            found twice (both folders named), or a malformed tweet file (named).
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"PHEME root {str(root_path)!r} is not a folder")
    events, n_empty, n_threads = [], 0, 0
    seen: dict[str, Path] = {}
    for label_dir in _pheme_label_dirs(root_path):
        label = _PHEME_LABELS[label_dir.name]
        group = _pheme_group(label_dir)
        for thread in sorted(p for p in label_dir.iterdir() if p.is_dir()):
            n_threads += 1
            if thread.name in seen:
                raise DataFormatError(
                    f"{thread}: duplicate thread id {thread.name!r} (also at {seen[thread.name]})"
                )
            seen[thread.name] = thread
            files = [
                Path(entry.path)
                for sub in ("source-tweet", "source-tweets", "reactions")
                if (thread / sub).is_dir()
                for entry in sorted(os.scandir(thread / sub), key=lambda e: e.name)
                if _is_data_file(entry)
            ]
            posts = [_tweet_post(f) for f in files]
            if not posts:
                n_empty += 1
                continue
            veracity = _pheme_veracity(thread, label)
            events.append(make_event(thread.name, label, posts, group=group, veracity=veracity))
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
    t = _check_time(post.get("t"), str(path), f"post {index}")
    if not isinstance(text, str):
        raise DataFormatError(
            f"{path}: post {index} needs a numeric 't' and a string 'text' or 'original_text'"
        )
    return t, text


def load_weibo(root: str | os.PathLike[str]) -> list[Event]:
    """Load Ma et al.'s Weibo release: ``root/Weibo.txt`` and ``root/Weibo/<eid>.json``.

    Returns:
        events in the order of ``Weibo.txt``.

    Raises:
        FileNotFoundError: ``Weibo.txt`` or an event's JSON file is missing (named).
        DataFormatError: a malformed line of ``Weibo.txt`` (file and line), a duplicate event
            id (both lines named), or a malformed JSON file.
    """
    root_path = Path(root)
    index_file = root_path / "Weibo.txt"
    if not index_file.is_file():
        raise FileNotFoundError(f"no Weibo.txt in {str(root_path)!r}")
    events, n_empty = [], 0
    seen: dict[str, int] = {}
    text = _decode(index_file.read_bytes(), str(index_file))
    for lineno, line in enumerate(text.splitlines(), start=1):
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
        if eid in seen:
            raise DataFormatError(
                f"{index_file}:{lineno}: duplicate event id {eid!r} (first on line {seen[eid]})"
            )
        seen[eid] = lineno
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
    t = _check_time(t, where, f"post {index}")
    if not isinstance(text, str):
        raise DataFormatError(f"{where}: post {index} needs a numeric 't' and a string 'text'")
    return t, text


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise DataFormatError(f"{where}: {key!r} must be a string, got {value!r}")
    return value


def load_jsonl(path: str | os.PathLike[str]) -> list[Event]:
    """Load events from a JSON Lines file (format in the module docstring).

    Optional fields ``"event"`` (the news story: the event's ``group``) and ``"veracity"`` are
    kept.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a malformed line (file and line named): bytes that are not UTF-8,
            bad JSON or JSON nested too deeply, a missing field, a label other than 0 / 1, a
            missing, NaN or infinite timestamp, a duplicate id (both lines named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no JSON Lines file at {str(p)!r}")
    events, n_empty = [], 0
    seen: dict[str, int] = {}
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{p}:{lineno}"
            line = _decode(raw, str(p), lineno)
            if not line.strip():
                continue
            obj = _parse_json(line, where)
            if not isinstance(obj, dict) or not {"id", "label", "posts"} <= obj.keys():
                raise DataFormatError(f"{where}: expected an object with 'id', 'label', 'posts'")
            label = obj["label"]
            if isinstance(label, bool) or label not in (0, 1):
                raise DataFormatError(f"{where}: label {label!r} is not 0 or 1")
            if not isinstance(obj["posts"], list):
                raise DataFormatError(f"{where}: 'posts' must be a list")
            if isinstance(obj["id"], bool) or not isinstance(obj["id"], str | int):
                raise DataFormatError(f"{where}: id {obj['id']!r} must be a string or an integer")
            eid = str(obj["id"])
            if eid in seen:
                raise DataFormatError(
                    f"{where}: duplicate event id {eid!r} (first on line {seen[eid]})"
                )
            seen[eid] = lineno
            group = _optional_str(obj, "event", where)
            veracity = _optional_str(obj, "veracity", where)
            posts = [_jsonl_post(where, i, q) for i, q in enumerate(obj["posts"])]
            if not posts:
                n_empty += 1
                continue
            events.append(make_event(eid, int(label), posts, group=group, veracity=veracity))
    _warn_skipped(n_empty, p)
    return events


def save_jsonl(events: Iterable[Event], path: str | os.PathLike[str]) -> Path:
    """Write ``events`` in the JSON Lines format of :func:`load_jsonl` (atomically); the
    ``event`` and ``veracity`` fields are written where the events have them."""
    from rlcore.common.serialization import atomic_write_bytes

    lines = []
    for e in events:
        record: dict[str, Any] = {
            "id": e.id,
            "label": e.label,
            "posts": [{"t": t, "text": x} for t, x in e.posts],
        }
        if e.group is not None:
            record["event"] = e.group
        if e.veracity is not None:
            record["veracity"] = e.veracity
        lines.append(json.dumps(record, ensure_ascii=False))
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


def _signature(path: Path) -> str:
    """A digest of the names, sizes and modification times of the file or of every file
    under the folder: it changes when any data file is added, removed or rewritten."""
    h = hashlib.sha256(str(path.resolve()).encode())
    if path.is_file():
        st = path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, signature: str) -> tuple[Event, ...]:
    return tuple(load_dataset(path))


def load_dataset_cached(path: str | os.PathLike[str]) -> tuple[Event, ...]:
    """:func:`load_dataset`, parsed once per process: later calls on the same unchanged path
    (same files, sizes and modification times) return the same immutable events. This is
    what ``gym.make("rlcore/RumourStream-v0", dataset=path)`` uses, so that the environments
    of a vector env or of several splits share one parsed corpus."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset path {str(p)!r} does not exist")
    return _load_cached(str(p.resolve()), _signature(p))
