"""Work-arounds for bugs in the Qt binding we run on.

PySide6 6.12.0: ``SignalInstance.emit()`` returns ``True`` without taking a reference to it. Every
emit from Python (ours, and pyqtgraph's many internal ones) then takes one reference away from
``True``; on CPython < 3.12, where ``True`` is not immortal, its count reaches zero after a few
thousand emits and the interpreter aborts ("Fatal Python error: bool_dealloc"), a minute or so into
a training. We detect the leak at start-up and, only if it is there, give ``True`` and ``False``
a reserve of references large enough never to run out (what CPython 3.12+ does for them anyway).
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40


def emit_leaks_bool_refs() -> bool:
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(32):
        probe.ping.emit()
    return sys.getrefcount(True) <= before - 32


def guard_bool_refcounts() -> bool:
    """Apply the work-around where needed; returns True if it was applied."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not emit_leaks_bool_refs():
        return False
    for obj in (True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
    return True
