"""``python -m refusion_core``: the ``refusion`` command line (refusion_core.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
