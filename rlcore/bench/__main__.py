"""``python -m rlcore.bench ...`` = ``rlcore bench ...``."""

import sys

from rlcore.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
