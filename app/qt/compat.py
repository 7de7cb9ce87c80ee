"""Work-arounds for bugs in the Qt binding we run on.

PySide6 6.12.0 gives back singletons it never took a reference to:

* every call of a C++ method that returns ``void`` (``timer.setInterval(5)``), every call that
  returns a null pointer as ``None`` (``obj.parent()``) and every Python override of a ``void``
  virtual (``paintEvent``) takes one reference away from ``None``;
* ``SignalInstance.emit()`` returns ``True`` without a reference.

On CPython < 3.12, where these objects are not immortal, their counts reach zero after some
thousands of such calls (pyqtgraph makes hundreds per repaint) and the interpreter aborts with
"Fatal Python error: none_dealloc" / "bool_dealloc", within minutes of use. We detect the leaks at
start-up and, only where they are present, give ``None``, ``True`` and ``False`` a reserve of
references large enough never to run out, which is what CPython 3.12+ does for them anyway.
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40
PROBES = 32


def leaks() -> dict[str, bool]:
    """Which singletons the binding leaks references of (measured on a few harmless calls)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(None)
    for _ in range(PROBES):
        probe.setObjectName("probe")  # returns void
    none_leak = sys.getrefcount(None) <= before - PROBES
    before = sys.getrefcount(True)
    for _ in range(PROBES):
        probe.ping.emit()
    true_leak = sys.getrefcount(True) <= before - PROBES
    return {"None": none_leak, "True": true_leak}


def guard_singleton_refcounts() -> list[str]:
    """Apply the work-around where needed; returns the names of the singletons it protected."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return []
    found = leaks()
    targets = {"None": [None], "True": [True, False]}
    protected = []
    for name, leaking in found.items():
        if leaking:
            for obj in targets[name]:
                ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
                protected.append(repr(obj))
    return protected
