"""The protocol suite ``rumour-protocol`` (rlcore.bench.rumour_protocol): a quick run of every
method, resuming, the report, and clear errors for bad splits, data and results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rlcore.envs.rumour import Event

from rlcore.bench.cli import main as bench_main
from rlcore.bench.report import write_report
from rlcore.bench.rumour_protocol import (
    COLUMNS,
    PROTOCOL_SUITES,
    plan_splits,
    read_protocol,
    run_protocol,
)
from rlcore.bench.store import ResultsError

METHODS = (
    "majority class (1 chunk)",
    "RDM full stream",
    "confidence-threshold stop",
    "ERD paper-faithful (CM on GRU state)",
    "ERD best variant (chosen on validation)",
    "SB3 PPO (tf-idf)",
    "SB3 DQN (tf-idf)",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("protocol")
    run_protocol("rumour-protocol", "quick", out, log=lambda m: None)
    return out


def test_quick_run_scores_every_method_on_the_test_events(quick: Path) -> None:
    manifest, rows = read_protocol(quick)
    assert manifest["kind"] == "protocol" and manifest["splits"] == ["thread"]
    assert [r["split"] for r in rows] == ["thread"]
    (row,) = rows
    for m in METHODS:
        assert m in row["rows"], m
        for c in COLUMNS:
            assert 0.0 <= row["rows"][m][c] <= 1.0
    sizes = row["sizes"]
    # synthetic(150): 22.5 % test, the labelled rest cut 70 / 15 / 15 by hash
    assert sum(sizes.values()) == PROTOCOL_SUITES["rumour-protocol"]["quick"].n_events
    assert sizes["train"] > sizes["fit"] > 0 and sizes["sel"] > 0 and sizes["test"] > 0
    # the majority class answers after one chunk: its early rate is the smallest possible
    assert row["rows"]["majority class (1 chunk)"]["early_rate"] == pytest.approx(
        row["rows"]["RDM after 1 chunk"]["early_rate"]
    )
    assert row["choices"]["threshold"]["tau"] > 0 and row["choices"]["erd"]["cm_input"]


def test_rerun_resumes_without_recomputing(quick: Path) -> None:
    before = (quick / "results.jsonl").read_bytes()
    said: list[str] = []
    run_protocol("rumour-protocol", "quick", quick, log=said.append)
    assert (quick / "results.jsonl").read_bytes() == before
    assert any("already in" in s for s in said)


def test_report_renders_the_table(quick: Path, tmp_path: Path) -> None:
    md = write_report([quick], tmp_path / "report").read_text()
    assert "Suite `rumour-protocol`" in md and "Split by thread" in md
    for m in METHODS:
        assert f"| {m}" in md


def test_other_settings_or_suites_are_refused(quick: Path, tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="another profile"):
        run_protocol("rumour-protocol", "full", quick, log=lambda m: None)
    with pytest.raises(ResultsError, match=r"another settings \(seed 0, now 5\)"):
        run_protocol("rumour-protocol", "quick", quick, seed=5, log=lambda m: None)
    (tmp_path / "manifest.json").write_text(json.dumps({"suite": "control", "runs": []}))
    with pytest.raises(ResultsError, match="'control'"):
        run_protocol("rumour-protocol", "quick", tmp_path, log=lambda m: None)


def test_malformed_results_line_is_named(quick: Path, tmp_path: Path) -> None:
    for name in ("manifest.json", "results.jsonl"):
        (tmp_path / name).write_bytes((quick / name).read_bytes())
    row = json.loads((tmp_path / "results.jsonl").read_text())
    row["rows"]["RDM full stream"]["accuracy"] = 1.5
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ResultsError, match=r"results.jsonl, line 1: .*'accuracy' = 1.5 outside"):
        read_protocol(tmp_path)
    (tmp_path / "results.jsonl").write_text("{not json\n")
    with pytest.raises(ResultsError, match=r"results.jsonl, line 1: not valid JSON"):
        read_protocol(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(seconds="x"), "'seconds' must be a number"),
        (lambda r: r.update(sizes=[1, 2]), "'sizes' must map parts"),
        (lambda r: r.update(choices=None), "'choices' must be an object"),
        (lambda r: r.update(seed=7), "seed 7, but the manifest's"),
        (lambda r: r.update(split="ferguson"), "not one of the manifest's"),
    ],
)
def test_inconsistent_results_lines_are_refused(quick, tmp_path, change, message) -> None:
    (tmp_path / "manifest.json").write_bytes((quick / "manifest.json").read_bytes())
    row = json.loads((quick / "results.jsonl").read_text())
    change(row)
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ResultsError, match=rf"results.jsonl, line 1: .*{message}"):
        read_protocol(tmp_path)


def test_duplicate_split_and_unfinished_folder(quick: Path, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_bytes((quick / "manifest.json").read_bytes())
    line = (quick / "results.jsonl").read_text()
    (tmp_path / "results.jsonl").write_text(line + line)
    with pytest.raises(ResultsError, match="line 2: split 'thread' appears twice"):
        read_protocol(tmp_path)
    # a run interrupted before its only split finished: the report says what is missing
    (tmp_path / "results.jsonl").write_text("")
    md = write_report([tmp_path], tmp_path / "report").read_text()
    assert "Unfinished: 0 of 1 planned splits; missing thread" in md


def test_results_without_manifest_or_bad_manifest_are_refused(quick: Path, tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_bytes((quick / "results.jsonl").read_bytes())
    before = (tmp_path / "results.jsonl").read_bytes()
    with pytest.raises(ResultsError, match="exists without a manifest.json"):
        run_protocol("rumour-protocol", "quick", tmp_path, log=lambda m: None)
    assert (tmp_path / "results.jsonl").read_bytes() == before  # nothing lost
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ResultsError, match="expected a JSON object"):
        run_protocol("rumour-protocol", "quick", tmp_path, log=lambda m: None)


def test_empty_data_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="the data set holds no event"):
        run_protocol("rumour-protocol", "quick", out, data=data, log=lambda m: None)
    assert not (out / "manifest.json").exists()


def _events() -> list[Event]:
    out = []
    for g, n, rumours in (("big", 30, 10), ("mid", 20, 8), ("onesided", 40, 0), ("tiny", 4, 2)):
        for i in range(n):
            out.append(Event(f"{g}{i}", int(i < rumours), ((0.0, f"post {g} {i}"),), group=g))
    return out


def test_folds_are_the_largest_eligible_events() -> None:
    prof = PROTOCOL_SUITES["rumour-protocol"]["full"]
    small = type(prof)(**{**prof.__dict__, "min_threads": 10, "min_class": 5, "folds": 3})
    # "onesided" has no rumour, "tiny" too few threads: two eligible, largest first
    assert plan_splits(_events(), small) == ["big", "mid", "thread"]
    every = type(prof)(**{**small.__dict__, "folds": None})  # the full profile: all eligible
    assert prof.folds is None and plan_splits(_events(), every) == ["big", "mid", "thread"]
    one = type(prof)(**{**small.__dict__, "folds": 1})
    assert plan_splits(_events(), one) == ["big", "thread"]
    assert plan_splits(_events(), small, ["mid", "thread"]) == ["mid", "thread"]
    with pytest.raises(ValueError, match=r"\['nope'\]: not a split .*'big'"):
        plan_splits(_events(), small, ["nope"])
    with pytest.raises(ValueError, match="more than once"):
        plan_splits(_events(), small, ["big", "big"])


def test_cli_refuses_learning_options_and_bad_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main(["run", "rumour-protocol", "--jobs", "2", "--out", str(tmp_path)]) == 2
    assert "--jobs do not apply" in capsys.readouterr().err
    missing = tmp_path / "missing.jsonl"
    assert bench_main(["rumour-protocol", "--data", str(missing), "--out", str(tmp_path)]) == 2
    assert f"--data {str(missing)!r}: no such file" in capsys.readouterr().err
    assert bench_main(["run", "control", "--data", str(missing), "--out", str(tmp_path)]) == 2
    assert "--data applies to the protocol suites" in capsys.readouterr().err
