"""The Ray backend (issue 13): a quick suite through Ray held to the loopback interface, rows
equal to the local backend's, the package shipped with runtime_env, the workers' version check,
RAY_ADDRESS honoured with a bounded connection time. No test listens on or sends to any
address but 127.0.0.1 / ::1."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rlcore
from rlcore.bench import plan, read_rows, run_one, run_suite
from rlcore.bench.runner import MANIFEST, VersionMismatchError, _ray_task

pytest.importorskip("ray", reason="optional extra rlcore[ray] not installed")

DET = ("run_id", "algorithm", "env", "n", "seed", "point", "step", "return", "return_std")

# Runs the suite through the Ray backend in a fresh process (so Ray's settings are its own):
# the runner starts a local Ray instance itself; just before it shuts Ray down, every socket
# that a process of that instance listens on is recorded.
_SCRIPT = textwrap.dedent(
    """
    import json, os, socket, struct, sys
    from rlcore.bench import plan, run_suite
    from rlcore.bench import runner

    def tree(root):
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                kids.setdefault(ppid, []).append(int(d))
        out, todo = [root], [root]
        while todo:
            for k in kids.get(todo.pop(), []):
                out.append(k)
                todo.append(k)
        return out

    def listening():
        owner = {}
        for pid in tree(os.getpid()):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    owner[int(link[8:-1])] = pid
        found = []
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            try:
                lines = open(f"/proc/net/{proto}").read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if int(f[9]) not in owner or (proto.startswith("tcp") and f[3] != "0A"):
                    continue
                ip, port = f[1].split(":")
                raw = bytes.fromhex(ip)
                words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
                fam = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
                found.append([proto, socket.inet_ntop(fam, b"".join(words)), int(port, 16)])
        return found, len(owner)

    seen = {}
    close = runner.RayBackend.close

    def probe_then_close(self, failed):
        seen["listening"], seen["sockets"] = listening()
        seen["processes"] = len(tree(os.getpid()))
        where = self._ray.remote(lambda: __import__("rlcore").__file__)
        seen["worker_rlcore"] = self._ray.get(where.remote())
        close(self, failed)

    runner.RayBackend.close = probe_then_close
    runs = plan("tabular", "quick", algorithms=("StochSarsa", "Random"),
                envs=("LargeActionMDP-v0",))
    s = run_suite(runs, sys.argv[1], suite="tabular", profile="quick", backend="ray",
                  jobs=1, ship_package=True, progress=False)
    seen["env_after"] = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "unset")
    print("RESULT " + json.dumps(seen | {"executed": s.executed}))
    """
)


def _loopback(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="sockets read from /proc (Linux)")
def test_ray_backend_on_loopback_ships_the_package_and_equals_local(tmp_path: Path) -> None:
    out = tmp_path / "ray"
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",  # no usage report sent anywhere
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # not the repository: the workers import the shipped package
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.split("RESULT ", 1)[1])
    print(f"Ray backend: {time.perf_counter() - t0:.1f} s, {seen['processes']} processes")

    # every address a process of the Ray instance listens on is a loopback one
    assert seen["processes"] >= 3 and seen["listening"], seen  # gcs, raylet, workers
    assert [x for x in seen["listening"] if not _loopback(x[1])] == [], seen["listening"]
    assert seen["env_after"] == "unset"  # the loopback pin is undone when the call ends

    # the workers import the shipped copy (Ray's py_modules), not the installed package
    assert "py_modules" in seen["worker_rlcore"], seen["worker_rlcore"]
    assert not seen["worker_rlcore"].startswith(str(Path(rlcore.__file__).parent))

    # the same rows as the local backend, and the manifest says how they were made
    runs = plan(
        "tabular", "quick", algorithms=("StochSarsa", "Random"), envs=("LargeActionMDP-v0",)
    )
    assert sorted(seen["executed"]) == sorted(r.run_id for r in runs)
    local = [row for spec in runs for row in run_one(spec)]
    got = read_rows(out / "results.jsonl")
    assert [[r[k] for k in DET] for r in got] == [[r[k] for k in DET] for r in local]
    call = json.loads((out / MANIFEST).read_text())["calls"][-1]
    assert call["backend"] == "ray" and call["address_kind"] == "local"
    assert call["shipped_package"] is True and call["resources"]["CPU"] == 1.0
    assert call["resources"]["nodes"] == 1


def test_worker_with_another_version_fails_naming_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = plan("tabular", "quick", algorithms=("Random",), envs=("LargeActionMDP-v0",))[0]
    monkeypatch.setattr(rlcore, "__version__", "9.9.9")
    with pytest.raises(VersionMismatchError) as info:
        _ray_task(spec, "0.1.0")
    msg = str(info.value)
    assert f"node {socket.gethostname()}" in msg
    assert "runs rlcore 9.9.9" in msg and "the driver runs rlcore 0.1.0" in msg
    monkeypatch.setattr(rlcore, "__version__", "0.1.0")
    assert len(_ray_task(spec, "0.1.0")) == len(spec.eval_steps)


def test_unreachable_ray_address_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RAY_ADDRESS pointing at a closed loopback port: a clear error within the timeout, before
    any manifest is written (Ray itself is never asked to connect)."""
    with socket.socket() as s:  # a free loopback port, closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    runs = plan("tabular", "quick", algorithms=("Random",), envs=("LargeActionMDP-v0",))
    t0 = time.perf_counter()
    with pytest.raises(
        ConnectionError, match=rf"cannot reach the Ray cluster at '127.0.0.1:{port}'"
    ):
        run_suite(runs, tmp_path / "r", suite="tabular", profile="quick", backend="ray",
                  ray_timeout=5, progress=False)  # fmt: skip
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "r" / MANIFEST).exists()
