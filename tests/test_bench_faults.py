"""Fault injection on the benchmark store (issue 12): concurrent runs into one folder, a run
killed in the middle of a write, a full disk, a driver terminated with --jobs 2, bad --out."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlcore.bench import ResultsError, plan, read_rows, run_one, run_suite
from rlcore.bench import lock as lock_module
from rlcore.bench import store as store_module
from rlcore.bench.lock import LOCK_NAME, FolderLock
from rlcore.bench.runner import MANIFEST
from rlcore.cli import main as rlcore_main

SMALL = ("--algorithms", "StochQLearning", "Random", "--envs", "LargeActionMDP-v0")
DET = ("run_id", "point", "step", "return", "return_std", "metrics")


def _runs() -> list:
    return plan(
        "tabular", "quick", algorithms=("StochQLearning", "Random"), envs=("LargeActionMDP-v0",)
    )


def _det(rows: list[dict]) -> list[tuple]:
    return [tuple(json.dumps(r[k]) for k in DET) for r in rows]


def _env() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process tree read from /proc (Linux)")
def test_concurrent_run_refused_and_sigterm_leaves_no_orphans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --jobs 2 driver holds the folder: a second run into it is refused naming the driver;
    SIGTERM ends the driver and its workers (no orphans) and leaves an unlocked store."""
    out = tmp_path / "busy"
    cmd = [sys.executable, "-m", "rlcore.bench", "run", "tabular", "--out", str(out)]
    cmd += ["--algorithms", "Random", "SB3-DQN", "--envs", "LargeActionMDP-v0", "FrozenLake-v1"]
    cmd += ["--budget", "5000", "--eval-points", "1", "--jobs", "2", "--no-progress"]
    driver = subprocess.Popen(cmd, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        results = out / "results.jsonl"
        while len(_descendants(driver.pid)) < 3:  # the two workers and the resource tracker
            assert driver.poll() is None, driver.communicate()[1]
            assert time.monotonic() < deadline, "no worker started in 120 s"
            time.sleep(0.2)
        family = _descendants(driver.pid)

        # a second run into the same folder is refused at once, naming the holder
        args = ["bench", "run", "tabular", "--out", str(out), "--no-progress"]
        assert rlcore_main(args) == 2
        err = capsys.readouterr().err
        assert f"in use by another `rlcore bench run` (pid {driver.pid} on host" in err

        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=30)
        assert driver.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in family if _alive(p)], "workers outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    if results.exists():  # what finished before the signal; strict: a duplicate would raise
        rows = read_rows(results)
        assert len({(r["run_id"], r["point"]) for r in rows}) == len(rows)
    with FolderLock(out):  # released by the terminated driver
        pass


def test_second_run_is_refused_while_the_folder_is_locked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    with FolderLock(out):
        assert rlcore_main(["bench", "run", "tabular", *SMALL, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"(pid {os.getpid()} on host" in err and "choose another --out" in err
        assert not (out / MANIFEST).exists() and not (out / "results.jsonl").exists()
    summary = run_suite(_runs(), out, suite="tabular", profile="quick", progress=False)
    assert len(summary.executed) == 2


_KILL_MID_WRITE = textwrap.dedent(
    """
    import os, signal, sys
    from rlcore.bench import plan, run_suite

    out = sys.argv[1]
    real_write, calls = os.write, []

    def write(fd, data):
        try:
            target = os.fstat(fd).st_ino == os.stat(os.path.join(out, "results.jsonl")).st_ino
        except OSError:
            target = False
        if target:
            calls.append(len(data))
            if len(calls) == 2:  # the second run's rows: write half of them, then die
                real_write(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)

    os.write = write
    runs = plan("tabular", "quick", algorithms=("StochQLearning", "Random"),
                envs=("LargeActionMDP-v0",))
    run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    """
)


def test_run_killed_mid_write_resumes_by_itself(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_MID_WRITE, str(out)], env=_env(), capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    text = (out / "results.jsonl").read_text()
    assert not text.endswith("\n")  # a torn last line
    holder = json.loads((out / LOCK_NAME).read_text())  # the lock file of a dead process
    assert holder["pid"] != os.getpid() and not _alive(holder["pid"])
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_rows(out / "results.jsonl")

    # the lock of the dead process does not block, the cut write is removed, the run redone
    runs = _runs()
    summary = run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    assert summary.recovered and "unterminated last line" in summary.recovered
    assert summary.skipped == 1 and summary.executed == [runs[1].run_id]
    rows = read_rows(out / "results.jsonl")
    assert _det(rows) == _det([r for spec in runs for r in run_one(spec)])
    log = [json.loads(x) for x in (out / "run_log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log] == ["finished", "recovered", "finished"]


def _enospc_after(
    monkeypatch: pytest.MonkeyPatch, out: Path, n_ok: int, truncate_fails: bool
) -> None:
    """Make the (n_ok + 1)-th write to the results file write half its bytes and fail with
    ENOSPC (and, optionally, the truncation that undoes it fail too)."""
    real_write, real_truncate, calls = os.write, os.ftruncate, []

    def write(fd: int, data: bytes) -> int:
        if os.fstat(fd).st_ino == os.stat(out / "results.jsonl").st_ino:
            calls.append(1)
            if len(calls) == n_ok + 1:
                real_write(fd, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def ftruncate(fd: int, size: int) -> None:
        if truncate_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_truncate(fd, size)

    monkeypatch.setattr(store_module.os, "write", write)
    monkeypatch.setattr(store_module.os, "ftruncate", ftruncate)


@pytest.mark.parametrize("truncate_fails", [False, True])
def test_full_disk_leaves_a_resumable_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    truncate_fails: bool,
) -> None:
    out = tmp_path / "full"
    runs = _runs()
    (out).mkdir()
    (out / "results.jsonl").touch()
    with monkeypatch.context() as m:
        _enospc_after(m, out, n_ok=1, truncate_fails=truncate_fails)
        assert (
            rlcore_main(["bench", "run", "tabular", *SMALL, "--out", str(out), "--no-progress"])
            == 2
        )
    err = capsys.readouterr().err
    assert "results.jsonl failed: No space left on device" in err and "Traceback" not in err
    assert ("restored to its previous" in err) != truncate_fails
    text = (out / "results.jsonl").read_text()
    assert text.endswith("\n") != truncate_fails  # a torn row only when the undo failed too

    summary = run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    assert summary.executed == [runs[1].run_id] and bool(summary.recovered) == truncate_fails
    assert _det(read_rows(out / "results.jsonl")) == _det([r for s in runs for r in run_one(s)])
    assert not list(out.glob(".*.tmp"))


def test_bad_out_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    base = ["bench", "run", "tabular", *SMALL, "--no-progress", "--out"]
    assert rlcore_main([*base, str(afile)]) == 2
    assert f"--out '{afile}' is a file, not a folder" in capsys.readouterr().err
    assert rlcore_main([*base, str(afile / "sub")]) == 2
    assert f"cannot create the results folder '{afile / 'sub'}'" in capsys.readouterr().err

    real_open = os.open
    for code in (errno.EROFS, errno.EACCES):

        def fake_open(path: str | Path, flags: int, *a: int, code: int = code) -> int:
            if str(path).endswith(LOCK_NAME):
                raise OSError(code, os.strerror(code), str(path))
            return real_open(path, flags, *a)

        with monkeypatch.context() as m:
            m.setattr(lock_module.os, "open", fake_open)
            assert rlcore_main([*base, str(tmp_path / "ro")]) == 2
        err = capsys.readouterr().err
        assert f"cannot write to the results folder '{tmp_path / 'ro'}': {os.strerror(code)}" in err
        assert "Traceback" not in err


_PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    code = ("import sys, time; from rlcore.common.processes import end_with_parent; "
            "end_with_parent(int(sys.argv[1])); print('ready', flush=True); time.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\\n"
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process states read from /proc (Linux)")
def test_worker_ends_when_its_driver_is_killed() -> None:
    """``kill -9`` of a driver: its worker (protected by ``end_with_parent``) exits too."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed driver"
    finally:
        parent.kill()
