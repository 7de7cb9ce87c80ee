"""PySide6 6.12.0 leaks references of None (void calls) and True (emit); the app must not abort."""

import subprocess
import sys


def test_many_void_calls_and_emits_do_not_abort():
    code = ("import app.qt\n"
            "from PySide6.QtCore import QObject, Signal\n"
            "class O(QObject):\n    s = Signal()\n"
            "o = O()\n"
            "for _ in range(200000):\n    o.s.emit()\n    o.setObjectName('x')\n    o.parent()\n"
            "print('ok', app.qt.REFCOUNT_GUARD)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
