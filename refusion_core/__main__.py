"""``python -m refusion_core``: the ``refusion`` command line (refusion_core.cli.main)."""

import sys

from refusion_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
