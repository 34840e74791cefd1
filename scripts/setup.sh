#!/usr/bin/env bash
# One-step set-up: a virtual environment in .venv with the package (editable) and its tools.
# torch is pinned to the CPU build in the same install so that pip never resolves an unpinned torch
# (which would pull several GB of CUDA packages). Re-running is a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.rlcore-setup
want="$(cat setup.cfg pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv (torch==$TORCH_VERSION CPU build, then the package) ..." >&2
# One resolve with torch pinned (never an unpinned torch). --no-compile: byte-compiling every
# file of torch and friends at install time took half of a fresh set-up (88 s -> 42 s);
# Python compiles the modules it imports on first use instead.
.venv/bin/python -m pip install -q --no-compile "torch==$TORCH_VERSION" -e ".[dev]"
echo "$want" > "$stamp"
echo "set-up done" >&2
