"""The timing suite `speed` (rlcore.bench.timing): measured interleaved in one process, results
in a strictly read folder, rendered by `rlcore bench report`; learning-suite options refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlcore.bench.cli import main as bench_main
from rlcore.bench.report import write_report
from rlcore.bench.store import ResultsError
from rlcore.bench.timing import TIMING_FIELDS, read_timing, timing_plan

ALGOS = ["StochDQN-stochastic", "SB3-DQN", "StochQLearning", "QLearning"]


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("speed")
    rc = bench_main(["run", "speed", "--out", str(out), "--no-progress", "--algorithms", *ALGOS])
    assert rc == 0
    return out


def test_quick_speed_suite_rows_and_report(timed: Path) -> None:
    manifest, rows = read_timing(timed)
    assert manifest["kind"] == "timing" and manifest["suite"] == "speed"
    prof, configs = timing_plan("speed", "quick", ALGOS)
    assert [tuple(c) for c in manifest["configs"]] == [c.key for c in configs]
    assert all(set(r) == set(TIMING_FIELDS) and r["value"] >= 0 for r in rows)
    assert all(r["value"] > 0 for r in rows if r["measure"] != "memory")
    memory = {(r["algorithm"], r["n"]) for r in rows if r["measure"] == "memory"}
    assert memory == {(c.algorithm, c.n) for c in configs}  # Linux: VmRSS is there
    for c in configs:  # every configuration: train and eval in every round
        for measure in ("train", "eval"):
            got = [r["round"] for r in rows if (r["group"], r["algorithm"], r["n"]) == c.key
                   and r["measure"] == measure]  # fmt: skip
            assert sorted(got) == list(range(prof.repeats)), (c.key, measure)
    exact = {(r["algorithm"], r["n"]) for r in rows if r["measure"] == "eval_exact"}
    assert exact == {(a, n) for a in ("StochDQN-stochastic", "StochQLearning") for n in (16, 256)}

    report = write_report([timed], timed / "report").read_text()
    assert "## Suite `speed` — profile `quick` (timing)" in report
    assert "### deep: rlcore/TargetReach-v0 (dim=1) against n" in report
    assert "KiB/step" in report and "exact ms/call" in report
    assert "train StochDQN-stochastic(n=256) / train SB3-DQN(n=16)" in report
    ratio = next(line for line in report.splitlines() if "train StochQLearning(n=256) /" in line)
    assert "≤ 2" in ratio and re.search(r"\|\s+(met|\*\*not met\*\*)\s+\|", ratio)


def test_learning_options_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = bench_main(["run", "speed", "--out", str(tmp_path), "--jobs", "2", "--seeds", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "timing suite" in err and "--jobs" in err and "--seeds" in err
    assert not (tmp_path / "results.jsonl").exists()


def test_learning_folder_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"suite": "tabular", "runs": []}))
    rc = bench_main(["run", "speed", "--out", str(tmp_path), "--algorithms", "QLearning"])
    assert rc == 2 and "learning suite" in capsys.readouterr().err


def test_damaged_timing_results_name_the_line(timed: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text((timed / "manifest.json").read_text())
    lines = (timed / "results.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    row["value"] = -1.0
    lines[2] = json.dumps(row)
    (bad / "results.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultsError, match=r"results.jsonl, line 3: field 'value'"):
        write_report([bad], tmp_path / "report")
    # a configuration of the manifest without rows: an error, not a partial table
    good = (timed / "results.jsonl").read_text().splitlines()
    keep = [line for line in good if json.loads(line)["algorithm"] != "QLearning"]
    (bad / "results.jsonl").write_text("\n".join(keep) + "\n")
    with pytest.raises(ResultsError, match="have no rows"):
        read_timing(bad)


def test_unknown_algorithm_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rc = bench_main(["run", "speed", "--out", str(tmp_path), "--algorithms", "NoSuchAgent"])
    assert rc == 2 and "NoSuchAgent" in capsys.readouterr().err


def test_algorithm_not_in_the_suite_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rc = bench_main(["run", "speed", "--out", str(tmp_path), "--algorithms", "Sarsa"])
    assert rc == 2 and "not timed by suite 'speed'" in capsys.readouterr().err
