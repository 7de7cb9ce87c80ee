"""``python -m refusion_core.cli``: the ``refusion`` command line, also the module torchrun starts
(``torchrun --nproc-per-node N -m refusion_core.cli train ... --distributed``)."""

import sys

from refusion_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
