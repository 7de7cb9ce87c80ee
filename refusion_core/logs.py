"""Logging for the CLI and the application: short messages on stderr, details in a log file.

stderr shows WARNING and above (``-q``: ERROR only; ``-v``: INFO; ``-vv``: DEBUG). Everything from DEBUG up,
tracebacks of user errors included, also goes to ``<user log folder>/<name>.log`` (platformdirs'
``user_log_dir``; ``$REFUSION_LOG_DIR`` overrides it), rotated at 1 MB with 3 old files kept, so that a windowed
executable, which has no terminal, keeps what went wrong. A log folder that cannot be written is not an error:
stderr still works and :func:`setup_logging` returns None.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from refusion_core.paths import user_log_dir

LOGGER = "refusion"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbosity: int = 0, name: str = "refusion") -> Path | None:
    """Configure the ``refusion`` logger once: stderr at the level ``verbosity`` asks (-1 quiet, 0, 1, 2) and
    the log file at DEBUG. Returns the log file's path, or None when it cannot be written."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler()
    console.setLevel({-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))
    console.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(console)
    path = user_log_dir() / f"{name}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return path


def get_logger(module: str) -> logging.Logger:
    """``refusion.<module>``: a child of the configured logger."""
    return logging.getLogger(f"{LOGGER}.{module.rsplit('.', 1)[-1]}")
