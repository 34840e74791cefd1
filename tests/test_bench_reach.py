"""Tests of the ``reach`` suite and its ``reach_regret`` evaluator (issue 9: TargetReach regrets
of the O(log n) policy, the exact argmax of the same network, the paper's proposal and a random
policy, in ``rlcore bench``'s one results format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlcore  # noqa: F401  (registers the rlcore/... env ids)
from rlcore.bench import plan, read_rows
from rlcore.bench.algorithms import RandomPolicy
from rlcore.bench.protocol import (
    EVALUATORS,
    REACH_EXACT_MAX_N,
    ReachRegretEvaluator,
    get_evaluator,
)
from rlcore.bench.spec import EnvSpec, Group
from rlcore.cli import main as rlcore_main


def _reach_env(n: int, dim: int, obs_noise: float = 0.01) -> Any:
    return lambda: gym.make("rlcore/TargetReach-v0", n_actions=n, dim=dim, obs_noise=obs_noise)


class Oracle:
    """The best action for each observation (exact when observations carry no noise)."""

    def __init__(self, env: gym.Env, shift: int = 0) -> None:
        self.env = env.unwrapped
        self.shift = shift  # > 0: that many grid cells off along the last axis (clipped)
        self.calls: list[int] = []

    def predict(self, obs: np.ndarray, deterministic: bool = True, **_: Any) -> tuple:
        self.calls.append(len(obs))
        best = np.array([self.env.optimal_action(o.astype(np.float64)) for o in obs])
        last = best % self.env.bins
        moved = np.clip(last + self.shift, 0, self.env.bins - 1) - last
        return best + moved, None


class TwoPolicies(Oracle):
    """A stochastic-max agent lookalike: its O(log n) policy is ``shift`` cells off, its exact
    opt-in (``exact_predict``) is ``exact_shift`` cells off."""

    maximizer = "stochastic"

    def __init__(self, env: gym.Env, shift: int, exact_shift: int) -> None:
        super().__init__(env, shift)
        self.exact_shift = exact_shift
        self.exact_predict = False

    def predict(self, obs: np.ndarray, deterministic: bool = True, **kw: Any) -> tuple:
        shift = self.shift
        if self.exact_predict:
            self.shift = self.exact_shift
        try:
            return super().predict(obs, deterministic, **kw)
        finally:
            self.shift = shift


@pytest.fixture(scope="module")
def reach_quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reach suite's quick profile and its report, run once through the command line."""
    out = tmp_path_factory.mktemp("bench") / "reach"
    args = ["bench", "reach", "--quick", "--out", str(out), "--no-progress", "--report"]
    assert rlcore_main(args) == 0
    return out


def test_quick_profile_writes_regret_rows(reach_quick: Path) -> None:
    runs = plan("reach", "quick")
    rows = read_rows(reach_quick / "results.jsonl")
    assert [r["run_id"] for r in rows if r["point"] == 0] == [r.run_id for r in runs]
    by_id = {r.run_id: r for r in runs}
    for row in rows:
        spec = by_id[row["run_id"]]
        m = row["metrics"]
        assert row["step"] == spec.eval_steps[row["point"]]
        assert row["episodes"] == spec.eval_episodes  # evaluation targets of the group
        assert row["return"] == pytest.approx(-m["regret"])
        assert m["regret"] >= 0 and m["regret_random"] > 0.1
        stochastic = row["algorithm"] in ("StochDQN-stochastic", "StochDQN-paper")
        assert ("regret_exact_argmax" in m) == stochastic, row["run_id"]
        if stochastic and m["regret_exact_argmax"] > 0:
            assert m["regret_over_exact"] == pytest.approx(m["regret"] / m["regret_exact_argmax"])
    # the same targets for every algorithm of a (task, seed): the random baseline agrees
    for env in {r["env"] for r in rows}:
        assert len({r["metrics"]["regret_random"] for r in rows if r["env"] == env}) == 1
    # per-group budgets and labels; the exact-max agent trains at n <= 1024 only
    assert {(r.env.label, r.n, r.budget) for r in runs} == {
        ("TargetReach-2D-64", 64, 300),
        ("TargetReach-1D-2000", 2000, 200),
    }
    assert {r.n for r in runs if r.algorithm == "StochDQN-exact"} == {64}


def test_report_shows_the_regret_table(reach_quick: Path) -> None:
    md = (reach_quick / "report" / "report.md").read_text()
    for label, n in (("TargetReach-2D-64", 64), ("TargetReach-1D-2000", 2000)):
        section = md.split(f"### {label} (n = {n} actions)")[1].split("\n### ")[0]
        table = [line for line in section.splitlines() if "regret_exact_argmax" in line]
        assert table, f"no regret table for {label}"
        header = [c.strip() for c in table[0].strip("|").split("|")]
        assert header[:5] == [
            "algorithm",
            "regret",
            "regret_exact_argmax",
            "regret_over_exact",
            "regret_random",
        ]
        rows = {
            cells[0]: cells
            for line in section.splitlines()
            if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]
            if len(cells) == len(header)
        }
        assert {"StochDQN-stochastic", "StochDQN-paper", "Random"} <= set(rows)
        assert rows["Random"][2] == "—"  # no exact argmax for the random policy
        assert rows["StochDQN-stochastic"][2] != "—"
    assert "200-300 training steps per run" in md


def test_oracle_has_zero_regret_and_random_policy_does_not() -> None:
    make = _reach_env(32 * 32, 2, obs_noise=0.0)
    ev = get_evaluator("reach_regret")(make, seed=3, episodes=200)
    try:
        oracle = Oracle(ev.wrapped)
        ret, std, episodes, m = ev(oracle)
        assert m["regret"] == 0.0 and ret == 0.0 and std == 0.0 and episodes == 200
        assert oracle.calls == [200]  # one batched predict call, no per-action work
        assert m["regret_random"] > 0.3  # random grid points are far from the targets
        rand = RandomPolicy(make(), seed=0)
        r_ret, _, _, r_m = ev(rand)
        assert r_m["regret"] > 0.3 and r_ret == -r_m["regret"]
        off = Oracle(ev.wrapped, shift=1)  # one cell off: small, positive regret
        assert 0 < ev(off)[3]["regret"] < 2 / 32
        # the same targets at every call and for every evaluator of the seed, others for others
        assert ev(off)[3] == ev(off)[3]
        again = ReachRegretEvaluator(make, seed=3, episodes=200)
        other = ReachRegretEvaluator(make, seed=4, episodes=200)
        assert np.array_equal(again.targets, ev.targets)
        assert not np.array_equal(other.targets, ev.targets)
        again.close()
        other.close()
    finally:
        ev.close()


def test_exact_argmax_of_the_same_network_and_the_ratio() -> None:
    ev = ReachRegretEvaluator(_reach_env(100, 2, obs_noise=0.0), seed=0, episodes=100)
    try:
        model = TwoPolicies(ev.wrapped, shift=3, exact_shift=1)
        _, _, _, m = ev(model)
        assert model.calls == [100, 100] and model.exact_predict is False
        assert 0 < m["regret_exact_argmax"] < m["regret"]
        assert m["regret_over_exact"] == pytest.approx(m["regret"] / m["regret_exact_argmax"])
        perfect_exact = TwoPolicies(ev.wrapped, shift=2, exact_shift=0)
        m0 = ev(perfect_exact)[3]
        assert m0["regret_exact_argmax"] == 0.0 and "regret_over_exact" not in m0
    finally:
        ev.close()
    # above REACH_EXACT_MAX_N the O(n) diagnostic is skipped: one predict call only
    big = ReachRegretEvaluator(_reach_env(REACH_EXACT_MAX_N + 1, 1), seed=0, episodes=20)
    try:
        model = TwoPolicies(big.wrapped, shift=0, exact_shift=0)
        m = big(model)[3]
        assert model.calls == [20] and "regret_exact_argmax" not in m
    finally:
        big.close()


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="needs a TargetReach env.*FrozenLakeEnv"):
        ReachRegretEvaluator(lambda: gym.make("FrozenLake-v1"), seed=0, episodes=5)
    with pytest.raises(ValueError, match="episodes .* >= 1, got 0"):
        ReachRegretEvaluator(_reach_env(16, 2), seed=0, episodes=0)
    ev = ReachRegretEvaluator(_reach_env(16, 2), seed=0, episodes=5)
    try:
        with pytest.raises(ValueError, match="expected 5 integer actions.*shape \\(4,\\)"):
            ev.regrets(np.zeros(4, dtype=np.int64))
        with pytest.raises(ValueError, match="actions must lie in \\[0, 16\\)"):
            ev.regrets(np.full(5, 16))
    finally:
        ev.close()
    with pytest.raises(ValueError, match="Group budget must be None or an integer >= 1, got 0"):
        Group(("Random",), (EnvSpec("FrozenLake-v1"),), budget=0)
    with pytest.raises(ValueError, match="without '\\|', got 'a\\|b'"):
        EnvSpec("FrozenLake-v1", name="a|b")
    assert EVALUATORS["reach_regret"] is ReachRegretEvaluator


def test_full_profile_is_deep_learning_reach_protocol() -> None:
    """The published profile's sizes (the former benchmarks/deep_learning.py's tasks, targets
    and shared DQN setting),
    without running it; ``--budget`` overrides every group's budget."""
    runs = plan("reach", "full")
    tasks = {(r.env.label, r.n, r.env.kwargs["dim"], r.budget, r.eval_episodes) for r in runs}
    assert tasks == {
        ("TargetReach-2D-1024", 1024, 2, 5_000, 1_000),
        ("TargetReach-2D-1e6", 10**6, 2, 10_000, 100),
        ("TargetReach-1D-1e5", 10**5, 1, 10_000, 300),
    }
    assert {r.seed for r in runs} == {0, 1, 2}
    algos = {(r.algorithm, r.n) for r in runs}
    assert {a for a, _ in algos} == {
        "StochDQN-stochastic",
        "StochDQN-paper",
        "StochDQN-exact",
        "Random",
    }
    assert {n for a, n in algos if a == "StochDQN-exact"} == {1024}
    common = {  # the former benchmarks/deep_learning.py's COMMON
        "learning_rate": 1e-3,
        "buffer_size": 100_000,
        "learning_starts": 1000,
        "batch_size": 64,
        "gamma": 0.99,
        "train_freq": 1,
        "gradient_steps": 1,
        "target_update_interval": 1000,
        "exploration_fraction": 0.1,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.05,
        "policy_kwargs": {"net_arch": [64, 64]},
    }
    for r in runs:
        assert r.eval_steps == (r.budget,)  # one evaluation after the whole budget
        assert r.hparams == (common if r.algorithm != "Random" else {})
    assert {r.budget for r in plan("reach", "full", budget=50)} == {50}
    assert {r.eval_episodes for r in plan("reach", "quick", eval_episodes=7)} == {7}
    assert "name" not in plan("paper", "quick")[0].describe()["env"]  # old manifests match
