"""One trainer per run folder: an OS lock on ``<run>/.lock`` held while a trainer runs in it.

The lock is the operating system's (``fcntl.flock`` on Linux and macOS, ``msvcrt.locking`` on Windows), so it
goes away with the process however that ends (``kill -9`` included): no stale lock to clean by hand. The file
says who holds it (process id, host, start time), for the message a second trainer gets. While the lock is held,
the temporary files of interrupted atomic writes (``.<name>.*.part``) are stale and removed.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from refusion_core.errors import RunError

LOCK_FILE = ".lock"


class RunLock:
    """``with RunLock(run_dir):`` trains alone in ``run_dir`` or raises RunError naming the holder."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / LOCK_FILE
        self._fh = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            _lock(fh)
        except OSError:
            fh.seek(0)
            holder = _describe(fh.read())
            fh.close()
            raise RunError(f"{self.path.parent} is already being trained by {holder}; stop that run first, "
                           "or train into another folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        fh.flush()
        self._fh = fh
        remove_stale_parts(self.path.parent)

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def remove_stale_parts(run_dir: Path) -> list[Path]:
    """Delete the ``.<name>.*.part`` files an interrupted atomic write left in ``run_dir``; returns them."""
    stale = [p for p in Path(run_dir).glob(".*.part") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _describe(text: str) -> str:
    try:
        info = json.loads(text)
        return f"process {info['pid']} on {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _lock(fh) -> None:
    """Take an exclusive, non-blocking lock on an open file; OSError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
