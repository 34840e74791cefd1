"""The run specification: how to build an environment, what a suite profile holds, and
everything one run needs (:class:`RunSpec`, sent to worker processes and Ray tasks).

This module imports no other module of :mod:`rlcore.bench`: suites (:mod:`rlcore.bench.suites`)
and algorithm adapters (:mod:`rlcore.bench.algorithms`) both build on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor


@dataclass(frozen=True)
class EnvSpec:
    """How to build one environment instance (the same for every algorithm and seed).

    Attributes:
        env_id: Gymnasium id (``rlcore/...`` ids are registered by ``import rlcore``).
        kwargs: keyword arguments of ``gym.make``.
        max_episode_steps: time limit (None keeps the registered one).
        eval_kwargs: keyword arguments that replace ``kwargs`` for the evaluation env (e.g.
            ``{"split": "test"}`` for rumour detection); empty: evaluate on the same env.
        family_kwargs: per algorithm family, keyword arguments added for that family only:
            the observation *encoding* an algorithm needs (ERD reads token ids, MLP policies a
            bag of words); data, rewards and dynamics stay the same.
        evaluator: name of the evaluation protocol (:data:`rlcore.bench.protocol.EVALUATORS`):
            ``"episodes"`` (mean return of deterministic episodes), ``"reach_regret"``
            (TargetReach regrets on fixed targets) or ``"rumour"``.
        name: the label in results files and reports instead of the id without its namespace
            (empty: that default); needed where one suite runs the same id as several tasks
            (reports group rows by suite and label). No ``|`` (it separates run id fields).
    """

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    family_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluator: str = "episodes"
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or "|" in self.name:
            raise ValueError(f"EnvSpec name must be a string without '|', got {self.name!r}")

    @property
    def label(self) -> str:
        """Name in results files: ``name`` if given, else the id without its namespace
        (``LargeActionMDP-v0``)."""
        return self.name or self.env_id.split("/")[-1]

    def make(self, family: str | None = None, evaluation: bool = False) -> gym.Env:
        """A new instance, wrapped in SB3's ``Monitor`` (episode returns and lengths).

        Args:
            family: the algorithm family the env is for (selects ``family_kwargs``).
            evaluation: build the evaluation env (``kwargs`` updated with ``eval_kwargs``).
        """
        import rlcore.envs  # noqa: F401  (registers the rlcore/... env ids)

        kw = dict(self.kwargs)
        if evaluation:
            kw.update(self.eval_kwargs)
        kw.update(self.family_kwargs.get(family or "", {}))
        if self.max_episode_steps is not None:
            kw["max_episode_steps"] = self.max_episode_steps
        return Monitor(gym.make(self.env_id, **kw))

    def __hash__(self) -> int:
        return hash((self.env_id, repr(sorted(self.kwargs.items())), self.max_episode_steps))


@dataclass(frozen=True)
class Group:
    """Algorithms run on environments (every algorithm on every env it applies to).

    Attributes:
        algorithms: registry names.
        envs: environment specs.
        max_n: per algorithm, the largest action count it runs at (scaling: the exact
            baselines' cost grows with n).
        budget: environment steps per run of this group (None: the profile's ``budget``);
            for suites whose tasks have budgets of their own (e.g. ``reach``).
        eval_episodes: evaluation episodes (or states) per point for this group (None: the
            profile's ``eval_episodes``).
    """

    algorithms: tuple[str, ...]
    envs: tuple[EnvSpec, ...]
    max_n: dict[str, int] = field(default_factory=dict)
    budget: int | None = None
    eval_episodes: int | None = None

    def __post_init__(self) -> None:
        for name in ("budget", "eval_episodes"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"Group {name} must be None or an integer >= 1, got {value!r}")

    def __hash__(self) -> int:
        return hash((self.algorithms, self.envs, self.budget, self.eval_episodes))


@dataclass(frozen=True)
class Profile:
    """Sizes of a suite run.

    Attributes:
        groups: the algorithm x environment groups.
        seeds: run seeds.
        budget: environment steps per run (the same for every algorithm; a group may set its
            own, :attr:`Group.budget`).
        eval_points: number of evaluation points, evenly spaced up to ``budget``.
        eval_episodes: deterministic evaluation episodes per point (or a group's own).
        hparams: per-algorithm hyper-parameter overrides of the adapters' defaults.
    """

    groups: tuple[Group, ...]
    seeds: tuple[int, ...]
    budget: int
    eval_points: int
    eval_episodes: int
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.groups, self.seeds, self.budget, self.eval_points, self.eval_episodes))


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs (picklable: sent to worker processes or Ray tasks).

    Attributes:
        suite: suite name.
        algorithm: registry name.
        env: environment spec.
        n: number of actions of the env.
        seed: run seed.
        budget: training steps.
        eval_steps: step counts of the evaluation points, increasing, last = ``budget``.
        eval_episodes: evaluation episodes per point.
        hparams: the algorithm's hyper-parameters.
        threads: torch threads of the run (1 keeps runs comparable and parallel-safe).
    """

    suite: str
    algorithm: str
    env: EnvSpec
    n: int
    seed: int
    budget: int
    eval_steps: tuple[int, ...]
    eval_episodes: int
    hparams: dict[str, Any]
    threads: int = 1

    @property
    def run_id(self) -> str:
        """``"<algorithm>|<env label>|n=<n>|seed=<seed>"`` (unique within a suite run)."""
        return f"{self.algorithm}|{self.env.label}|n={self.n}|seed={self.seed}"

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored in the results folder's manifest); the env's
        ``name`` only when set, so manifests written before that field existed still match."""
        d = asdict(self)
        d["eval_steps"] = list(self.eval_steps)
        if not d["env"]["name"]:
            del d["env"]["name"]
        return d | {"run_id": self.run_id}


__all__ = ["EnvSpec", "Group", "Profile", "RunSpec"]
