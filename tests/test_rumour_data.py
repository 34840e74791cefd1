"""Rumour data: tokenizer, vocabulary, chunking, split, synthetic generator and loaders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rlcore.envs.rumour import (
    DataFormatError,
    Event,
    Vocabulary,
    chunk_posts,
    leave_one_group_out,
    load_dataset,
    load_dataset_cached,
    load_jsonl,
    load_pheme,
    load_weibo,
    make_event,
    save_jsonl,
    split_by_group,
    split_by_ids,
    split_events,
    synthetic,
    tokenize,
)


# ----------------------------------------------------------------------------- text
def test_tokenize_normalizes_urls_mentions_hashtags_numbers() -> None:
    toks = tokenize("BREAKING: @CNN says #Hoax?? see https://t.co/xyz 12 people")
    assert toks == [
        "breaking",
        "<user>",
        "says",
        "hoax",
        "?",
        "?",
        "see",
        "<url>",
        "<num>",
        "people",
    ]
    assert tokenize("已 证实 消息") == ["已", "证实", "消息"]  # segmented Weibo text


def test_vocabulary_min_freq_oov_and_padding() -> None:
    vocab = Vocabulary.build([["a", "b", "a"], ["a", "c", "b"]], min_freq=2)
    assert vocab.to_list() == ["<pad>", "<oov>", "a", "b"]
    assert vocab.encode(["a", "c", "zzz", "b"]) == [2, 1, 1, 3]
    assert Vocabulary(vocab.to_list()[2:]) == vocab
    assert len(Vocabulary.build([["a", "b", "c"]], min_freq=1, max_size=4)) == 4
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build([["a"]], min_freq=0)


def test_chunking_by_posts_and_by_time() -> None:
    times = [0, 10, 20, 30, 40, 50, 60]
    assert chunk_posts(times, "posts", posts_per_chunk=3) == [(0, 3), (3, 6), (6, 7)]
    assert chunk_posts(times, "posts", posts_per_chunk=3, max_chunks=2) == [(0, 3), (3, 6)]
    hours = [
        0,
        100,
        7300,
        7400,
        30000,
    ]  # intervals of 2 h: [0, 7200), [7200, 14400), ... empty skipped
    assert chunk_posts(hours, "time", interval_seconds=7200) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(ValueError, match="chunking mode 'words'"):
        chunk_posts(times, "words")


def test_split_is_deterministic_by_event_and_disjoint() -> None:
    events = synthetic(300, seed=1, difficulty="easy")
    parts = split_events(events, seed=0)
    again = split_events(list(reversed(events)), seed=0)
    for name in ("train", "val", "test"):
        assert {e.id for e in parts[name]} == {e.id for e in again[name]}
    ids = [e.id for p in parts.values() for e in p]
    assert len(ids) == len(set(ids)) == 300
    assert 0.55 < len(parts["train"]) / 300 < 0.8 and 0.03 < len(parts["val"]) / 300 < 0.2
    other = split_events(events, seed=1)
    assert {e.id for e in other["test"]} != {e.id for e in parts["test"]}
    with pytest.raises(ValueError, match="val_fraction"):
        split_events(events, val_fraction=0.6, test_fraction=0.5)


# ----------------------------------------------------------------------------- synthetic
def test_synthetic_is_seeded_varied_and_shares_vocabulary() -> None:
    a, b = synthetic(200, seed=3), synthetic(200, seed=3)
    assert a == b and synthetic(200, seed=4) != a
    labels = np.array([e.label for e in a])
    assert 0.35 < labels.mean() < 0.65
    lengths = np.array([len(e.posts) for e in a])
    assert lengths.min() >= 8 and lengths.max() > 5 * lengths.min()
    for e in a:
        times = [t for t, _ in e.posts]
        assert times == sorted(times)
    words = [
        {w for e in a if e.label == c for _, x in e.posts for w in tokenize(x)} for c in (0, 1)
    ]
    shared = len(words[0] & words[1]) / len(words[0] | words[1])
    assert shared > 0.8  # both classes draw from the same vocabulary
    with pytest.raises(ValueError, match="difficulty 'trivial'"):
        synthetic(10, difficulty="trivial")
    with pytest.raises(ValueError, match="evidence_rate"):
        synthetic(10, evidence_rate=1.5)


# ----------------------------------------------------------------------------- PHEME
def _tweet(path: Path, created_at: str, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"created_at": created_at, "text": text, "id": 1}))


def _pheme_tree(root: Path) -> None:
    t1 = root / "charliehebdo" / "rumours" / "552783238415265792"
    _tweet(
        t1 / "source-tweet" / "552783238415265792.json",
        "Wed Jan 07 11:06:08 +0000 2015",
        "source A",
    )
    _tweet(t1 / "reactions" / "2.json", "Wed Jan 07 12:00:00 +0000 2015", "later reply")
    _tweet(t1 / "reactions" / "1.json", "Wed Jan 07 11:30:00 +0000 2015", "earlier reply")
    (t1 / "structure.json").write_text("{}")
    (t1 / "reactions" / ".DS_Store").write_bytes(b"\x00\x01binary")
    (t1 / "reactions" / "._1.json").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    # PHEME v9 layout: 'source-tweets', annotation.json
    t2 = (
        root
        / "all-rnr-annotated-threads"
        / "ottawashooting-all-rnr-threads"
        / "non-rumours"
        / "5244"
    )
    _tweet(t2 / "source-tweets" / "5244.json", "Wed Oct 22 14:00:00 +0000 2014", "police confirm")
    (t2 / "annotation.json").write_text(json.dumps({"is_rumour": "nonrumour"}))
    (root / ".DS_Store").write_bytes(b"\x00")
    (root / "charliehebdo" / "non-rumours" / "999" / "reactions").mkdir(
        parents=True
    )  # empty thread


def test_load_pheme_reads_both_layouts_sorts_posts_and_skips_empty(tmp_path: Path) -> None:
    _pheme_tree(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 event"):
        events = load_pheme(tmp_path)
    by_id = {e.id: e for e in events}
    assert set(by_id) == {"552783238415265792", "5244"}
    rumour = by_id["552783238415265792"]
    assert rumour.label == 1 and [x for _, x in rumour.posts] == [
        "source A",
        "earlier reply",
        "later reply",
    ]
    assert rumour.posts[1][0] - rumour.posts[0][0] == pytest.approx(23 * 60 + 52)
    assert by_id["5244"].label == 0 and len(by_id["5244"].posts) == 1
    with pytest.warns(UserWarning, match="skipped 1 event"):
        assert load_dataset(tmp_path) == events


def test_load_pheme_malformed_tweet_names_the_file(tmp_path: Path) -> None:
    _pheme_tree(tmp_path)
    bad = tmp_path / "charliehebdo" / "rumours" / "552783238415265792" / "reactions" / "3.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match=r"3\.json:1: malformed JSON"):
        load_pheme(tmp_path)
    bad.write_text(json.dumps({"created_at": "yesterday", "text": "x"}))
    with pytest.raises(DataFormatError, match=r"3\.json: created_at 'yesterday'"):
        load_pheme(tmp_path)
    with pytest.raises(DataFormatError, match="no PHEME thread"):
        load_pheme(tmp_path / "charliehebdo" / "rumours" / "552783238415265792")


# ----------------------------------------------------------------------------- Weibo
def _weibo_tree(root: Path) -> None:
    (root / "Weibo").mkdir(parents=True)
    (root / "Weibo.txt").write_text(
        "eid:4010312877\tlabel:1\t4010312877 4010313758\neid:555\tlabel:0\t555\neid:777\tlabel:0\t\n"
    )
    posts = [
        {"t": 1400000300, "text": "不 可能 吧", "original_text": "不可能吧", "mid": "2"},
        {"t": 1400000000, "text": "震惊 谣言", "original_text": "震惊谣言", "mid": "1"},
    ]
    (root / "Weibo" / "4010312877.json").write_text(json.dumps(posts, ensure_ascii=False))
    (root / "Weibo" / "555.json").write_text(json.dumps([{"t": 5, "original_text": "官方 证实"}]))
    (root / "Weibo" / "777.json").write_text("[]")


def test_load_weibo_reads_release_and_sorts_posts(tmp_path: Path) -> None:
    _weibo_tree(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 event"):
        events = load_weibo(tmp_path)
    assert [(e.id, e.label) for e in events] == [("4010312877", 1), ("555", 0)]
    assert events[0].posts == ((1400000000.0, "震惊 谣言"), (1400000300.0, "不 可能 吧"))
    assert events[1].posts == ((5.0, "官方 证实"),)


def test_load_weibo_malformed_inputs_name_file_and_line(tmp_path: Path) -> None:
    _weibo_tree(tmp_path)
    index = tmp_path / "Weibo.txt"
    index.write_text("eid:555\tlabel:0\t555\neid:1 lable:1 2\n")
    with pytest.raises(DataFormatError, match=r"Weibo\.txt:2: expected 'eid:<id> label:<0\|1>"):
        load_weibo(tmp_path)
    index.write_text("eid:404\tlabel:1\t1\n")
    with pytest.raises(FileNotFoundError, match=r"Weibo\.txt:1: missing posts file .*404\.json"):
        load_weibo(tmp_path)
    index.write_text("eid:555\tlabel:0\t1\n")
    (tmp_path / "Weibo" / "555.json").write_text(json.dumps([{"t": "noon", "text": "x"}]))
    with pytest.raises(DataFormatError, match=r"555\.json: post 0 needs a numeric 't'"):
        load_weibo(tmp_path)
    with pytest.raises(FileNotFoundError, match="no Weibo.txt"):
        load_weibo(tmp_path / "Weibo")


# ----------------------------------------------------------------------------- JSON Lines
def test_jsonl_round_trip_and_empty_events(tmp_path: Path) -> None:
    events = synthetic(20, seed=2, difficulty="easy")
    path = save_jsonl(events, tmp_path / "events.jsonl")
    assert load_jsonl(path) == events and load_dataset(path) == events
    with open(path, "a") as f:
        f.write(json.dumps({"id": "empty", "label": 0, "posts": []}) + "\n")
        f.write(json.dumps({"id": "pairs", "label": 1, "posts": [[9, "b"], [3, "a"]]}) + "\n")
    with pytest.warns(UserWarning, match="skipped 1 event"):
        loaded = load_jsonl(path)
    assert loaded[-1] == Event("pairs", 1, ((3.0, "a"), (9.0, "b")))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "malformed JSON"),
        ('{"id": "a", "posts": []}', "expected an object with 'id', 'label', 'posts'"),
        ('{"id": "a", "label": 2, "posts": []}', "label 2 is not 0 or 1"),
        (
            '{"id": "a", "label": 1, "posts": [{"t": 1}]}',
            "post 0 needs a numeric 't' and a string 'text'",
        ),
        ('{"id": "a", "label": 1, "posts": [[1, "x", 3]]}', "post 0 must be"),
    ],
)
def test_jsonl_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "ok", "label": 0, "posts": [{"t": 0, "text": "fine"}]}\n\n' + line + "\n"
    )
    with pytest.raises(DataFormatError, match=rf"bad\.jsonl:3: .*{message[:20]}"):
        load_jsonl(path)


def test_event_checks_label_and_order() -> None:
    with pytest.raises(ValueError, match="label 3 is not 0 or 1"):
        Event("x", 3, ((0.0, "a"),))
    with pytest.raises(ValueError, match="not sorted by time"):
        Event("x", 1, ((5.0, "a"), (1.0, "b")))
    assert make_event("x", 1, [(5, "a"), (1, "b")]).posts == ((1.0, "b"), (5.0, "a"))


# ----------------------------------------------------------------------------- real PHEME data
PHEME_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pheme"
PHEME_JSONL = PHEME_DIR / "pheme_v9_rnr_7events.jsonl"


def test_load_raw_pheme_tree_keeps_event_veracity_and_sorted_posts() -> None:
    events = load_pheme(PHEME_DIR / "gurlitt-all-rnr-threads")
    assert len(events) == 138  # the README's count
    assert sum(e.label for e in events) == 61 and sum(1 - e.label for e in events) == 77
    assert {e.group for e in events} == {"gurlitt"}
    assert sum(len(e.posts) for e in events) == 179
    veracity = [e.veracity for e in events]
    assert veracity.count("non-rumour") == 77 and veracity.count("true") == 59
    assert veracity.count("unverified") == 2
    for e in events:
        times = [t for t, _ in e.posts]
        assert times == sorted(times)
    # the same threads as the release's JSON Lines conversion: ids, labels, posts, veracity
    converted = {e.id: e for e in load_jsonl(PHEME_JSONL) if e.group == "gurlitt"}
    assert converted == {e.id: e for e in events}


def test_load_dataset_cached_parses_once_and_envs_share_it(tmp_path: Path) -> None:
    import gymnasium as gym
    import rlcore.envs  # noqa: F401

    groups = ("gurlitt", "putinmissing")
    path = save_jsonl(
        [e for e in load_jsonl(PHEME_JSONL) if e.group in groups], tmp_path / "s.jsonl"
    )
    a = load_dataset_cached(path)
    assert load_dataset_cached(path) is a and len(a) == 138 + 238
    env = gym.make("rlcore/RumourStream-v0", dataset=path, test_groups=["gurlitt"])
    test = gym.make("rlcore/RumourStream-v0", dataset=path, test_groups=["gurlitt"], split="test")
    shared = {id(e) for e in a}  # one parsed corpus: the environments hold the same objects
    assert all(id(e) in shared for e in env.unwrapped.events + test.unwrapped.events)
    assert {s.event.group for s in test.unwrapped.streams} == {"gurlitt"}
    assert "gurlitt" not in {s.event.group for s in env.unwrapped.streams}
    save_jsonl(a[:10], path)  # a changed file is read again
    assert len(load_dataset_cached(path)) == 10


def test_tweet_text_normalization() -> None:
    assert tokenize("@a @b @c RT &amp; see http://x.co/1 https://y.co/2 &lt;3") == [
        "<user>",
        "rt",
        "see",
        "<url>",
        "<num>",
    ]


# ----------------------------------------------------------------------------- splits
def test_leave_one_event_out_never_puts_an_event_on_both_sides() -> None:
    events = load_jsonl(PHEME_JSONL)
    folds = list(leave_one_group_out(events, val_fraction=0.1))
    assert [g for g, _ in folds] == sorted({e.group for e in events}) and len(folds) == 7
    for group, parts in folds:
        ids = {p: {e.id for e in parts[p]} for p in parts}
        assert not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
        assert not ids["train"] & ids["val"]
        assert sum(len(v) for v in ids.values()) == len(events)
        assert {e.group for e in parts["test"]} == {group}
        assert group not in {e.group for e in parts["train"] + parts["val"]}
    with pytest.raises(ValueError, match="group 'nope' is not a group"):
        split_by_group(events, ["nope"])
    with pytest.raises(ValueError, match="event 'x' has no group"):
        split_by_group([Event("x", 1, ((0.0, "a"),))], ["g"])


def test_split_by_ids() -> None:
    events = synthetic(30, seed=0, difficulty="easy")
    ids = [e.id for e in events]
    parts = split_by_ids(events, val=ids[:3], test=ids[3:10])
    assert [e.id for e in parts["test"]] == ids[3:10] and len(parts["train"]) == 20
    only = split_by_ids(events, train=ids[:5], test=ids[5:7])
    assert len(only["train"]) == 5 and not only["val"]
    with pytest.raises(ValueError, match="in both the val and the test lists"):
        split_by_ids(events, val=ids[:2], test=ids[1:3])
    with pytest.raises(ValueError, match="test id 'ghost' is not the id"):
        split_by_ids(events, test=["ghost"])


def test_vocabulary_never_holds_a_word_seen_only_in_test_events() -> None:
    from rlcore.envs.rumour.env import RumourStreamEnv

    events = [e for e in load_jsonl(PHEME_JSONL) if e.group in ("gurlitt", "putinmissing")]
    env = RumourStreamEnv(events, test_groups=["gurlitt"], min_freq=1, split="test")
    train_words = {
        w for e in events if e.group != "gurlitt" for _, x in e.posts for w in tokenize(x)
    }
    test_only = {w for e in env.events for _, x in e.posts for w in tokenize(x)} - train_words
    assert "gurlitt" in test_only  # the news event's own name is only in its threads
    assert not test_only & set(env.vocab.to_list())
    with pytest.raises(ValueError, match="training part of the split is empty"):
        RumourStreamEnv(events, split_ids={"train": [], "test": [events[0].id]}, split="test")


# ----------------------------------------------------------------------------- bad data
GOOD = '{"id": "ok", "label": 0, "posts": [{"t": 0, "text": "fine"}]}\n'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "label": 1, "posts": [{"t": NaN, "text": "x"}]}', "timestamp nan"),
        ('{"id": "a", "label": 1, "posts": [{"t": Infinity, "text": "x"}]}', "timestamp inf"),
        ('{"id": "a", "label": 1, "posts": [{"text": "x"}]}', "post 0 has no timestamp"),
        (
            '{"id": "ok", "label": 1, "posts": [[1, "x"]]}',
            "duplicate event id 'ok' .first on line 1",
        ),
        ('{"id": "a", "label": "1", "posts": []}', "label '1' is not 0 or 1"),
        ('{"id": "a", "label": true, "posts": []}', "label True is not 0 or 1"),
        ('{"id": "a", "label": -1, "posts": []}', "label -1 is not 0 or 1"),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"id": {"x": 1}, "label": 1, "posts": []}', "id {'x': 1} must be a string"),
    ],
)
def test_jsonl_bad_data_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD + line + "\n")
    with pytest.raises(DataFormatError, match=rf"bad\.jsonl:2: .*{message}"):
        load_jsonl(path)


def test_non_utf8_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        GOOD.encode() + '{"id": "b", "label": 1, "posts": [[0, "caf\xe9"]]}\n'.encode("latin-1")
    )
    with pytest.raises(DataFormatError, match=r"latin1\.jsonl:2: byte b'\\xe9' is not UTF-8"):
        load_jsonl(path)
    _pheme_tree(tmp_path / "tree")
    tweet = next((tmp_path / "tree").rglob("reactions/1.json"))
    tweet.write_bytes(b'{"created_at": "Wed Jan 07 11:30:00 +0000 2015",\n "text": "caf\xe9"}')
    with pytest.raises(DataFormatError, match=r"1\.json:2: byte b'\\xe9' is not UTF-8"):
        load_pheme(tmp_path / "tree")


def test_pheme_duplicate_thread_and_weibo_duplicate_event(tmp_path: Path) -> None:
    _pheme_tree(tmp_path)
    copy = tmp_path / "other-all-rnr-threads" / "rumours" / "552783238415265792"
    _tweet(copy / "source-tweets" / "9.json", "Wed Jan 07 11:06:08 +0000 2015", "again")
    with pytest.raises(
        DataFormatError, match=r"duplicate thread id '552783238415265792' \(also at"
    ):
        load_pheme(tmp_path)
    weibo = tmp_path / "weibo"
    _weibo_tree(weibo)
    (weibo / "Weibo.txt").write_text("eid:555\tlabel:0\t555\neid:555\tlabel:1\t555\n")
    with pytest.raises(DataFormatError, match=r"Weibo\.txt:2: duplicate event id '555'"):
        load_weibo(weibo)
    with pytest.raises(ValueError, match="timestamp nan is not a finite number"):
        Event("x", 1, ((float("nan"), "a"),))


def test_group_and_veracity_round_trip_through_jsonl(tmp_path: Path) -> None:
    events = [
        make_event("a", 1, [(2, "y"), (1, "x")], group="ferguson", veracity="false"),
        make_event("b", 0, [(0, "z")]),
    ]
    assert load_jsonl(save_jsonl(events, tmp_path / "g.jsonl")) == events
