"""The ``refusion`` parser and dispatcher; each subcommand lives in its own module (see :mod:`refusion_core.cli`).

Adding a command: write a module with ``register(sub)`` (its sub-parser, ``set_defaults(func=run)``) and
add it to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys

from refusion_core import __version__
from refusion_core.cli import align, evaluate, fuse, info, resume, train, volume
from refusion_core.errors import RefusionError

#: The subcommand modules, in the order ``refusion --help`` lists them.
COMMANDS = (fuse, align, volume, train, resume, evaluate, info)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``refusion: error: ...``) and exit 2."""

    def error(self, message: str):
        print(f"refusion: error: {message} (see 'refusion --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="refusion", description="ReFusion image fusion engine")
    p.add_argument("--version", action="version", version=f"refusion {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more on stderr (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr (the log file keeps all)")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from refusion_core.logs import get_logger, setup_logging

    log_file = setup_logging(-1 if args.quiet else args.verbose)
    log = get_logger(__name__)
    log.debug("refusion %s: %s (log file %s)", __version__, " ".join(sys.argv if argv is None else argv), log_file)
    try:
        return args.func(args)
    except RefusionError as err:
        log.debug("user error", exc_info=True)
        print(f"refusion: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system's own errors: disk full, read-only folder, a file where a folder is
        from refusion_core.errors import os_error_line

        log.debug("file system error", exc_info=True)
        print(f"refusion: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refusion: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("refusion: error: out of memory; try a smaller image or the CPU", file=sys.stderr)
        return 2
    except RuntimeError as err:  # torch.OutOfMemoryError (CUDA) is a RuntimeError; anything else is a bug
        if "out of memory" not in str(err).lower():
            raise
        print("refusion: error: the GPU ran out of memory; use a smaller --crop or --batch (training) or a smaller "
              "image, close other GPU programs, or run with --device cpu", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
