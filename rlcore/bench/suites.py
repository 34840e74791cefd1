"""Benchmark suites, their ``quick`` and ``full`` profiles, and the run matrix they expand to.

A suite is a list of *groups* (algorithms x environments), a step budget, evaluation points
and episodes, and seeds, given per profile:

* ``quick``: a smoke run that finishes in seconds (tests use it);
* ``full``: the published results (sized for a small shared CPU machine; see docs/bench.md).

:func:`plan` expands a suite into :class:`RunSpec` objects, one per (algorithm, env, n, seed):
every algorithm of a group gets the same env construction, step budget, evaluation steps and
evaluation episodes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium as gym

from rlcore.bench.algorithms import REGISTRY, TABULAR, get_adapter
from rlcore.bench.spec import EnvSpec, Group, Profile, RunSpec

__all__ = [
    "SCALING_VIEW",
    "SUITES",
    "EnvSpec",
    "Group",
    "Profile",
    "RunSpec",
    "eval_steps",
    "get_profile",
    "plan",
    "register_suite",
]


# ------------------------------------------------------------------------------- suites
_FROZEN = EnvSpec("FrozenLake-v1")  # 4x4, slippery, 100-step limit
_CLIFF = EnvSpec("CliffWalking-v1", max_episode_steps=100)  # no limit registered


def _mdp(n: int, n_states: int = 10) -> EnvSpec:
    return EnvSpec("rlcore/LargeActionMDP-v0", {"n_states": n_states, "n_actions": n})


def _reach(n: int, dim: int = 1) -> EnvSpec:
    return EnvSpec("rlcore/TargetReach-v0", {"n_actions": n, "dim": dim}, max_episode_steps=50)


def _cheetah(bins: int, max_episode_steps: int | None = None) -> EnvSpec:
    return EnvSpec("rlcore/DiscreteHalfCheetah-v0", {"bins": bins}, max_episode_steps)


SCALING_VIEW = frozenset({"scaling"})
"""Suites whose environments run at several action counts are reported as cost against ``n``
(one table and a log-log plot per env); other suites get one section per (env, n)."""

SB3 = ("SB3-DQN", "SB3-PPO", "SB3-A2C")
PAPER_ALGOS = (
    "StochDQN-stochastic",
    "StochDQN-paper",
    "StochDDQN-stochastic",
    "StochDDQN-paper",
    "StochDQN-exact",
    "SB3-DQN",
    "Random",
)
# The paper's MuJoCo tasks: one DQN setting for every value-based agent (Adam 1e-3, batch 64,
# one gradient step per env step, target copied every 1000 steps, epsilon 1 -> 0.05 over the
# first 10 % of the budget, 64-64 networks), identical to benchmarks/deep_learning.py's.
PAPER_DQN: dict[str, Any] = {
    "learning_rate": 1e-3,
    "gamma": 0.99,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "batch_size": 64,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 1_000,
    "exploration_fraction": 0.1,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.05,
    "policy_kwargs": {"net_arch": [64, 64]},
}
DEEP = ("StochDQN-stochastic", "StochDQN-exact", "StochDDQN-stochastic", "StochDDQN-exact")

# The reach suite: is the O(log n) policy itself good? (issue 9). benchmarks/deep_learning.py's
# TargetReach protocol: the same DQN setting (PAPER_DQN is its COMMON), its budgets and numbers
# of evaluation targets per task, one evaluation after the whole budget (eval_points=1), the
# regrets of ReachRegretEvaluator (the same targets as its reach_regrets). The exact-max agent
# on the same network runs at n = 1024 only (training with an O(n) max at 10^5 and 10^6 is
# out of reach); the exact argmax of the stochastic agents' networks is evaluated everywhere.
# (The last evaluation comes from the shared callback at step `budget`, one gradient step
# before the script's evaluation after learn() returns: see docs/bench.md.)
REACH_ALGOS = ("StochDQN-stochastic", "StochDQN-paper", "StochDQN-exact", "Random")
REACH_EXACT_TRAIN_MAX_N = 1024


def _reach_task(label: str, n: int, dim: int, **kwargs: Any) -> EnvSpec:
    """TargetReach with the registered 100-step time limit, evaluated by its regrets."""
    return EnvSpec(
        "rlcore/TargetReach-v0",
        {"n_actions": n, "dim": dim, **kwargs},
        evaluator="reach_regret",
        name=label,
    )


def _dqn_hparams(algorithms: tuple[str, ...], quick: bool = False) -> dict[str, dict[str, Any]]:
    """``PAPER_DQN`` for every algorithm but Random; ``quick``: training from step 100 with a
    small buffer and target copies every 100 steps (smoke runs of a few hundred steps)."""
    quick_part = (
        {"learning_starts": 100, "buffer_size": 1_000, "target_update_interval": 100}
        if quick
        else {}
    )
    return {a: PAPER_DQN | quick_part for a in algorithms if a != "Random"}


PROPOSAL_ALGOS = (
    "StochDQN-stochastic",
    "StochDQN-refine2",
    "StochDQN-refine1",
    "StochDQN-state",
    "StochDQN-paper",
    "Random",
)
"""The ``proposals`` suite: the default (``local``, 4 refinement rounds) against 2 and 1 rounds,
the state-conditioned memory alone and the paper's ``R ∪ M``; run on validation seeds only."""


def _reach_group(
    label: str, n: int, dim: int, budget: int, targets: int, algos: tuple[str, ...] = REACH_ALGOS
) -> Group:
    return Group(
        algos,
        (_reach_task(label, n, dim),),
        max_n={"StochDQN-exact": REACH_EXACT_TRAIN_MAX_N},
        budget=budget,
        eval_episodes=targets,
    )


SUITES: dict[str, dict[str, Profile]] = {
    "tabular": {
        "quick": Profile(
            groups=(Group(TABULAR + SB3 + ("Random",), (_FROZEN, _CLIFF, _mdp(256))),),
            seeds=(0,),
            budget=300,
            eval_points=2,
            eval_episodes=2,
        ),
        "full": Profile(
            groups=(Group(TABULAR + SB3 + ("Random",), (_FROZEN, _CLIFF, _mdp(256))),),
            seeds=(0, 1, 2),
            budget=10_000,
            eval_points=10,
            eval_episodes=20,
        ),
    },
    "scaling": {
        "quick": Profile(
            groups=(
                Group(
                    ("QLearning", "StochQLearning") + SB3 + ("Random",),
                    tuple(_mdp(n) for n in (10, 100, 1_000)),
                ),
                Group(
                    ("StochDQN-stochastic", "StochDQN-exact", "SB3-DQN"), (_reach(16), _reach(256))
                ),
            ),
            seeds=(0,),
            budget=200,
            eval_points=1,
            eval_episodes=1,
        ),
        "full": Profile(
            groups=(
                Group(
                    ("QLearning", "StochQLearning") + SB3 + ("Random",),
                    tuple(_mdp(n) for n in (10**2, 10**3, 10**4, 10**5, 10**6)),
                    max_n={"SB3-DQN": 10**4, "SB3-PPO": 10**4, "SB3-A2C": 10**4},
                ),
                Group(
                    ("StochDQN-stochastic", "StochDQN-exact", "SB3-DQN"),
                    tuple(_reach(n) for n in (10**2, 10**3, 10**4, 10**5, 10**6)),
                    max_n={"StochDQN-exact": 10**3, "SB3-DQN": 10**5},
                ),
            ),
            seeds=(0, 1, 2),
            budget=1_000,
            eval_points=1,
            eval_episodes=1,
        ),
    },
    "control": {
        "quick": Profile(
            groups=(
                Group(
                    DEEP + SB3 + ("Random",),
                    (_reach(64, dim=2), EnvSpec("rlcore/DiscretePendulum-v0", {"bins": 32}, 50)),
                ),
            ),
            seeds=(0,),
            budget=300,
            eval_points=2,
            eval_episodes=1,
        ),
        # 50k steps with the paper's DQN setting (PAPER_DQN) for every DQN-family agent, as in
        # the paper suite, where the agents balance by 50k (mean returns of 490-820 out of
        # 1000, 5-170 at 10k); with SB3's DQN defaults (target copy every 10k steps, lr 1e-4,
        # train_freq 4) nothing balanced by 50k (returns 28-89). PPO and A2C: SB3's defaults.
        "full": Profile(
            groups=(
                Group(DEEP + SB3 + ("Random",), (EnvSpec("rlcore/DiscreteInvertedPendulum-v0"),)),
            ),
            seeds=(0, 1, 2),
            hparams=_dqn_hparams(DEEP + ("SB3-DQN",)),
            budget=50_000,
            eval_points=10,
            eval_episodes=5,
        ),
    },
    "paper": {
        "quick": Profile(
            groups=(
                Group(
                    PAPER_ALGOS,
                    (_cheetah(2, 100), EnvSpec("rlcore/DiscreteInvertedPendulum-v0", {}, 100)),
                ),
            ),
            seeds=(0,),
            budget=300,
            eval_points=2,
            eval_episodes=1,
        ),
        # 4096 actions (4 bins per joint, the paper's), 10^6 (10 bins per joint: beyond any
        # exact method; the exact-max agent and SB3's DQN stop at 4096) and the 1000-action
        # InvertedPendulum, 100k steps. The published tables name the seeds each algorithm ran.
        "full": Profile(
            groups=(
                Group(
                    PAPER_ALGOS,
                    (_cheetah(4), _cheetah(10), EnvSpec("rlcore/DiscreteInvertedPendulum-v0")),
                    max_n={"StochDQN-exact": 4096, "SB3-DQN": 4096},
                ),
            ),
            seeds=(0, 1, 2, 3, 4),
            budget=100_000,
            eval_points=10,
            eval_episodes=5,
            hparams=_dqn_hparams(PAPER_ALGOS),
        ),
    },
    "reach": {
        # seconds: 2-D n = 64 and 1-D n = 2000 (no exact-max agent: above 1024, as in full), a few
        # hundred steps, training from step 100
        "quick": Profile(
            groups=(
                _reach_group("TargetReach-2D-64", 64, 2, budget=300, targets=64),
                _reach_group("TargetReach-1D-2000", 2000, 1, budget=200, targets=50),
            ),
            seeds=(0,),
            budget=300,
            eval_points=2,
            eval_episodes=64,
            hparams=_dqn_hparams(REACH_ALGOS, quick=True),
        ),
        # benchmarks/deep_learning.py's tasks reach2d_1024, reach2d_1e6 and reach1d_1e5
        "full": Profile(
            groups=(
                _reach_group("TargetReach-2D-1024", 1024, 2, budget=5_000, targets=1_000),
                _reach_group("TargetReach-2D-1e6", 10**6, 2, budget=10_000, targets=100),
                _reach_group("TargetReach-1D-1e5", 10**5, 1, budget=10_000, targets=300),
            ),
            seeds=(0, 1, 2),
            budget=10_000,
            eval_points=1,
            eval_episodes=100,
            hparams=_dqn_hparams(REACH_ALGOS),
        ),
    },
    # how the default proposal was chosen: the reach tasks on validation seeds 100 and 101
    # (never the reported seeds 0-2)
    "proposals": {
        "quick": Profile(
            groups=(_reach_group("TargetReach-2D-64", 64, 2, 300, 64, PROPOSAL_ALGOS),),
            seeds=(100,),
            budget=300,
            eval_points=2,
            eval_episodes=64,
            hparams=_dqn_hparams(PROPOSAL_ALGOS, quick=True),
        ),
        "full": Profile(
            groups=(
                _reach_group("TargetReach-2D-1024", 1024, 2, 5_000, 1_000, PROPOSAL_ALGOS),
                _reach_group("TargetReach-1D-1e5", 10**5, 1, 10_000, 300, PROPOSAL_ALGOS),
            ),
            seeds=(100, 101),
            budget=10_000,
            eval_points=1,
            eval_episodes=100,
            hparams=_dqn_hparams(PROPOSAL_ALGOS),
        ),
    },
}
"""Suite name -> profile name -> :class:`Profile`. The rumour suite is added by
:mod:`rlcore.bench.rumour`."""


def register_suite(name: str, profiles: dict[str, Profile]) -> None:
    """Add a suite (``profiles`` must hold ``quick`` and ``full``)."""
    if name in SUITES:
        raise ValueError(f"suite {name!r} is already registered")
    if set(profiles) != {"quick", "full"}:
        raise ValueError(
            f"suite {name!r} needs profiles 'quick' and 'full', got {sorted(profiles)}"
        )
    SUITES[name] = profiles


def get_profile(suite: str, profile: str) -> Profile:
    """The :class:`Profile` of ``suite``; a clear KeyError for unknown names."""
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {sorted(SUITES)}")
    if profile not in SUITES[suite]:
        raise KeyError(
            f"unknown profile {profile!r} of suite {suite!r}; known: {sorted(SUITES[suite])}"
        )
    return SUITES[suite][profile]


def eval_steps(budget: int, points: int) -> tuple[int, ...]:
    """``points`` evaluation steps evenly spaced in ``(0, budget]``, the last one ``budget``."""
    if budget < 1 or points < 1 or points > budget:
        raise ValueError(f"need 1 <= points <= budget, got budget={budget}, points={points}")
    return tuple(round(budget * (i + 1) / points) for i in range(points))


def _n_actions(env: gym.Env) -> int:
    space = env.action_space
    return int(space.n) if hasattr(space, "n") else 0


def plan(
    suite: str,
    profile: str | Profile = "quick",
    *,
    seeds: tuple[int, ...] | None = None,
    budget: int | None = None,
    eval_points: int | None = None,
    eval_episodes: int | None = None,
    algorithms: tuple[str, ...] | None = None,
    envs: tuple[str, ...] | None = None,
) -> list[RunSpec]:
    """Expand a suite profile into its runs (algorithm-major, then env, then seed).

    The keyword arguments override the profile (``algorithms`` / ``envs`` filter by name /
    env label); ``budget`` and ``eval_episodes`` also override a group's own
    (:attr:`Group.budget`, :attr:`Group.eval_episodes`). Algorithms that do not apply to an
    env (e.g. tabular agents on a ``Box`` observation space) or exceed their ``max_n`` are
    left out.
    """
    prof = get_profile(suite, profile) if isinstance(profile, str) else profile
    prof = replace(
        prof,
        seeds=tuple(seeds) if seeds is not None else prof.seeds,
        budget=budget if budget is not None else prof.budget,
        eval_points=eval_points if eval_points is not None else prof.eval_points,
        eval_episodes=eval_episodes if eval_episodes is not None else prof.eval_episodes,
    )
    if prof.eval_episodes < 1:
        raise ValueError(f"eval_episodes must be >= 1, got {prof.eval_episodes}")
    if not prof.seeds:
        raise ValueError("at least one seed is needed")
    for name in algorithms or ():
        get_adapter(name)
    runs: list[RunSpec] = []
    for group in prof.groups:
        # a group's own budget / episodes, unless the caller overrides them for every group
        g_budget = group.budget if budget is None and group.budget else prof.budget
        g_episodes = (
            group.eval_episodes
            if eval_episodes is None and group.eval_episodes
            else prof.eval_episodes
        )
        steps = eval_steps(g_budget, prof.eval_points)
        instances = {spec: spec.make() for spec in group.envs}
        for algo in group.algorithms:
            if algorithms is not None and algo not in algorithms:
                continue
            adapter = REGISTRY[algo]
            for spec, env in instances.items():
                if envs is not None and spec.label not in envs and spec.env_id not in envs:
                    continue
                n = _n_actions(env)
                if adapter.unsupported(env) or n > group.max_n.get(algo, n):
                    continue
                hp = adapter.hparams(g_budget, prof.hparams.get(algo))
                runs.extend(
                    RunSpec(suite, algo, spec, n, seed, g_budget, steps, g_episodes, hp)
                    for seed in prof.seeds
                )
        for env in instances.values():
            env.close()
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"suite {suite!r} has duplicate runs {dup}: give its envs distinct labels")
    if not runs:
        raise ValueError(
            f"suite {suite!r} with these filters has no runs (algorithms={algorithms}, envs={envs})"
        )
    return runs
