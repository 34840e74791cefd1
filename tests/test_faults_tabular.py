"""Faults during save and bad checkpoint files: tabular agents and ERD (one serialization).

* A save process killed (SIGKILL) at several points of a save over an existing checkpoint leaves
  a loadable checkpoint (the previous one, or the new one once it was renamed into place); the
  temporary file a killed process could not remove is removed by the next load or save.
* A write error (ENOSPC injected into the file writes) and a full disk (checked before writing)
  leave the previous checkpoint intact and no temporary file.
* Tampered or foreign files are refused with an error naming the file and the problem.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)

import rlcore.common.serialization as ser
from rlcore import ERD, StochDoubleQLearning, StochQLearning
from rlcore.common.serialization import CheckpointError, load_checkpoint, save_checkpoint


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def mdp(n_actions: int = 4096) -> gym.Env:
    return gym.make("rlcore/LargeActionMDP-v0", n_states=50, n_actions=n_actions)


@pytest.fixture(scope="module")
def erd_model() -> ERD:
    """An untrained ERD on a small synthetic stream (no learning: saving is what is tested)."""
    env = gym.make("rlcore/RumourStream-v0", synthetic_kwargs={"n_events": 40, "seed": 0})
    return ERD(env, seed=0)


def tabular_pair() -> tuple[StochQLearning, StochQLearning]:
    """Two agents with different tables: the previous checkpoint and the one being saved."""
    old = StochQLearning(mdp(), seed=0).learn(200)
    new = StochQLearning(mdp(), seed=1).learn(300)
    return old, new


class SignallingFile:
    """Wraps the temporary file of a save: after ``after`` bytes it tells the parent (one byte on
    a pipe) and sleeps, so the parent kills the process at that point of the save."""

    def __init__(self, f, after: int, notify: int) -> None:
        self.f, self.after, self.notify, self.written = f, after, notify, 0

    def write(self, data) -> int:
        n = self.f.write(data)
        self.written += n
        if self.written >= self.after:
            os.write(self.notify, b"x")
            time.sleep(60)
        return n

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def kill_during_save(save: Callable[[], object], point: str, after: int = 0) -> None:
    """Fork a process that runs ``save()`` and pauses at ``point``; SIGKILL it there.

    ``point``: ``"write"`` (after ``after`` bytes of the temporary file), ``"replace"`` (written
    and fsynced, before the rename) or ``"renamed"`` (just after the rename).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: pause at the point, never return into pytest
        try:
            os.close(r)
            if point == "write":
                real_open = ser._open_for_write
                ser._open_for_write = lambda fd: SignallingFile(real_open(fd), after, w)
            else:
                real_replace = os.replace

                def paused_replace(src, dst):
                    if point == "renamed":
                        real_replace(src, dst)
                    os.write(w, b"x")
                    time.sleep(60)

                os.replace = paused_replace
            save()
        finally:
            os._exit(3)  # reached only if the save never paused
    os.close(w)
    try:
        assert os.read(r, 1) == b"x", "the save process ended before reaching the point"
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    finally:
        os.close(r)


KILL_POINTS = [("write", 0), ("write", 1), ("write", 0.3), ("write", 0.9), ("replace", 0)]
"""Where a save is killed: ``("write", x)`` after ``x`` bytes (an int) or that fraction of the
file's size (a float); ``"replace"`` before the rename, ``"renamed"`` just after it."""


def nbytes(after: float, path: Path) -> int:
    return after if isinstance(after, int) else int(after * path.stat().st_size)


@pytest.mark.parametrize(("point", "after"), KILL_POINTS + [("renamed", 0)])
def test_tabular_save_killed_at_several_points(tmp_path: Path, point: str, after: float):
    old, new = tabular_pair()
    path = old.save(tmp_path / "agent.npz")
    kill_during_save(lambda: new.save(path), point, nbytes(after, path))
    loaded = StochQLearning.load(path)  # loadable, and removes the killed save's temporary
    expected = new if point == "renamed" else old
    np.testing.assert_array_equal(loaded.q, expected.q)
    np.testing.assert_array_equal(loaded.memory.table, expected.memory.table)
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize(("point", "after"), KILL_POINTS)
def test_erd_save_killed_at_several_points(tmp_path: Path, erd_model: ERD, point: str, after: int):
    path = erd_model.save(tmp_path / "erd.npz")
    before = path.read_bytes()
    kill_during_save(lambda: erd_model.save(path), point, nbytes(after, path))
    assert len(temporaries(tmp_path)) == (1 if point in ("write", "replace") else 0)
    assert path.read_bytes() == before
    ERD.load(path)  # loadable
    erd_model.save(path)  # a later save removes the killed save's temporary too
    assert temporaries(tmp_path) == []


def test_random_kills_of_a_process_saving_in_a_loop(tmp_path: Path):
    """Unplanned points: a process saving over one path in a loop, killed after random delays."""
    old, new = tabular_pair()
    path = old.save(tmp_path / "loop.npz")
    rng = np.random.default_rng(0)
    for delay in rng.uniform(0.0, 0.05, size=6):
        pid = os.fork()
        if pid == 0:
            try:
                for i in range(10_000):
                    (new if i % 2 else old).save(path)
            finally:
                os._exit(0)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = StochQLearning.load(path)
        assert any(np.array_equal(loaded.q, a.q) for a in (old, new))
        assert temporaries(tmp_path) == []


class FailingFile:
    """Raises ENOSPC once ``limit`` bytes have been written (a full disk mid-save)."""

    def __init__(self, f, limit: int) -> None:
        self.f, self.limit, self.written = f, limit, 0

    def write(self, data) -> int:
        if self.written + len(data) > self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("limit", [0, 1_000, 200_000])
def test_write_error_keeps_the_previous_checkpoints(
    tmp_path: Path, monkeypatch, erd_model: ERD, limit: int
):
    old, new = tabular_pair()
    tab_path = old.save(tmp_path / "agent.npz")
    erd_path = erd_model.save(tmp_path / "erd.npz")
    tab_bytes, erd_bytes = tab_path.read_bytes(), erd_path.read_bytes()
    real_open = ser._open_for_write
    monkeypatch.setattr(ser, "_open_for_write", lambda fd: FailingFile(real_open(fd), limit))
    for save, path in (
        (lambda: new.save(tab_path), tab_path),
        (lambda: erd_model.save(erd_path), erd_path),
    ):
        with pytest.raises(
            OSError, match="could not write .*the previous file is unchanged"
        ) as exc:
            save()
        assert exc.value.errno == errno.ENOSPC and str(path) in str(exc.value)
    assert temporaries(tmp_path) == []
    assert tab_path.read_bytes() == tab_bytes and erd_path.read_bytes() == erd_bytes
    monkeypatch.undo()
    np.testing.assert_array_equal(StochQLearning.load(tab_path).q, old.q)
    ERD.load(erd_path)


def test_full_disk_is_detected_before_writing(tmp_path: Path, monkeypatch):
    old, new = tabular_pair()
    path = old.save(tmp_path / "agent.npz")
    before = path.read_bytes()
    usage = ser.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(ser.shutil, "disk_usage", lambda _: usage._replace(free=10_000))
    with pytest.raises(OSError, match=r"not enough free disk space to save .*agent.npz") as exc:
        new.save(path)
    assert exc.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and temporaries(tmp_path) == []


def test_save_streams_a_lazily_committed_table_without_copying_it(tmp_path: Path):
    """A 2 * 10**7-entry table (160 MB, nearly all zero) saves and loads without committing it."""
    agent = StochQLearning(
        gym.make("rlcore/LargeActionMDP-v0", n_states=1, n_actions=2 * 10**7), seed=0
    )
    agent.learn(100)

    def rss() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    before = rss()
    path = agent.save(tmp_path / "huge.npz", compress=True)
    loaded = StochQLearning.load(path)
    assert rss() - before < 40 * 2**20, "save + load committed the table"
    np.testing.assert_array_equal(
        loaded.q_values(0, np.flatnonzero(agent.q[0, 0])), agent.q[0, 0][agent.q[0, 0] != 0]
    )
    assert path.stat().st_size < 2**20


# ----------------------------------------------------------------------- bad checkpoint files
def rewrite(path: Path, out: Path, meta_edit=None, arrays_edit=None) -> Path:
    """Copy checkpoint ``path`` to ``out`` with its metadata and / or arrays edited."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop(ser._META_KEY).tobytes())
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **{ser._META_KEY: blob}, **arrays)
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    return StochDoubleQLearning(mdp(n_actions=64), seed=0).learn(300).save(folder / "good.npz")


def _set(d: dict, keys: tuple, value) -> None:
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda m: _set(m, ("version",), 2),
            r"format version 2 is newer than this rlcore reads \(1\)",
        ),
        (lambda m: _set(m, ("version",), "1"), r"format version must be a positive integer"),
        (lambda m: m.pop("params"), r"metadata has no 'params' object"),
        (lambda m: _set(m, ("format",), "other"), r"not an rlcore checkpoint \(format 'other'\)"),
        (lambda m: _set(m, ("algorithm",), None), r"metadata names no algorithm"),
        (lambda m: m["params"].pop("spaces"), r"metadata lacks spaces"),
        (lambda m: _set(m, ("params", "spaces"), [3, 64, 0]), r"spaces must be \[n_states >= 1"),
        (
            lambda m: _set(m, ("params", "hparams", "gamma"), 7),
            r"invalid hyper-parameters: gamma must be",
        ),
        (
            lambda m: _set(m, ("params", "hparams", "evil"), 1),
            r"hparams must be an object with the keys",
        ),
        (
            lambda m: _set(m, ("params", "num_timesteps"), -5),
            r"num_timesteps must be an integer >= 0",
        ),
        (lambda m: _set(m, ("params", "exploration_rate"), 3.0), r"exploration_rate must be"),
        (
            lambda m: _set(m, ("params", "rng_state"), "{}"),
            r"rng_state is not a valid random generator",
        ),
    ],
)
def test_tampered_metadata_is_refused_naming_the_file(tmp_path: Path, saved: Path, edit, match):
    bad = rewrite(saved, tmp_path / "bad.npz", meta_edit=edit)
    with pytest.raises(CheckpointError, match=match) as exc:
        StochDoubleQLearning.load(bad)
    assert str(exc.value).startswith(repr(str(bad)))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda a: a.update(q=a["q"].astype(np.int8)),
            r"Q-table is int8 of shape .* expected float64",
        ),
        (
            lambda a: a.update(q=a["q"][:1]),
            r"Q-table is float64 of shape \(1, 50, 64\), expected float64 of shape \(2, 50, 64\)",
        ),
        (lambda a: a.update(memory=a["memory"].astype(np.float64)), r"memory is float64"),
        (lambda a: a.update(memory=a["memory"] + 1000), r"memory holds actions outside \[-1, 64\)"),
        (lambda a: a.pop("memory"), r"no 'memory' entry"),
        (lambda a: a.update(extra=np.zeros(3)), r"unexpected entry 'extra'"),
        (lambda a: a.update(q=np.array([{"x": 1}], dtype=object)), r"entry 'q' has dtype object"),
    ],
)
def test_wrong_arrays_are_refused(tmp_path: Path, saved: Path, edit, match):
    bad = tmp_path / "bad.npz"
    with np.load(saved, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    edit(arrays)
    np.savez(bad, **arrays)  # allow_pickle for the object case: the loader must not unpickle
    with pytest.raises(CheckpointError, match=match):
        StochDoubleQLearning.load(bad)


def test_corrupt_and_foreign_files_are_refused(tmp_path: Path, saved: Path):
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated.npz'.*not an rlcore checkpoint"):
        StochDoubleQLearning.load(truncated)
    flipped = tmp_path / "flipped.npz"
    raw = bytearray(data)
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("q.npy")
    raw[info.header_offset + 200] ^= 0xFF  # inside the stored q entry
    flipped.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"entry 'q' is truncated or corrupt"):
        StochDoubleQLearning.load(flipped)
    not_json = tmp_path / "not_json.npz"
    np.savez(not_json, **{ser._META_KEY: np.frombuffer(b"{nope", dtype=np.uint8)})
    with pytest.raises(CheckpointError, match=r"not_json.npz'.*metadata is not valid JSON"):
        StochQLearning.load(not_json)
    with pytest.raises(CheckpointError, match=r"is a folder"):
        StochQLearning.load(tmp_path)
    with pytest.raises(
        CheckpointError, match=r"holds a 'StochDoubleQLearning' checkpoint, not 'ERD'"
    ):
        ERD.load(saved)


def test_future_version_is_refused_for_erd_too(tmp_path: Path, erd_model: ERD):
    path = erd_model.save(tmp_path / "erd.npz")
    bad = rewrite(path, tmp_path / "future.npz", meta_edit=lambda m: _set(m, ("version",), 9))
    with pytest.raises(CheckpointError, match=r"future.npz'.*format version 9 is newer"):
        ERD.load(bad)


def test_save_refuses_non_numeric_arrays(tmp_path: Path):
    with pytest.raises(TypeError, match="array 'x' has dtype <U1"):
        save_checkpoint(tmp_path / "x", "X", {}, {"x": np.array(["a"])})
    params, arrays = load_checkpoint(
        save_checkpoint(tmp_path / "ok", "X", {"a": 1}, {"x": np.ones(3)})
    )
    assert params == {"a": 1} and arrays["x"].tolist() == [1.0, 1.0, 1.0]


def test_saved_file_has_normal_permissions_and_a_replaced_one_keeps_its_own(tmp_path: Path):
    """mkstemp's temporary is 0600: a checkpoint gets the umask's default, or the mode of the
    file it replaces (a shared checkpoint stays readable by the group after a re-save)."""
    umask = os.umask(0o022)
    os.umask(umask)
    old, new = tabular_pair()
    path = old.save(tmp_path / "agent.npz")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    new.save(path)
    assert path.stat().st_mode & 0o777 == 0o640
    np.testing.assert_array_equal(StochQLearning.load(path).q, new.q)
    assert temporaries(tmp_path) == []
