"""Early rumour detection on the synthetic data set, under the honest protocol of
``benchmarks/rumour_pheme.py`` (choices on validation events only, the same labelled events
for every method, test events read once).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rumour.py        # ~15 min of one core

Runs ``rumour_pheme.py`` without ``--data``: 2,400 synthetic events (seed 0), one split by
event id (22.5 % test; the labelled events cut into train 70 % / fit 15 % / sel 15 %), and
writes ``benchmarks/results/rumour.json``. Every option of ``rumour_pheme.py`` is accepted.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    if "--out" not in sys.argv:
        sys.argv += ["--out", str(here / "results" / "rumour.json")]
    runpy.run_path(str(here / "rumour_pheme.py"), run_name="__main__")
