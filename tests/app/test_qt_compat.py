"""The PySide6 6.12.0 emit() refcount bug must not abort the app after a few thousand signals."""

import subprocess
import sys


def test_many_emits_do_not_abort():
    code = ("import app\n"
            "from PySide6.QtCore import QObject, Signal\n"
            "class O(QObject):\n    s = Signal()\n"
            "o = O()\n"
            "for _ in range(20000): o.s.emit()\n"
            "print('ok', app.BOOL_REFCOUNT_GUARD)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
