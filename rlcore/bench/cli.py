"""Command line of the benchmark: ``rlcore bench ...`` or ``python -m rlcore.bench ...``.

rlcore bench list                                   # suites, profiles, algorithms
rlcore bench run SUITE [--full] [--out DIR] [--jobs N] [--backend ray [--ray-address ADDR]]
rlcore bench run rumour-protocol [--full] [--data PHEME.jsonl] [--envs SPLIT ...]
rlcore bench SUITE ...                              # same as `run SUITE ...`
rlcore bench report RESULTS [RESULTS ...] [--out DIR] [--readme README.md]
rlcore bench merge SRC [SRC ...] --into DST         # runs made in other folders, into one

``run`` uses the quick profile unless ``--full`` (or ``--profile full``) is given. Exit status:
0 done, 2 bad input or a refused / failed call (message on stderr, no traceback), 130 when
interrupted (Ctrl-C or SIGTERM; the results folder resumes with the same command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rlcore.bench.algorithms import REGISTRY
from rlcore.bench.rumour_protocol import PROTOCOL_SUITES, run_protocol
from rlcore.bench.runner import BACKENDS, RAY_CONNECT_TIMEOUT, run_suite
from rlcore.bench.store import ResultsError
from rlcore.bench.suites import SUITES, plan
from rlcore.bench.timing import TIMING_SUITES, run_timing
from rlcore.cli import exit_quietly_on_broken_pipe


def build_parser() -> argparse.ArgumentParser:
    """The ``rlcore bench`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="rlcore bench",
        description="Benchmark rlcore's agents against Stable-Baselines3 (see docs/bench.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list suites, profiles and algorithms")

    run = sub.add_parser("run", help="run a suite (resumes a partly finished results folder)")
    run.add_argument(
        "suite",
        choices=sorted([*SUITES, *TIMING_SUITES, *PROTOCOL_SUITES]),
        help="suite to run (timing suites: "
        + ", ".join(sorted(TIMING_SUITES))
        + "; protocol suites: "
        + ", ".join(sorted(PROTOCOL_SUITES))
        + ")",
    )
    prof = run.add_mutually_exclusive_group()
    prof.add_argument(
        "--profile", choices=("quick", "full"), default="quick", help="size (default quick)"
    )
    prof.add_argument(
        "--quick", action="store_const", const="quick", dest="profile", help="= --profile quick"
    )
    prof.add_argument(
        "--full",
        action="store_const",
        const="full",
        dest="profile",
        help="= --profile full (the published results; hours)",
    )
    run.add_argument(
        "--out", type=Path, help="results folder (default bench_results/SUITE-PROFILE)"
    )
    run.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="results file format"
    )
    run.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    run.add_argument("--backend", choices=BACKENDS, default="local", help="local processes or Ray")
    run.add_argument(
        "--ray-address",
        help="Ray cluster to use: auto, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS, "
        "else a local Ray instance on 127.0.0.1 with --jobs CPUs)",
    )
    run.add_argument(
        "--ray-timeout",
        type=float,
        default=RAY_CONNECT_TIMEOUT,
        help=f"seconds to wait for the Ray address to answer (default {RAY_CONNECT_TIMEOUT:g})",
    )
    run.add_argument(
        "--no-ship",
        dest="ship",
        action="store_false",
        default=None,
        help="Ray cluster: do not send this rlcore to the workers (every node has the same "
        "version installed); by default it is shipped with Ray's runtime_env py_modules",
    )
    run.add_argument("--seeds", type=int, nargs="+", help="override the profile's seeds")
    run.add_argument("--budget", type=int, help="override the training steps per run")
    run.add_argument("--eval-points", type=int, help="override the number of evaluation points")
    run.add_argument("--eval-episodes", type=int, help="override the evaluation episodes per point")
    run.add_argument("--algorithms", nargs="+", metavar="NAME", help="only these algorithms")
    run.add_argument("--envs", nargs="+", metavar="ENV", help="only these envs (label or id)")
    run.add_argument(
        "--extend",
        action="store_true",
        help="add these runs to a results folder that already plans other runs of the same "
        "suite and profile (other algorithms or seeds); its report covers all",
    )
    run.add_argument(
        "--isolate",
        action="store_true",
        help="run each run in a fresh process (peak memory per run; slower start)",
    )
    run.add_argument(
        "--data",
        type=Path,
        help="protocol suites only: the JSONL data set (e.g. PHEME); default synthetic events",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--report", action="store_true", help="write the report when done")

    mer = sub.add_parser(
        "merge",
        help="add the finished runs of other results folders (same suite and profile) to one",
    )
    mer.add_argument("sources", type=Path, nargs="+", help="results folders to add")
    mer.add_argument("--into", type=Path, required=True, help="the results folder to add them to")

    rep = sub.add_parser("report", help="Markdown summary and PNG plots of results")
    rep.add_argument("results", type=Path, nargs="+", help="results folders or files")
    rep.add_argument("--out", type=Path, help="report folder (default RESULTS/report)")
    rep.add_argument("--title", default="rlcore benchmark report")
    rep.add_argument(
        "--readme",
        type=Path,
        help="also copy the report into this file, between the lines "
        "<!-- rlcore-bench:begin --> and <!-- rlcore-bench:end -->",
    )
    return parser


def _cmd_list() -> int:
    print("suites (profiles quick, full):")
    for name, profiles in SUITES.items():
        algos = sorted({a for g in profiles["full"].groups for a in g.algorithms})
        envs = sorted({e.label for g in profiles["full"].groups for e in g.envs})
        print(f"  {name}: algorithms {', '.join(algos)}; envs {', '.join(envs)}")
    for name, profiles in TIMING_SUITES.items():
        groups = profiles["full"].groups
        algos = sorted({a for g in groups for a in g.algorithms})
        envs = sorted({g.env_id.split("/")[-1] for g in groups})
        print(f"  {name} (timing): algorithms {', '.join(algos)}; envs {', '.join(envs)}")
    for name in PROTOCOL_SUITES:
        print(
            f"  {name} (protocol): RDM baselines, threshold stop, ERD paper-faithful and best "
            "variant, SB3 PPO / DQN, majority class; splits: news events left out, thread"
        )
    print("algorithms:")
    for name, ad in REGISTRY.items():
        print(f"  {name} ({ad.family}: {ad.target}{' ' + str(ad.fixed) if ad.fixed else ''})")
    return 0


# options of learning suites that a timing suite (one process, fixed configurations) refuses
_LEARNING_ONLY = (
    ("jobs", 1), ("backend", "local"), ("ray_address", None), ("ray_timeout", RAY_CONNECT_TIMEOUT),
    ("ship", None), ("seeds", None),
    ("budget", None), ("eval_points", None), ("eval_episodes", None), ("envs", None),
    ("extend", False), ("isolate", False), ("format", "jsonl"),
)  # fmt: skip


def _report_if_asked(args: argparse.Namespace, out: Path) -> int:
    """``--report``: write the folder's report into ``out/report``."""
    if args.report:
        from rlcore.bench.report import write_report

        print(f"report: {write_report([out], out / 'report')}")
    return 0


def _cmd_timing(args: argparse.Namespace) -> int:
    given = [
        "--" + name.replace("_", "-")
        for name, default in _LEARNING_ONLY
        if getattr(args, name) != default
    ]
    if given:
        raise ValueError(
            f"{args.suite!r} is a timing suite (every configuration measured interleaved in one "
            f"process): {', '.join(given)} do not apply; it takes --quick/--full, --out, "
            "--algorithms and --report"
        )
    out = args.out or Path("bench_results") / f"{args.suite}-{args.profile}"
    results = run_timing(
        args.suite,
        args.profile,
        out,
        algorithms=args.algorithms,
        log=(lambda msg: None) if args.no_progress else print,
    )
    print(f"{args.suite} ({args.profile}): timing results in {results}")
    return _report_if_asked(args, out)


def _cmd_protocol(args: argparse.Namespace) -> int:
    refused = [("algorithms", None), *[o for o in _LEARNING_ONLY if o[0] not in ("seeds", "envs")]]
    given = ["--" + name.replace("_", "-") for name, d in refused if getattr(args, name) != d]
    if given:
        raise ValueError(
            f"{args.suite!r} is a protocol suite (every method on the same splits, choices on "
            f"validation): {', '.join(given)} do not apply; it takes --quick/--full, --data, "
            "--envs (splits: news events to leave out, 'thread'), --seeds (one), --out, --report"
        )
    if args.seeds is not None and len(args.seeds) != 1:
        raise ValueError(f"--seeds {args.seeds}: a protocol suite runs one seed")
    out = args.out or Path("bench_results") / f"{args.suite}-{args.profile}"
    results = run_protocol(
        args.suite,
        args.profile,
        out,
        data=args.data,
        splits=args.envs,
        seed=args.seeds[0] if args.seeds else None,
        log=(lambda msg: None) if args.no_progress else lambda msg: print(msg, flush=True),
    )
    print(f"{args.suite} ({args.profile}): results in {results}")
    return _report_if_asked(args, out)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.suite in PROTOCOL_SUITES:
        return _cmd_protocol(args)
    if args.data is not None:
        raise ValueError(f"--data applies to the protocol suites ({', '.join(PROTOCOL_SUITES)})")
    if args.suite in TIMING_SUITES:
        return _cmd_timing(args)
    runs = plan(
        args.suite,
        args.profile,
        seeds=tuple(args.seeds) if args.seeds else None,
        budget=args.budget,
        eval_points=args.eval_points,
        eval_episodes=args.eval_episodes,
        algorithms=tuple(args.algorithms) if args.algorithms else None,
        envs=tuple(args.envs) if args.envs else None,
    )
    out = args.out or Path("bench_results") / f"{args.suite}-{args.profile}"
    summary = run_suite(
        runs,
        out,
        suite=args.suite,
        profile=args.profile,
        fmt=args.format,
        jobs=args.jobs,
        backend=args.backend,
        ray_address=args.ray_address,
        ray_timeout=args.ray_timeout,
        ship_package=args.ship,
        isolate=args.isolate,
        extend=args.extend,
        progress=not args.no_progress,
    )
    if summary.recovered:
        print(f"rlcore bench: recovered: {summary.recovered}", file=sys.stderr)
    print(
        f"{args.suite} ({args.profile}): {summary.planned} runs planned, {summary.skipped} already "
        f"finished (skipped), {len(summary.executed)} executed in {summary.seconds:.1f} s; "
        f"results in {summary.results}"
    )
    return _report_if_asked(args, out)


def _cmd_merge(args: argparse.Namespace) -> int:
    from rlcore.bench.merge import merge_results

    counts = merge_results(args.sources, args.into)
    print(f"{args.into}: {counts['added']} run(s) added, {counts['kept']} already there (kept)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from rlcore.bench.report import write_report

    first = args.results[0]
    out = args.out or (first if first.is_dir() else first.parent) / "report"
    report = write_report(args.results, out, title=args.title)
    print(f"report: {report}")
    if args.readme is not None:
        from rlcore.bench.report import embed_in_readme

        print(f"results section of {embed_in_readme(report, args.readme)} updated")
    return 0


def _main(argv: list[str]) -> int:
    if argv and (argv[0] in SUITES or argv[0] in TIMING_SUITES or argv[0] in PROTOCOL_SUITES):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "merge":
            return _cmd_merge(args)
        return _cmd_report(args)
    except BrokenPipeError:
        raise  # stdout closed by its reader: handled by exit_quietly_on_broken_pipe
    except KeyboardInterrupt as e:
        why = f" ({e})" if str(e) else ""
        timing = args.command == "run" and args.suite in TIMING_SUITES
        print(
            f"rlcore bench: interrupted{why}; "
            + (
                "a timing suite writes its results at the end: nothing was written"
                if timing
                else "finished runs are kept: rerun the same command to resume"
            ),
            file=sys.stderr,
        )
        return 130
    except (ResultsError, KeyError, ValueError, ImportError, RuntimeError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        if isinstance(e, OSError) and e.strerror and e.filename:
            msg = f"{e.filename}: {e.strerror}"
        print(f"rlcore bench: error: {msg}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rlcore bench``; returns the exit status (2 on bad input, 130 when
    interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return exit_quietly_on_broken_pipe(lambda: _main(args))
