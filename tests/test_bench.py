"""Tests of the benchmark suite (rlcore bench): quick profiles end to end, resume, parallel
and Ray backends, strict results files, reports."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from rlcore.bench import ResultsError, plan, read_rows, run_one, run_suite
from rlcore.bench.report import load_results, write_report
from rlcore.bench.runner import RUN_LOG
from rlcore.bench.stats import bootstrap_ci, final_points, group_runs, iqm
from rlcore.bench.store import FIELDS, append_rows, validate_row
from rlcore.cli import main as rlcore_main

DETERMINISTIC = (
    "run_id",
    "algorithm",
    "env",
    "n",
    "seed",
    "point",
    "step",
    "return",
    "return_std",
    "metrics",
)


def _det(rows: list[dict]) -> list[tuple]:
    return [tuple(json.dumps(r[k]) for k in DETERMINISTIC) for r in rows]


def _log_lines(out: Path) -> list[dict]:
    path = out / RUN_LOG
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def tabular_quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tabular suite's quick profile, run once through the command line."""
    out = tmp_path_factory.mktemp("bench") / "tabular"
    assert (
        rlcore_main(["bench", "run", "tabular", "--quick", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def _check_suite(out: Path, suite: str, report_dir: Path) -> None:
    runs = plan(suite, "quick")
    rows = read_rows(out / "results.jsonl")
    assert [r["run_id"] for r in rows if r["point"] == 0] == [r.run_id for r in runs]
    assert len(rows) == sum(len(r.eval_steps) for r in runs)
    assert all(
        r["step"] == spec.eval_steps[r["point"]]
        for r in rows
        for spec in runs
        if spec.run_id == r["run_id"]
    )
    md = write_report([out], report_dir).read_text()
    algorithms = {r.algorithm for r in runs}
    for algo in algorithms:
        cell = rf"\| +{re.escape(algo)} +\|"  # a table cell (a row or a column; cells are padded)
        assert re.search(cell, md), f"{algo} missing from the {suite} report"
    pngs = list(report_dir.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    for png in pngs:
        assert f"]({png.name})" in md


def test_tabular_quick_end_to_end(tabular_quick: Path, tmp_path: Path) -> None:
    _check_suite(tabular_quick, "tabular", tmp_path / "report")
    algorithms = {r["algorithm"] for r in read_rows(tabular_quick / "results.jsonl")}
    assert {"QLearning", "StochQLearning", "SB3-DQN", "SB3-PPO", "SB3-A2C", "Random"} <= algorithms


def test_stochastic_agents_are_also_evaluated_by_the_exact_argmax(tabular_quick: Path) -> None:
    """Issue 9: the return is the O(log n) policy's; the exact argmax of the same table is a
    separate metric, recorded for the stochastic agents only, and shown in the report."""
    rows = read_rows(tabular_quick / "results.jsonl")
    stoch = [r for r in rows if r["algorithm"].startswith("Stoch")]
    others = [r for r in rows if not r["algorithm"].startswith("Stoch")]
    assert stoch and all("return_exact_argmax" in r["metrics"] for r in stoch)
    assert others and not any("return_exact_argmax" in r["metrics"] for r in others)
    md = write_report([tabular_quick], tabular_quick / "report-exact").read_text()
    assert "return_exact_argmax" in md


@pytest.mark.parametrize("suite", ["scaling", "control", "rumour", "paper", "proposals"])
def test_quick_suite_end_to_end(suite: str, tmp_path: Path) -> None:
    out = tmp_path / suite
    assert (
        rlcore_main(["bench", suite, "--quick", "--out", str(out), "--no-progress", "--report"])
        == 0
    )
    _check_suite(out, suite, out / "report")
    md = (out / "report" / "report.md").read_text()
    if suite == "scaling":
        assert "seconds per step against the number of actions" in md
        assert (out / "report" / "scaling_LargeActionMDP-v0_scaling.png").exists()
    if suite == "rumour":
        rows = read_rows(out / "results.jsonl")
        assert all(
            0 <= r["metrics"]["accuracy"] <= 1 and "accuracy@8h" in r["metrics"] for r in rows
        )
        erd = [r for r in rows if r["algorithm"] == "ERD"]
        assert erd and all("sea" in r["metrics"] for r in erd)
        assert (out / "report" / "rumour_RumourStream-v0_accuracy_deadline.png").exists()
    if suite == "paper":  # the default, the paper's proposal and the exact max: same network
        rows = read_rows(out / "results.jsonl")
        algos = {r["algorithm"] for r in rows}
        assert {"StochDQN-stochastic", "StochDQN-paper", "StochDQN-exact", "Random"} <= algos
        stoch = [r for r in rows if r["algorithm"] in ("StochDQN-stochastic", "StochDQN-paper")]
        assert all("return_exact_argmax" in r["metrics"] for r in stoch)
    if suite == "proposals":
        rows = read_rows(out / "results.jsonl")
        assert {r["seed"] for r in rows} == {100}  # validation seeds, never the reported ones
        assert all(r["metrics"]["regret"] >= 0 for r in rows)


def test_resume_skips_finished_runs(tabular_quick: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    shutil.copytree(tabular_quick, out)
    runs = plan("tabular", "quick")
    before = read_rows(out / "results.jsonl")
    n_logged = len(_log_lines(out))
    assert n_logged == len(runs)

    summary = run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    assert (summary.skipped, summary.executed) == (len(runs), [])
    assert len(_log_lines(out)) == n_logged
    if importlib.util.find_spec("ray") is not None:  # nothing to do: Ray is not even started
        summary = run_suite(
            runs, out, suite="tabular", profile="quick", backend="ray", progress=False
        )
        assert (summary.skipped, summary.executed) == (len(runs), [])

    # an interrupted run: drop two runs' rows, the rerun executes exactly those two
    dropped = {runs[3].run_id, runs[17].run_id}
    kept = [r for r in before if r["run_id"] not in dropped]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    summary = run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    assert summary.skipped == len(runs) - 2
    assert set(summary.executed) == dropped and len(summary.executed) == 2
    assert [e["run_id"] for e in _log_lines(out)[n_logged:]] == summary.executed
    assert _det(read_rows(out / "results.jsonl")) == _det(before)  # same rows, same order

    # the command line says so too
    assert rlcore_main(["bench", "tabular", "--quick", "--out", str(out), "--no-progress"]) == 0
    assert len(_log_lines(out)) == n_logged + 2


def test_resume_with_other_settings_is_refused(tabular_quick: Path, tmp_path: Path) -> None:
    out = tmp_path / "other"
    shutil.copytree(tabular_quick, out)
    runs = plan("tabular", "quick", budget=200)
    with pytest.raises(ResultsError, match="another benchmark configuration") as info:
        run_suite(runs, out, suite="tabular", profile="quick", progress=False)
    # the message names the settings that differ, with both values
    assert "budget: 300 in the folder, 200 asked (30 run(s))" in str(info.value)
    assert "eval_steps: [150, 300] in the folder, [100, 200] asked" in str(info.value)
    assert "suite:" not in str(info.value) and "profile:" not in str(info.value)


def test_extend_adds_runs_of_the_same_suite_and_refuses_other_settings(
    tabular_quick: Path, tmp_path: Path
) -> None:
    out = tmp_path / "extend"
    first = plan("tabular", "quick", algorithms=("Random",))
    run_suite(first, out, suite="tabular", profile="quick", progress=False)
    more = plan("tabular", "quick", algorithms=("StochQLearning",))
    with pytest.raises(ResultsError, match="--extend"):  # without extend: refused
        run_suite(more, out, suite="tabular", profile="quick", progress=False)
    summary = run_suite(more, out, suite="tabular", profile="quick", progress=False, extend=True)
    assert sorted(summary.executed) == sorted(r.run_id for r in more)
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [r["run_id"] for r in manifest["runs"]]
    assert ids == [r.run_id for r in first + more]  # the folder's runs first, then the new
    rows = read_rows(out / "results.jsonl")
    assert [r["run_id"] for r in rows] == [r for r in ids for _ in range(2)]  # 2 points each
    full = {r.run_id for r in first + more}
    stored = [r for r in read_rows(tabular_quick / "results.jsonl") if r["run_id"] in full]
    assert _det(rows) == _det(sorted(stored, key=lambda r: (ids.index(r["run_id"]), r["point"])))
    # a run already planned but specified differently is refused, even with extend
    other = plan("tabular", "quick", algorithms=("Random",), budget=200)
    with pytest.raises(ResultsError, match="budget: 300 in the folder, 200 asked"):
        run_suite(other, out, suite="tabular", profile="quick", progress=False, extend=True)
    with pytest.raises(ResultsError, match="profile"):
        run_suite(first, out, suite="tabular", profile="full", progress=False, extend=True)


def test_same_seed_same_rows(tabular_quick: Path) -> None:
    spec = next(
        r for r in plan("tabular", "quick") if r.algorithm == "StochQLearning" and r.n == 256
    )
    rows = run_one(spec)
    stored = [r for r in read_rows(tabular_quick / "results.jsonl") if r["run_id"] == spec.run_id]
    assert _det(rows) == _det(stored)


def test_parallel_jobs_give_identical_results(tabular_quick: Path, tmp_path: Path) -> None:
    runs = plan("tabular", "quick", algorithms=("StochQLearning", "SB3-DQN"))
    summary = run_suite(
        runs, tmp_path / "par", suite="tabular", profile="quick", jobs=2, progress=False
    )
    assert len(summary.executed) == len(runs) == 6
    by_id = {r.run_id for r in runs}
    serial = [r for r in read_rows(tabular_quick / "results.jsonl") if r["run_id"] in by_id]
    assert _det(read_rows(summary.results)) == _det(serial)


def test_ray_backend_missing_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    runs = plan("tabular", "quick", algorithms=("Random",))
    with pytest.raises(RuntimeError, match=r"pip install 'rlcore\[ray\]'"):
        run_suite(
            runs,
            tmp_path / "noray",
            suite="tabular",
            profile="quick",
            backend="ray",
            progress=False,
        )
    assert not (tmp_path / "noray" / "results.jsonl").exists()


# ----------------------------------------------------------------- damaged results files
def _copy(tabular_quick: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    out = tmp_path / "damaged"
    shutil.copytree(tabular_quick, out)
    return out, (out / "results.jsonl").read_text().splitlines(keepends=True)


def test_missing_row_is_a_clear_error(tabular_quick: Path, tmp_path: Path) -> None:
    out, lines = _copy(tabular_quick, tmp_path)
    victim = json.loads(lines[6])
    (out / "results.jsonl").write_text("".join(lines[:6] + lines[7:]))
    with pytest.raises(
        ResultsError,
        match=rf"results.jsonl: run '{re.escape(victim['run_id'])}' is missing evaluation point\(s\) \[{victim['point']}\]",
    ):
        write_report([out], tmp_path / "report")
    assert not (tmp_path / "report" / "report.md").exists()


def test_corrupt_row_is_a_clear_error(tabular_quick: Path, tmp_path: Path) -> None:
    out, lines = _copy(tabular_quick, tmp_path)
    bad = lines[4].replace('"return": ', '"return": "abc", "x": ', 1)
    (out / "results.jsonl").write_text("".join(lines[:4] + [bad] + lines[5:]))
    with pytest.raises(ResultsError, match=r"results.jsonl, line 5: unknown field\(s\) \['x'\]"):
        load_results(out)
    row = json.loads(lines[4]) | {"return": "abc"}
    (out / "results.jsonl").write_text("".join(lines[:4] + [json.dumps(row) + "\n"] + lines[5:]))
    with pytest.raises(
        ResultsError, match=r"line 5: field 'return' must be a finite number, got 'abc'"
    ):
        load_results(out)
    (out / "results.jsonl").write_text("".join(lines[:4] + [lines[4][:40] + "\n"] + lines[5:]))
    with pytest.raises(ResultsError, match=r"line 5: not valid JSON"):
        load_results(out)
    (out / "results.jsonl").write_text("".join(lines)[:-30])  # a cut last write
    with pytest.raises(ResultsError, match=rf"line {len(lines)}: not valid JSON"):
        load_results(out)
    # the command line exits with status 2 and names the file and line
    assert rlcore_main(["bench", "report", str(out)]) == 2


def test_missing_run_is_a_clear_error(tabular_quick: Path, tmp_path: Path) -> None:
    out, lines = _copy(tabular_quick, tmp_path)
    first = json.loads(lines[0])["run_id"]
    (out / "results.jsonl").write_text(
        "".join(x for x in lines if json.loads(x)["run_id"] != first)
    )
    with pytest.raises(
        ResultsError, match=r"1 of the 30 runs planned in .*manifest.json have no rows"
    ):
        load_results(out)


def test_nonfinite_and_out_of_range_values_are_rejected() -> None:
    row = {f: 0 for f in FIELDS} | {"suite": "s", "run_id": "r", "algorithm": "a", "env": "e"}
    row |= {"n": 4, "n_points": 1, "episodes": 1, "metrics": {}}
    assert validate_row(row, "x")["n"] == 4
    with pytest.raises(ResultsError, match="field 'return' must be a finite number, got nan"):
        validate_row(row | {"return": float("nan")}, "x")
    with pytest.raises(ResultsError, match=r"field 'point' must be in \[0, n_points=1\), got 3"):
        validate_row(row | {"point": 3}, "x")
    with pytest.raises(ResultsError, match=r"missing field\(s\) \['seed'\]"):
        validate_row({k: v for k, v in row.items() if k != "seed"}, "x")
    with pytest.raises(ResultsError, match=r"metrics.acc' must be a finite number"):
        validate_row(row | {"metrics": {"acc": "inf"}}, "x")


def test_csv_round_trip_and_corrupt_cell(tabular_quick: Path, tmp_path: Path) -> None:
    rows = read_rows(tabular_quick / "results.jsonl")
    path = tmp_path / "results.csv"
    by_run: dict[str, list] = {}
    for r in rows:
        by_run.setdefault(r["run_id"], []).append(r)
    for run_rows in by_run.values():
        append_rows(path, run_rows)
    assert read_rows(path) == rows
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[FIELDS.index("step")] = "ten"
    path.write_text("".join(lines[:3] + [",".join(cells)] + lines[4:]))
    with pytest.raises(
        ResultsError, match=r"results.csv, line 4: field 'step' must be an integer, got 'ten'"
    ):
        read_rows(path)
    path.write_text("".join(lines[:3] + lines[4:]))
    with pytest.raises(ResultsError, match=r"missing evaluation point"):
        read_rows(path)


def test_report_embedded_in_readme(tabular_quick: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n## Results\n```bash\n# a comment, not a heading\n```\n"
        "<!-- rlcore-bench:begin -->\nold\n<!-- rlcore-bench:end -->\ntail\n"
    )
    args = ["bench", "report", str(tabular_quick), "--out", str(tmp_path / "docs" / "bench")]
    assert rlcore_main([*args, "--readme", str(readme)]) == 0
    text = readme.read_text()
    report = (tmp_path / "docs" / "bench" / "report.md").read_text()
    assert "```\n<!-- rlcore-bench:begin -->\n### rlcore" in text
    assert "\n#### Suite `tabular`" in text and "\n##### FrozenLake-v1" in text
    assert text.endswith("<!-- rlcore-bench:end -->\ntail\n") and "old" not in text
    images = re.findall(r"\]\((docs/bench/[^)]+\.png)\)", text)
    assert images and len(images) == report.count(".png)")
    assert all((tmp_path / p).exists() for p in images)
    row = re.compile(r"^\| StochQLearning +\|", re.M)
    assert len(row.findall(text)) == len(row.findall(report)) > 0
    # a second run replaces the section instead of appending to it, keeping the README's mode
    readme.chmod(0o664)
    assert rlcore_main([*args, "--readme", str(readme)]) == 0
    assert readme.read_text() == text and readme.stat().st_mode & 0o777 == 0o664
    assert not [p.name for p in tmp_path.rglob("*.tmp")]  # no temporary left behind
    readme.write_text("# no markers\n")
    assert rlcore_main([*args, "--readme", str(readme)]) == 2
    assert readme.read_text() == "# no markers\n"


def test_bootstrap_ci_stays_within_possible_values() -> None:
    # three seeds of a success rate: Student t would give 0.33 ± 1.43, i.e. [-1.1, 1.8]
    m, lo, hi = bootstrap_ci([0.0, 0.0, 1.0])
    assert m == pytest.approx(1 / 3) and 0.0 <= lo < m < hi <= 1.0
    assert (lo, hi) == (0.0, 1.0)  # resamples of 3 values reach all-0 and all-1 means
    assert bootstrap_ci([0.0, 0.0, 1.0]) == (m, lo, hi)  # deterministic
    m, lo, hi = bootstrap_ci([-100.0, -13.0, -13.0, -15.0, -13.0], bounds=(-100.0, -13.0))
    assert -100.0 <= lo <= m <= hi <= -13.0
    m, lo, hi = bootstrap_ci([5.0])
    assert m == 5.0 and lo != lo and hi != hi  # nan: no interval from one seed
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0, 100.0, -50.0, 1.5, 2.5])) == pytest.approx(1.75)
    m, lo, hi = bootstrap_ci(np.arange(20.0), statistic=iqm)
    assert m == pytest.approx(9.5) and lo < m < hi
    with pytest.raises(ValueError, match="finite values"):
        bootstrap_ci([1.0, float("nan")])


def test_final_performance_is_the_mean_of_the_last_evaluations_not_the_last_or_best() -> None:
    def row(point: int, ret: float, acc: float) -> dict:
        return {"run_id": "r", "point": point, "return": ret, "metrics": {"accuracy": acc},
                "step": 100 * (point + 1), "wall_time": 2.0 * (point + 1)}  # fmt: skip

    # a run that peaked at point 2 (return 1000) and fell: final = mean of points 3..5
    rets = [0.0, 10.0, 1000.0, 40.0, 50.0, 60.0]
    runs = group_runs([row(i, r, r / 100) for i, r in enumerate(rets)])
    (final,) = final_points(runs)
    assert final["return"] == pytest.approx(50.0) and final["final_points"] == 3
    assert final["metrics"]["accuracy"] == pytest.approx(0.5)
    assert final["point"] == 5 and final["run_sec_per_step"] == pytest.approx(12.0 / 600)
    (short,) = final_points(group_runs([row(0, 7.0, 0.1), row(1, 9.0, 0.3)]))
    assert short["return"] == pytest.approx(8.0) and short["final_points"] == 2
    assert final_points(runs, last=1)[0]["return"] == 60.0
    with pytest.raises(ValueError, match="last must be an integer >= 1"):
        final_points(runs, last=0)


def test_bad_command_line_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        rlcore_main(
            ["bench", "tabular", "--quick", "--algorithms", "NoSuchAgent", "--out", str(tmp_path)]
        )
        == 2
    )
    assert "unknown benchmark algorithm 'NoSuchAgent'" in capsys.readouterr().err
    assert rlcore_main(["bench", "report", str(tmp_path / "nothing")]) == 2
    assert "no results" in capsys.readouterr().err
    assert rlcore_main(["nope"]) == 2


def test_rumour_batched_decisions_equal_stepping_the_env() -> None:
    """ERD's ``decide`` and SB3's ``sb3_decisions`` (used by the rumour evaluator) give the
    decisions and returns of stepping the environment with ``predict``."""
    from rlcore.bench.algorithms import get_adapter
    from rlcore.bench.rumour import RumourEvaluator

    for algo in ("SB3-PPO", "ERD"):
        spec = plan("rumour", "quick", algorithms=(algo,))[0]
        adapter = get_adapter(algo)
        model = adapter.build(
            spec.env.make(adapter.family),
            0,
            spec.hparams | {"n_rounds": 1} if algo == "ERD" else spec.hparams,
        )
        model.learn(100)
        ev = RumourEvaluator(lambda a=adapter, s=spec: s.env.make(a.family, evaluation=True), 0, 15)
        batched, returns, has_later = ev.decide(model)
        stepped, stepped_returns = ev._decide_stepping(model)
        assert has_later and len(batched) == 15
        assert [(d.answer, d.chunk, d.posts_read) for d in batched] == [
            (d.answer, d.chunk, d.posts_read) for d in stepped
        ]
        assert returns == pytest.approx(stepped_returns)


def test_version_default_profile_and_closed_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    import rlcore
    from rlcore.bench.cli import build_parser

    assert rlcore_main(["--version"]) == 0
    assert capsys.readouterr().out == f"rlcore {rlcore.__version__}\n"
    assert build_parser().parse_args(["run", "tabular"]).profile == "quick"
    assert build_parser().parse_args(["run", "tabular", "--full"]).profile == "full"
    # `rlcore --version | head -0`: the reader is gone before the command prints; no traceback
    # (`rlcore bench ...` and `python -m rlcore.bench ...` go through the same wrapper)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlcore.cli", "--version"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the command prints (it imports for a moment first)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_metrics_table_keeps_three_significant_digits_of_small_values() -> None:
    from rlcore.bench.markdown import metrics_table

    rows = [
        {"algorithm": "StochDQN-stochastic", "metrics": {"regret": v, "ret": w}}
        for v, w in ((0.00451, 1234.4), (0.00452, 1234.6))
    ]
    text = "\n".join(metrics_table(rows))  # type: ignore[arg-type]
    assert "0.00452 [0.00451, 0.00452]" in text or "0.00451 [0.00451, 0.00452]" in text
    assert "1234 [1234, 1235]" in text or "1235 [1234, 1235]" in text


def test_report_sections_per_action_count_and_distinct_plots_per_folder(tmp_path: Path) -> None:
    """Outside the scaling suite an env run at several n gets one section per n (the paper
    suite's HalfCheetah at 4096 and 10^6 actions), and a suite reported from two folders (two
    budgets) gets plot files of its own per folder."""
    runs = plan("paper", "quick", algorithms=("Random",), envs=("DiscreteHalfCheetah-v0",))
    rows = run_one(runs[0])
    big = [r | {"n": 10**6, "run_id": r["run_id"].replace("n=64", "n=1000000")} for r in rows]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        append_rows(tmp_path / name / "results.jsonl", rows + big)
    md = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "report").read_text()
    assert md.count("### DiscreteHalfCheetah-v0 (n = 64 actions)") == 2
    assert md.count("### DiscreteHalfCheetah-v0 (n = 1000000 actions)") == 2
    assert "seconds per step against the number of actions" not in md
    pngs = re.findall(r"\]\(([^)]+\.png)\)", md)
    assert len(pngs) == 4 and len(set(pngs)) == 4  # 2 folders x 2 action counts
    assert all((tmp_path / "report" / p).exists() for p in pngs)


def test_table_numbers_are_readable() -> None:
    from rlcore.bench.markdown import fmt

    assert [fmt(x) for x in (2310.4, -2215.2, 999.7, 12.345, 0.5)] == [
        "2310",
        "-2215",
        "1000",
        "12.3",
        "0.500",
    ]
    assert fmt(0.001) == "1.00e-03" and fmt(float("nan")) == "—"


def test_merge_adds_finished_runs_of_another_folder(tabular_quick: Path, tmp_path: Path) -> None:
    """Runs made at the same time in two folders (one writer per folder) merge into one folder
    with one plan, as --extend would have made it; conflicting settings and unfinished runs are
    refused before anything is written; merging twice changes nothing."""
    from rlcore.bench.cli import main as bench_main
    from rlcore.bench.merge import merge_results

    a, b = tmp_path / "a", tmp_path / "b"
    first = plan("tabular", "quick", algorithms=("Random", "QLearning"))
    second = plan("tabular", "quick", algorithms=("Random", "StochQLearning"))  # Random in both
    run_suite(first, a, suite="tabular", profile="quick", progress=False)
    run_suite(second, b, suite="tabular", profile="quick", progress=False)
    before = (b / "results.jsonl").read_bytes(), (b / "manifest.json").read_bytes()
    assert bench_main(["merge", str(b), "--into", str(a)]) == 0
    manifest = json.loads((a / "manifest.json").read_text())
    ids = [r["run_id"] for r in manifest["runs"]]
    expected = [r.run_id for r in first] + [
        r.run_id for r in second if r.algorithm == "StochQLearning"
    ]
    assert ids == expected
    assert any(c.get("merged_from") == str(b) for c in manifest["calls"])
    rows = read_rows(a / "results.jsonl")
    assert [r["run_id"] for r in rows] == [r for r in ids for _ in range(2)]
    stored = [r for r in read_rows(tabular_quick / "results.jsonl") if r["run_id"] in set(ids)]
    assert _det(rows) == _det(sorted(stored, key=lambda r: (ids.index(r["run_id"]), r["point"])))
    assert ((b / "results.jsonl").read_bytes(), (b / "manifest.json").read_bytes()) == before
    load_results(a)  # complete: every planned run has its rows
    merged = (a / "results.jsonl").read_bytes(), (a / "manifest.json").read_bytes()
    assert merge_results([b, b], a) == {"added": 0, "kept": len(second)}  # idempotent
    assert ((a / "results.jsonl").read_bytes(), (a / "manifest.json").read_bytes()) == merged
    # another budget for a run both plan: refused, nothing written
    c = tmp_path / "c"
    run_suite(
        plan("tabular", "quick", algorithms=("Random",), budget=200),
        c, suite="tabular", profile="quick", progress=False,
    )  # fmt: skip
    snapshot = (a / "results.jsonl").read_bytes(), (a / "manifest.json").read_bytes()
    with pytest.raises(ResultsError, match="budget: 300 in the folder, 200 asked"):
        merge_results([c], a)
    # a source with a planned run that has no rows: refused
    d = tmp_path / "d"
    shutil.copytree(b, d)
    lines = (d / "results.jsonl").read_text().splitlines(keepends=True)
    (d / "results.jsonl").write_text("".join(lines[:-2]))  # the last run's two points removed
    with pytest.raises(ResultsError, match="without results"):
        merge_results([d], a)
    assert ((a / "results.jsonl").read_bytes(), (a / "manifest.json").read_bytes()) == snapshot
    # an interrupted merge (rows written, manifest not): another source is refused clearly,
    # the same source again completes it
    f, g = tmp_path / "f", tmp_path / "g"
    run_suite(first, f, suite="tabular", profile="quick", progress=False)
    run_suite(second, g, suite="tabular", profile="quick", progress=False)
    planned_only = (f / "manifest.json").read_bytes()
    merge_results([g], f)
    (f / "manifest.json").write_bytes(planned_only)  # as if stopped between the two writes
    h = tmp_path / "h"
    run_suite(plan("tabular", "quick", algorithms=("Sarsa",)), h, suite="tabular",
              profile="quick", progress=False)  # fmt: skip
    with pytest.raises(ResultsError, match="does not plan"):
        merge_results([h], f)
    assert merge_results([g], f) == {"added": 3, "kept": 3}
    assert _det(read_rows(f / "results.jsonl")) == _det(read_rows(a / "results.jsonl"))
    load_results(f)
