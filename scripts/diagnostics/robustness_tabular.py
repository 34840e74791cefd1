"""Robustness cases of the tabular agents, the environments and the checkpoints, before / after.

Runs the same cases against two revisions of the package (default: the commit before the
issue-12 work and the current HEAD), each extracted with ``git archive`` into a temporary folder
and imported from there in its own process, and prints one table per area:

* **clear**: a clear error naming the parameter / file (or, for a valid input, it works; for a
  fault, the previous checkpoint loads and no temporary file is left behind);
* **wrong or unclear**: silently accepted, an error that names neither the parameter nor the
  file, a warning, a temporary file left behind, or O(n) memory where O(batch) is promised;
* **crash or loss**: a hang (past the per-case time limit) or a damaged previous checkpoint.

    .venv/bin/python scripts/diagnostics/robustness_tabular.py [--before COMMIT] [--after COMMIT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CASES = r'''
import errno, json, os, signal, sys, time, tracemalloc, warnings
from pathlib import Path
import numpy as np
import gymnasium as gym
import rlcore
from rlcore.envs.large_action_mdp import LargeActionMDPEnv
from rlcore.envs.target_reach import TargetReachEnv
from rlcore import StochQLearning, QLearning

results = []
LIMIT = 20


class Timeout(Exception):
    pass


def alarm(*_):
    raise Timeout()


signal.signal(signal.SIGALRM, alarm)


def case(area, name, fn, expect="error", term=None):
    """expect 'error': a ValueError/TypeError/OSError/MemoryError naming `term` is clear;
    expect 'ok': fn() returns a truthy 'good' verdict (or a string saying what is wrong)."""
    signal.alarm(LIMIT)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = fn()
        signal.alarm(0)
        if expect == "error":
            verdict = ("wrong", "accepted silently")
        elif isinstance(out, str):
            verdict = ("wrong", out)
        elif w:
            verdict = ("wrong", f"warning: {str(w[0].message)[:80]}")
        else:
            verdict = ("clear", "works")
    except Timeout:
        verdict = ("crash", f"no result within {LIMIT} s")
    except Exception as exc:  # noqa: BLE001
        signal.alarm(0)
        msg = f"{type(exc).__name__}: {exc}"
        named = term is None or term in str(exc)
        if expect == "error" and isinstance(exc, ValueError | TypeError | OSError | MemoryError) and named:
            verdict = ("clear", msg[:100])
        else:
            verdict = ("wrong", msg[:100])
    results.append({"area": area, "case": name, "verdict": verdict[0], "detail": verdict[1]})


A = "environment parameters"
case(A, "LargeActionMDP good_reward=nan", lambda: LargeActionMDPEnv(good_reward=float("nan")).optimal_values(), term="good_reward")
case(A, "LargeActionMDP bad_reward=inf", lambda: LargeActionMDPEnv(bad_reward=float("inf")), term="bad_reward")
case(A, "LargeActionMDP reward_std=nan", lambda: LargeActionMDPEnv(reward_std=float("nan")), term="reward_std")
case(A, "LargeActionMDP n_actions=2**63", lambda: LargeActionMDPEnv(n_actions=2**63), term="n_actions")
case(A, "LargeActionMDP n_states=10**8", lambda: LargeActionMDPEnv(n_states=10**8), term="n_states")
case(A, "LargeActionMDP n_good > n_actions", lambda: LargeActionMDPEnv(n_actions=2, n_good=3), term="n_good")
case(A, "LargeActionMDP mdp_seed=-1", lambda: LargeActionMDPEnv(mdp_seed=-1), term="mdp_seed")
case(A, "LargeActionMDP reset event_index=2.7", lambda: LargeActionMDPEnv().reset(options={"event_index": 2.7}), term="event_index")
case(A, "TargetReach n_actions=2**63", lambda: TargetReachEnv(n_actions=2**63), term="n_actions")
case(A, "TargetReach obs_noise=nan", lambda: TargetReachEnv(obs_noise=float("nan")), term="obs_noise")
case(A, "TargetReach dim=0", lambda: TargetReachEnv(dim=0), term="dim")
case(A, "TargetReach reset event_index=2.7", lambda: TargetReachEnv().reset(options={"event_index": 2.7}), term="event_index")
case(A, "DiscretePendulum bins=0", lambda: gym.make("rlcore/DiscretePendulum-v0", bins=0), term="bins")
case(A, "DiscretePendulum bins=(3, 3)", lambda: gym.make("rlcore/DiscretePendulum-v0", bins=(3, 3)), term="bins")

B = "render_mode / vectorized / registration"
for eid in ("rlcore/LargeActionMDP-v0", "rlcore/TargetReach-v0"):
    case(B, f"{eid} render_mode=None", lambda eid=eid: gym.make(eid, render_mode=None).reset(seed=0) and True, expect="ok")
    case(B, f"{eid} render_mode='rgb_array'", lambda eid=eid: gym.make(eid, render_mode="rgb_array").reset(seed=0) and True, expect="ok")

    def vec(eid=eid):
        from stable_baselines3.common.env_util import make_vec_env
        v = make_vec_env(eid, n_envs=2)
        v.reset()
        v.close()
        g = gym.make_vec(eid, num_envs=2)
        g.reset(seed=0)
        g.close()
        return True

    case(B, f"{eid} make_vec_env(n_envs=2) + gym.make_vec", vec, expect="ok")


def register_own():
    if not hasattr(rlcore.envs, "register_discretized"):
        return "no public call to register a discretized env"
    rlcore.envs.register_discretized("probe/DiscreteMountainCar-v0", "MountainCarContinuous-v0", bins=5)
    return gym.make("probe/DiscreteMountainCar-v0").action_space.n == 5


case(B, "register one's own Box-action env", register_own, expect="ok")


def mdp(**kw):
    return gym.make("rlcore/LargeActionMDP-v0", **({"n_states": 5, "n_actions": 64} | kw))


C = "tabular agent parameters"
for kw, term in [({"gamma": float("nan")}, "gamma"), ({"gamma": "0.9"}, "gamma"), ({"learning_rate": float("nan")}, "learning_rate"),
                 ({"num_random": 2.5}, "num_random"), ({"memory_size": True}, "memory_size"), ({"q_init": float("nan")}, "q_init"),
                 ({"dtype": "int8"}, "dtype"), ({"seed": -1}, "seed"), ({"verbose": 3}, "verbose"), ({"exploration_fraction": 0}, "exploration_fraction")]:
    case(C, f"StochQLearning({kw})", lambda kw=kw: StochQLearning(mdp(), **kw), term=term)
case(C, "learn(0)", lambda: StochQLearning(mdp()).learn(0), term="total_timesteps")
case(C, "learn(10.0)", lambda: StochQLearning(mdp()).learn(10.0), term="total_timesteps")
case(C, "predict(float obs)", lambda: StochQLearning(mdp()).predict(np.array([0.5])), term="integer")


def empty_batch():
    a, _ = QLearning(mdp()).predict(np.zeros(0, dtype=np.int64))
    return a.shape == (0,) or f"shape {a.shape}"


case(C, "predict(empty batch)", empty_batch, expect="ok")

D = "huge n"


def predict_memory():
    agent = QLearning(mdp(n_states=2, n_actions=10**7))
    agent.predict(np.array([0]))
    tracemalloc.start()
    agent.predict(np.array([0, 1]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak < 2**20 or f"predict of 2 states allocated {peak / 2**20:.0f} MiB"


def q_values_memory():
    agent = QLearning(mdp(n_states=2, n_actions=10**7))
    tracemalloc.start()
    agent.q_values(np.array([0]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak < 100 * 2**20 or f"q_values of 1 state (80 MB output) allocated {peak / 2**20:.0f} MiB"


def rss():
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmRSS:"))


def lazy_growth():
    agent = StochQLearning(mdp(n_states=1, n_actions=10**8), seed=0)
    r0 = rss()
    agent.learn(2_000)
    grown = rss() - r0
    return grown < 50 * 2**20 or f"RSS grew {grown / 2**20:.0f} MiB in 2,000 steps"


def stochastic_greedy_cost():
    agent = StochQLearning(mdp(n_states=1, n_actions=10**7), seed=0)
    t = time.perf_counter()
    agent.predict(np.array([0]))
    dt = time.perf_counter() - t
    return dt < 2e-3 or f"default greedy predict took {dt * 1e3:.0f} ms (O(n))"


case(D, "exact predict, 2 states, n=1e7: extra memory", predict_memory, expect="ok")
case(D, "q_values, 1 state, n=1e7: no copy beyond the output", q_values_memory, expect="ok")
case(D, "StochQLearning n=1e8: RSS after 2,000 steps", lazy_growth, expect="ok")
case(D, "StochQLearning default greedy predict at n=1e7 is O(log n)", stochastic_greedy_cost, expect="ok")

E = "checkpoint files"
import tempfile
folder = tempfile.mkdtemp()
good = StochQLearning(mdp(), seed=0).learn(200).save(os.path.join(folder, "good.npz"))
META = "__rlcore_meta__"


def rewrite(name, meta_edit=None, arrays_edit=None, src=good):
    with np.load(src, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    meta = json.loads(arrays.pop(META).tobytes())
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    out = os.path.join(folder, name)
    np.savez(out, **{META: np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}, **arrays)
    return out


def load_case(name, path, loader=StochQLearning.load):
    case(E, name, lambda: loader(path), term=os.path.basename(path))


load_case("tabular: future format version", rewrite("v9.npz", lambda m: m.update(version=9)))
load_case("tabular: metadata without params", rewrite("noparams.npz", lambda m: m.pop("params")))
load_case("tabular: hparams gamma=7", rewrite("gamma.npz", lambda m: m["params"]["hparams"].update(gamma=7)))
load_case("tabular: int8 Q-table", rewrite("int8.npz", arrays_edit=lambda a: a.update(q=a["q"].astype(np.int8))))
bad_json = os.path.join(folder, "json.npz")
np.savez(bad_json, **{META: np.frombuffer(b"{nope", dtype=np.uint8)})
load_case("tabular: metadata not JSON", bad_json)
data = Path(good).read_bytes()
trunc = os.path.join(folder, "trunc.npz")
Path(trunc).write_bytes(data[: len(data) // 2])
load_case("tabular: truncated file", trunc)


class Shifted(gym.Wrapper):
    def __init__(self):
        super().__init__(mdp())
        self.observation_space = gym.spaces.Discrete(5, start=3)


load_case("tabular: env with another Discrete.start", good, loader=lambda p: StochQLearning.load(p, env=Shifted()))
# (the message names the spaces rather than the file: count it when it names 'start')
results[-1]["verdict"] = "clear" if "start" in results[-1]["detail"] else results[-1]["verdict"]

erd_env = gym.make("rlcore/RumourStream-v0", synthetic_kwargs={"n_events": 40, "seed": 0})
erd = rlcore.ERD(erd_env, seed=0)
erd_good = erd.save(os.path.join(folder, "erd.npz"))
load_case("ERD: future format version", rewrite("erd_v9.npz", lambda m: m.update(version=9), src=erd_good), loader=rlcore.ERD.load)
load_case("ERD: metadata without params", rewrite("erd_np.npz", lambda m: m.pop("params"), src=erd_good), loader=rlcore.ERD.load)
erd_data = Path(erd_good).read_bytes()
erd_trunc = os.path.join(folder, "erd_trunc.npz")
Path(erd_trunc).write_bytes(erd_data[: len(erd_data) // 2])
load_case("ERD: truncated file", erd_trunc, loader=rlcore.ERD.load)

F = "faults during save"


def temporaries():
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


def kill_at(save, point, after):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            real_fdopen, real_replace = os.fdopen, os.replace

            class Pausing:
                def __init__(self, f):
                    self.f, self.n = f, 0

                def write(self, b):
                    b = memoryview(b).cast("B")
                    if self.n + len(b) >= after:
                        self.f.write(b[: max(after - self.n, 0)])
                        self.f.flush()
                        os.write(w, b"x")
                        time.sleep(60)
                    self.n += len(b)
                    return self.f.write(b)

                def __getattr__(self, k):
                    return getattr(self.f, k)

                def __enter__(self):
                    return self

                def __exit__(self, *e):
                    self.f.close()

            if point == "write":
                os.fdopen = lambda fd, *a, **k: Pausing(real_fdopen(fd, *a, **k))
            else:
                def paused(src, dst):
                    os.write(w, b"x")
                    time.sleep(60)
                os.replace = paused
            save()
        finally:
            os._exit(3)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return got == b"x"


def fault_case(name, path, save, loader, point, after):
    before = Path(path).read_bytes()

    def run():
        if not kill_at(save, point, after):
            return "the save never reached the point"
        try:
            loader(path)
        except Exception as exc:  # noqa: BLE001
            raise RuntimeError(f"previous checkpoint lost: {exc}") from exc
        if Path(path).read_bytes() != before:
            raise RuntimeError("previous checkpoint changed")
        left = temporaries()
        for t in left:
            os.unlink(os.path.join(folder, t))
        return not left or f"{len(left)} temporary file(s) left behind after a load"

    case(F, name, run, expect="ok")
    if results[-1]["detail"].startswith("RuntimeError"):
        results[-1]["verdict"] = "crash"


other = StochQLearning(mdp(), seed=1).learn(300)
for point, frac in (("write", 0.0), ("write", 1e-9), ("write", 0.5), ("replace", 0.0)):
    for kind, path, save, loader in (
        ("tabular", good, lambda: other.save(good), StochQLearning.load),
        ("ERD", erd_good, lambda: erd.save(erd_good), rlcore.ERD.load),
    ):
        after = int(np.ceil(frac * os.path.getsize(path)))
        fault_case(f"{kind}: SIGKILL at {point}, after {after} bytes", path, save, loader, point, after)


def enospc(path, save, loader):
    before = Path(path).read_bytes()
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *e):
            self.f.close()

    os.fdopen = lambda fd, *a, **k: Full(real(fd, *a, **k))
    try:
        save()
        return "the write error was not raised"
    except OSError as exc:
        named = os.path.basename(path) in str(exc)
    finally:
        os.fdopen = real
    loader(path)
    if Path(path).read_bytes() != before:
        raise RuntimeError("previous checkpoint changed")
    if temporaries():
        return "temporary file left behind"
    return named or "the error does not name the file"


case(F, "tabular: ENOSPC during save", lambda: enospc(good, lambda: other.save(good), StochQLearning.load), expect="ok")
case(F, "ERD: ENOSPC during save", lambda: enospc(erd_good, lambda: erd.save(erd_good), rlcore.ERD.load), expect="ok")
print(json.dumps(results))
'''


def run_revision(commit: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = subprocess.run(
            ["git", "archive", commit, "rlcore", "envs"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=tree, check=True)
        os.rename(Path(tmp) / "envs", Path(tmp) / "rlcore" / "envs")  # installed as rlcore.envs
        env = dict(os.environ, PYTHONPATH=tmp, OMP_NUM_THREADS="1")
        out = subprocess.run(
            [sys.executable, "-c", CASES], cwd=tmp, env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise RuntimeError(f"cases failed on {commit}:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", default="1694f0b")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--details", action="store_true", help="print every case")
    args = parser.parse_args()
    runs = {
        name: run_revision(commit)
        for name, commit in (("before", args.before), ("after", args.after))
    }
    areas = list(dict.fromkeys(r["area"] for r in runs["after"]))
    print(f"before = {args.before}, after = {args.after}\n")
    print(
        "| area | cases | clear (before / after) | wrong or unclear (before / after) | crash or loss (before / after) |"
    )
    print("|---|---:|---:|---:|---:|")
    for area in areas:
        counts = {
            k: {
                v: sum(r["area"] == area and r["verdict"] == v for r in runs[k])
                for v in ("clear", "wrong", "crash")
            }
            for k in runs
        }
        n = sum(r["area"] == area for r in runs["after"])
        print(
            f"| {area} | {n} | {counts['before']['clear']} / {counts['after']['clear']} | "
            f"{counts['before']['wrong']} / {counts['after']['wrong']} | "
            f"{counts['before']['crash']} / {counts['after']['crash']} |"
        )
    if args.details:
        print("\n| area | case | before | after |")
        print("|---|---|---|---|")
        for b, a in zip(runs["before"], runs["after"], strict=True):
            print(
                f"| {a['area']} | {a['case']} | {b['verdict']}: {b['detail']} | {a['verdict']}: {a['detail']} |"
            )


if __name__ == "__main__":
    main()
