"""The ``rlcore`` command (console script declared in setup.cfg).

rlcore --version      # the package's version
rlcore bench ...      # the benchmark suite (see ``rlcore bench --help`` and docs/bench.md)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

COMMANDS = {"bench": "benchmark rlcore's agents against Stable-Baselines3"}


def _usage() -> str:
    lines = ["usage: rlcore [--version] COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("--version", "-V"):
        from rlcore import __version__

        print(f"rlcore {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from rlcore.bench.cli import main as bench_main

        return bench_main(rest)
    print(f"rlcore: unknown command {command!r}\n{_usage()}", file=sys.stderr)
    return 2


def exit_quietly_on_broken_pipe(run: Callable[[], int]) -> int:
    """Call ``run``; if stdout's reader went away (``... | head -1``), exit without a
    traceback (status 141 = 128 + SIGPIPE, as a shell reports a process killed by SIGPIPE)."""
    try:
        status = run()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that fails silently too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``rlcore COMMAND ...``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    return exit_quietly_on_broken_pipe(lambda: _main(args))


if __name__ == "__main__":
    sys.exit(main())
