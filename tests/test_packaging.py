"""The package next to a user's own ``envs``: a project folder with its own ``envs/`` package (or
PyPI's ``envs``) changes nothing, because the environments install as ``rlcore.envs``."""

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys, types
    import envs  # the project's own envs/ package, first on sys.path
    assert envs.MINE, envs.__file__
    sys.modules["envs.target_reach"] = types.ModuleType("envs.target_reach")  # a fake one too

    import gymnasium as gym
    import rlcore  # registers the rlcore/... ids; imports neither torch nor the agents

    assert "torch" not in sys.modules and "stable_baselines3" not in sys.modules
    assert sys.modules["envs"] is envs and rlcore.envs.__name__ == "rlcore.envs"
    env = gym.make("rlcore/TargetReach-v0", n_actions=100)
    env.reset(seed=0)
    env.step(3)
    assert type(env.unwrapped).__module__ == "rlcore.envs.target_reach"
    assert gym.make("rlcore/LargeActionMDP-v0").action_space.n == 256
    assert "envs/TargetReach-v0" in gym.registry  # the project's own registration is intact
    print("ok")
    """
)


def test_a_project_with_its_own_envs_package_does_not_break_the_ids(tmp_path: Path):
    project = tmp_path / "project"
    (project / "envs").mkdir(parents=True)
    (project / "envs" / "__init__.py").write_text(
        "import gymnasium as gym\n"
        "MINE = True\n"
        "gym.register('envs/TargetReach-v0', entry_point='envs.target_reach:Nothing')\n"
    )
    (project / "envs" / "large_action_mdp.py").write_text("raise ImportError('the wrong envs')\n")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
