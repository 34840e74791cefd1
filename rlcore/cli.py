"""The ``rlcore`` command (console script declared in setup.cfg).

rlcore bench ...      # the benchmark suite (see ``rlcore bench --help`` and docs/bench.md)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

COMMANDS = {"bench": "benchmark rlcore's agents against Stable-Baselines3"}


def _usage() -> str:
    lines = ["usage: rlcore COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``rlcore COMMAND ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from rlcore.bench.cli import main as bench_main

        return bench_main(rest)
    print(f"rlcore: unknown command {command!r}\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
