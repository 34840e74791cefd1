"""Faults around StochDQN / StochDDQN checkpoints: a save killed at several points, write errors
and crafted files with pickled payloads never damage the previous checkpoint, leave temporary
files behind, or run code."""

import base64
import errno
import io
import json
import os
import pickle
import signal
import time
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)
import torch as th

from rlcore.stochdqn import StochDDQN, StochDQN
from rlcore.stochdqn.checkpoint import META_ENTRY, CheckpointError

FAST = dict(learning_starts=50, batch_size=16, buffer_size=500, target_update_interval=50)
OBS = np.linspace(-1, 1, 24, dtype=np.float32).reshape(12, 2)


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def reach():
    return gym.make("rlcore/TargetReach-v0", n_actions=400, dim=2)


def model(seed, algo=StochDQN, policy="ActionHeadPolicy"):
    m = algo(policy, reach(), seed=seed, **FAST)
    m.learn(80)
    return m


def fingerprint(m):
    """What a checkpoint must give back: every parameter and the greedy actions of a batch."""
    params = th.cat([p.detach().flatten() for p in m.policy.parameters()])
    return params, m.predict(OBS, deterministic=True, exact=True)[0]


def assert_loads_as(path, expected, algo=StochDQN):
    params, actions = fingerprint(algo.load(path))
    assert th.equal(params, expected[0])
    np.testing.assert_array_equal(actions, expected[1])


def leftover_files(folder, keep, wait=5.0):
    """Files in ``folder`` other than ``keep``, after giving a temp-file reaper time to run."""
    deadline = time.monotonic() + wait
    while True:
        extra = sorted(set(os.listdir(folder)) - set(keep))
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.05)


class _Faulty:
    """A file proxy that calls ``fault()`` once ``limit`` bytes have been written."""

    def __init__(self, f, limit, fault):
        self._f, self._limit, self._fault, self.written = f, limit, fault, 0

    def write(self, data):
        if self.written + len(data) > self._limit:
            self._fault()
        self.written += len(data)
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _kill_self(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(
    "point", ["first byte", "mid-file", "before fsync", "before rename", "after rename"]
)
def test_save_killed_at_each_point_keeps_the_previous_checkpoint(tmp_path, point):
    old, new = model(1), model(2)
    path = tmp_path / "model.zip"
    old.save(path)
    expected_old, expected_new = fingerprint(old), fingerprint(new)
    size = path.stat().st_size
    pid = os.fork()
    if pid == 0:  # the child: arm the fault, save over the checkpoint, die with SIGKILL
        try:
            if point in ("first byte", "mid-file"):
                limit = 0 if point == "first byte" else size // 2
                real = os.fdopen
                os.fdopen = lambda *a, **k: _Faulty(real(*a, **k), limit, _kill_self)
            elif point == "before fsync":
                os.fsync = _kill_self
            elif point == "before rename":
                os.replace = _kill_self
            new.save(path)
            if point == "after rename":
                _kill_self()
        finally:
            os._exit(3)  # not killed: the fault was never reached
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert_loads_as(path, expected_new if point == "after rename" else expected_old)
    assert leftover_files(tmp_path, ["model.zip"]) == []


def test_save_of_a_separate_process_killed_midway(tmp_path):
    """A real ``kill -9`` from outside while another process (a fork of this one, to skip the
    imports) rewrites the checkpoint with 64 MB of arrays through the writer ``save`` uses."""
    from rlcore.stochdqn.checkpoint import write_archive

    path = tmp_path / "model.zip"
    old = model(1)
    old.save(path)
    expected = fingerprint(old)
    arrays = {"arrays/0.npy": np.ones(16_000_000, dtype=np.float32)}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: announce, then rewrite the file until killed
        try:
            os.close(read_end)
            os.write(write_end, b"saving")
            while True:
                write_archive(path, {"format": "not-loadable"}, arrays)
        finally:
            os._exit(3)
    os.close(write_end)
    try:
        assert os.read(read_end, 6) == b"saving"
        time.sleep(0.05)  # in the middle of the first write
    finally:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read_end)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with zipfile.ZipFile(path) as zf:  # whole: the old checkpoint or a finished write
        assert zf.testzip() is None
        finished = json.loads(zf.read(META_ENTRY)).get("format") == "not-loadable"
    if not finished:  # (the usual case: 64 MB take longer than 50 ms to write and sync)
        assert_loads_as(path, expected)
    assert leftover_files(tmp_path, ["model.zip"]) == []


@pytest.mark.parametrize("where", ["write", "fsync", "rename"])
def test_write_errors_leave_the_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch, where):
    old, new = model(1, StochDDQN), model(2, StochDDQN)
    path = tmp_path / "model.zip"
    old.save(path)
    expected = fingerprint(old)

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "write":
        real = os.fdopen
        half = path.stat().st_size // 2
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: _Faulty(real(*a, **k), half, no_space))
    else:
        monkeypatch.setattr(os, "fsync" if where == "fsync" else "replace", no_space)
    with pytest.raises(OSError, match=r"cannot save to .*model.zip.* \(left as it was\)") as err:
        new.save(path)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert_loads_as(path, expected, StochDDQN)
    assert leftover_files(tmp_path, ["model.zip"], wait=0) == []  # removed before save returns


class _Payload:
    """Unpickling this creates the file ``marker``: what an attacker's code could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _sb3_zip(path, data):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", json.dumps(data))
        zf.writestr("policy.pth", pickle.dumps(_Payload(str(path) + ".pth-marker")))


def test_crafted_files_with_pickled_payloads_do_not_run(tmp_path):
    import cloudpickle

    marker = tmp_path / "marker"
    blob = cloudpickle.dumps(_Payload(str(marker)))
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "probe"))))  # the payload works...
    assert (tmp_path / "probe").exists()
    serialized = {":type:": "<class 'x'>", ":serialized:": base64.b64encode(blob).decode()}
    crafted = []
    # 1. SB3's zip layout claiming to be a StochDQN checkpoint (as rlcore 0.1 wrote them)
    _sb3_zip(tmp_path / "sb3_style.zip", {"algorithm_name": "StochDQN", "policy_class": serialized})
    crafted.append(("sb3_style.zip", r"old SB3 zip format, whose entries policy_class, policy.pth"))
    # 2. an SB3 zip of another algorithm
    _sb3_zip(tmp_path / "other.zip", {"policy_class": serialized})
    crafted.append(("other.zip", r"not an rlcore StochDQN / StochDDQN file"))
    # 3. rlcore's format with a pickled attribute, and 4. with a pickled (object) .npy array
    model(1).save(tmp_path / "good.zip")
    with zipfile.ZipFile(tmp_path / "good.zip") as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(entries[META_ENTRY])
    meta["data"]["gamma"] = {"__pickled__": base64.b64encode(blob).decode(), "type": "float"}
    npy = io.BytesIO()
    np.save(npy, np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    first_array = next(n for n in entries if n.endswith(".npy"))
    for name, changes in [
        ("pickled_attr.zip", {META_ENTRY: json.dumps(meta).encode()}),
        ("pickled_npy.zip", {first_array: npy.getvalue()}),
    ]:
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            for entry, content in {**entries, **changes}.items():
                zf.writestr(entry, content)
    crafted.append(("pickled_attr.zip", r"data\['gamma'\]: holds a pickled Python object"))
    crafted.append(("pickled_npy.zip", r"is not a plain numeric array"))
    for name, message in crafted:
        for algo in (StochDQN, StochDDQN):
            with pytest.raises(CheckpointError, match=message if algo is StochDQN else name):
                algo.load(tmp_path / name)
            with pytest.raises(CheckpointError, match=name):
                algo.load(tmp_path / name, env=reach(), custom_objects={"learning_rate": 1e-3})
    assert not marker.exists()
    assert not list(tmp_path.glob("*.pth-marker"))


class _HugeDiscrete(gym.Env):
    """One-step env with ``n`` actions and no action coordinates (no ``action_grid``)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, n):
        self.action_space = gym.spaces.Discrete(n)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


@pytest.mark.parametrize(
    "policy, env, what",
    [
        ("ActionHeadPolicy", lambda: reach_n(10**10), r"ActionHeadPolicy \(per-action head\)"),
        ("MlpPolicy", lambda: _HugeDiscrete(10**10), r"MlpPolicy \(learned action embedding"),
    ],
)
def test_n_row_tables_that_cannot_fit_raise_memory_error_before_allocating(policy, env, what):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=what + r".*shape \(10000000000, \d+\).*GiB but only"):
        StochDQN(policy, env(), buffer_size=100)
    assert time.perf_counter() - start < 30  # (a generous bound: a real allocation would hang)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200 * 1024  # nothing n-sized was allocated (one table would be > 37 GiB)


def reach_n(n):
    return gym.make("rlcore/TargetReach-v0", n_actions=n, dim=1)


def test_set_parameters_from_a_file_reads_it_safely(tmp_path):
    import cloudpickle

    source, target = model(1), model(2)
    source.save(tmp_path / "source.zip")
    target.set_parameters(tmp_path / "source.zip")
    assert th.equal(fingerprint(target)[0], fingerprint(source)[0])
    marker = tmp_path / "marker"
    blob = base64.b64encode(cloudpickle.dumps(_Payload(str(marker)))).decode()
    _sb3_zip(
        tmp_path / "sb3.zip", {"algorithm_name": "StochDQN", "policy_class": {":serialized:": blob}}
    )
    with pytest.raises(CheckpointError, match=r"sb3.zip: a StochDQN checkpoint in the old SB3"):
        target.set_parameters(tmp_path / "sb3.zip")
    assert not marker.exists()
