"""What the Ray backend ships to a cluster besides ``rlcore``: the user's own modules named by
the runs' algorithm entry strings and their envs' Gymnasium entry points, and the user's
registrations sent with each task (no Ray instance started)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium
import pytest

import rlcore
from rlcore.bench import algorithms
from rlcore.bench.algorithms import Adapter
from rlcore.bench.runner import (
    RayBackend,
    _ray_task,
    _registrations,
    register_missing,
    run_one,
    user_modules,
)
from rlcore.bench.spec import EnvSpec, RunSpec

ENV_ID = "shiptest/UserEnv-v0"


def _spec(algorithm: str, env_id: str) -> RunSpec:
    return RunSpec("ship", algorithm, EnvSpec(env_id), 4, 0, 10, (10,), 1, {})


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user package ``shipuserpkg`` (folder) and module ``shipusermod`` (one file) on
    sys.path, an algorithm and an env registered with entry points into them."""
    pkg = tmp_path / "shipuserpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "algos.py").write_text(
        "from rlcore.bench.algorithms import RandomPolicy as MyRandom\n\n\n"
        "class MyAlgo(MyRandom):\n    pass\n"
    )
    (tmp_path / "shipusermod.py").write_text(
        "from rlcore.envs.large_action_mdp import LargeActionMDPEnv as MyEnv  # noqa: F401\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names = {
        "ShipUserAlgo": "shipuserpkg.algos:MyAlgo",
        "ShipUserRandom": "shipuserpkg.algos:MyRandom",
        "ShipStdlib": "json:JSONDecoder",
        "ShipNumpy": "numpy.random:Generator",
        "ShipMissing": "no_such_module_for_ship_test.sub:Algo",
        "ShipMain": "__main__:Algo",
    }
    for name, target in names.items():
        algorithms.register(Adapter(name, "random" if "Random" in name else "sb3", target))
    gymnasium.register(
        ENV_ID, entry_point="shipusermod:MyEnv", max_episode_steps=10, kwargs={"n_actions": 8}
    )
    try:
        yield tmp_path
    finally:
        for name in names:
            algorithms.REGISTRY.pop(name, None)
        gymnasium.registry.pop(ENV_ID, None)


def test_user_modules_are_shipped_installed_and_stdlib_ones_are_not(registered: Path) -> None:
    runs = [
        _spec("ShipUserAlgo", "rlcore/LargeActionMDP-v0"),  # user algorithm, rlcore env
        _spec("SB3-DQN", ENV_ID),  # stable_baselines3 algorithm, user env
        _spec("StochDQN-stochastic", "CartPole-v1"),  # rlcore algorithm, gymnasium env
        _spec("ShipStdlib", "CartPole-v1"),
        _spec("ShipNumpy", "rlcore/LargeActionMDP-v0"),
    ]
    assert algorithms.get_adapter("SB3-DQN").target.startswith("stable_baselines3")
    got = user_modules(runs)
    assert got == {
        "shipuserpkg": (registered / "shipuserpkg").resolve(),
        "shipusermod": (registered / "shipusermod.py").resolve(),
    }
    for name in ("numpy", "stable_baselines3", "gymnasium", "rlcore", "json"):
        assert name not in got
    # nothing of the user's: nothing extra to ship
    assert user_modules([_spec("SB3-DQN", "CartPole-v1"), _spec("Random", "CartPole-v1")]) == {}


class _Captured(Exception):
    pass


def test_ray_backend_passes_them_to_runtime_env_and_the_manifest(
    registered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``ray.init`` is given (captured before anything starts: no Ray instance)."""
    ray = pytest.importorskip("ray")
    seen: dict[str, object] = {}

    def init(**kwargs: object) -> None:
        seen.update(kwargs)
        raise _Captured

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    be = RayBackend(1, None, ship=True, runs=[_spec("ShipUserAlgo", ENV_ID)])
    try:
        with pytest.raises(_Captured):
            be.start()
        modules = seen["runtime_env"]["py_modules"]  # type: ignore[index]
        assert Path(modules[0]).name == "rlcore" and modules[1:] == [
            str((registered / "shipusermod.py").resolve()),
            str((registered / "shipuserpkg").resolve()),
        ]
        assert be.info()["shipped_modules"] == ["shipusermod", "shipuserpkg"]
    finally:
        be.close(True)
    assert not Path(modules[0]).exists()  # the copy of rlcore is removed

    # a missing module is refused before Ray is asked anything
    seen.clear()
    be = RayBackend(1, None, ship=True, runs=[_spec("ShipMissing", ENV_ID)])
    try:
        with pytest.raises(ModuleNotFoundError, match="no_such_module_for_ship_test"):
            be.start()
    finally:
        be.close(True)
    assert seen == {}


def test_missing_user_module_is_refused_naming_it(registered: Path) -> None:
    with pytest.raises(ModuleNotFoundError) as e:
        user_modules([_spec("ShipUserAlgo", ENV_ID), _spec("ShipMissing", ENV_ID)])
    msg = str(e.value)
    assert "'no_such_module_for_ship_test'" in msg and "'ShipMissing'" in msg
    assert "cannot be found" in msg and e.value.name == "no_such_module_for_ship_test"

    with pytest.raises(ModuleNotFoundError, match=r"'ShipMain'.*driver script \(__main__\)"):
        user_modules([_spec("ShipMain", "CartPole-v1")])


def test_worker_without_the_registrations_gets_them_with_its_task(registered: Path) -> None:
    """A Ray worker does not run the driver script: the task brings the user's adapter and env
    spec (serialized as Ray does), and the run gives the driver's rows."""
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    spec = RunSpec("ship", "ShipUserRandom", EnvSpec(ENV_ID), 8, 3, 40, (20, 40), 2, {})
    expected = run_one(spec)
    payload = cloudpickle.dumps((spec, rlcore.__version__, *_registrations(spec)))
    algorithms.REGISTRY.pop("ShipUserRandom")  # a fresh worker: neither is registered
    gymnasium.registry.pop(ENV_ID)
    with pytest.raises(KeyError, match="ShipUserRandom"):
        run_one(spec)

    got = _ray_task(*cloudpickle.loads(payload))
    keys = ("run_id", "step", "return", "return_std", "episodes", "metrics")
    assert [[r[k] for k in keys] for r in got] == [[r[k] for k in keys] for r in expected]
    assert algorithms.get_adapter("ShipUserRandom").target == "shipuserpkg.algos:MyRandom"
    assert gymnasium.spec(ENV_ID).entry_point == "shipusermod:MyEnv"

    # what the worker already has is kept
    register_missing(Adapter("Random", "random", "elsewhere:Other"), None)
    assert algorithms.get_adapter("Random").target == "rlcore.bench.algorithms:RandomPolicy"
