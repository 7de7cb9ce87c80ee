"""The engine never imports Qt: importing every engine module leaves PySide6 and pyqtgraph unloaded."""

import pkgutil
import subprocess
import sys

import refusion_core


def test_engine_imports_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(refusion_core.__path__, "refusion_core.")]
    assert len(modules) > 10
    code = ("import sys, importlib\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6')]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
