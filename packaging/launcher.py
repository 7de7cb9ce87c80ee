"""Entry point of the packaged application (PyInstaller runs this script; see ReFusionStudio.spec).

    ReFusionStudio [FILES...]       the desktop app (app.main.main; FILES, --screenshot DIR, --version pass through)
    ReFusionStudio --self-test      headless check of the installation, exit status 0 = passed
    ReFusionStudio --cli ARGS...    the engine CLI (``refusion ARGS...``: fuse, train, eval, info, ...)
    refusion ARGS...                the same, as the Windows console executable refusion.exe;
    refusion --self-test            the self-test, with console output on Windows

The self-test is the engine's (:func:`refusion_core.selftest.run_selftest`: every bundled sample pair
fused with its task's default model, results checked) followed by a GUI runtime check: the Qt platform
plugin starts (offscreen, so no display is needed), the SVG icons render (imageformats/iconengines
plugins), pyqtgraph draws, and every app module imports. It is the check that a bundle is complete.

On Windows the GUI executable has no console: ``--self-test`` attaches to the parent's console if there is
one, and otherwise writes its report to ``selftest.log`` in the user data folder.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

CLI_NAMES = ("refusion",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--self-test"]:
        return self_test()
    program = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).stem.lower()
    if program in CLI_NAMES or argv[:1] == ["--cli"]:
        from refusion_core.cli.main import main as cli_main

        return cli_main(argv[1:] if argv[:1] == ["--cli"] else argv)
    from app.main import main as app_main

    return app_main(argv)


def self_test() -> int:
    out = _console_or_log()
    from refusion_core.selftest import run_selftest

    rc = run_selftest(out=out)
    gui_rc = gui_check(out)
    verdict = "passed" if not (rc or gui_rc) else "FAILED"
    print(f"{Path(sys.argv[0]).name} --self-test {verdict} (engine: {'ok' if not rc else 'failed'}, "
          f"GUI runtime: {'ok' if not gui_rc else 'failed'})", file=out, flush=True)
    return 1 if rc or gui_rc else 0


def gui_check(out) -> int:
    """Qt starts offscreen, icons render, pyqtgraph draws, the app's modules import; 0 if all of that works."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        problems, facts = _gui_problems()
    except Exception as err:  # an import error here means the bundle lacks a module
        problems, facts = [f"{type(err).__name__}: {err}"], []
    for line in facts:
        print(f"      {line}", file=out)
    for line in problems:
        print(f"FAIL  GUI runtime: {line}", file=out)
    if not problems:
        print("ok    GUI runtime: Qt platform plugin, SVG icons, pyqtgraph, app modules", file=out)
    out.flush()
    return 1 if problems else 0


def _gui_problems() -> tuple[list[str], list[str]]:
    import importlib
    import pkgutil

    import PySide6
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QGuiApplication, QIcon

    import app
    from refusion_core.paths import resources_dir

    from app.main import make_application

    qapp = make_application([sys.argv[0]])
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    platforms = sorted(p.name.split(".")[0].removeprefix("libq").removeprefix("q")
                       for p in (plugins / "platforms").glob("*q*"))
    facts = [f"Qt {PySide6.__version__}, platform {QGuiApplication.platformName()}, "
             f"platform plugins in {plugins.name}/platforms: {', '.join(platforms) or 'none'}"]
    problems = []
    icons = sorted((resources_dir() / "icons").glob("*.svg"))
    bad = [p.stem for p in icons if QIcon(str(p)).pixmap(32, 32).toImage().isNull()]
    if not icons:
        problems.append(f"no icons in {resources_dir() / 'icons'}")
    elif bad:
        problems.append(f"SVG icons do not render ({', '.join(bad)}): the svg imageformats/iconengines plugin is missing")
    problems += _pyqtgraph_problems()
    for mod in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(mod.name)
    facts.append(f"{len(icons)} icons rendered; app modules imported")
    qapp.processEvents()
    return problems, facts


def _pyqtgraph_problems() -> list[str]:
    import numpy as np
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    widget.resize(64, 48)
    widget.addItem(pg.ImageItem(np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)))
    image = widget.grab().toImage()
    widget.deleteLater()
    return [] if not image.isNull() and image.width() == 64 else ["pyqtgraph could not render a plot"]


def _console_or_log():
    """sys.stdout, or on a windowed Windows executable the parent's console, or a log file."""
    if sys.stdout is not None:
        return sys.stdout
    if sys.platform == "win32":
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
            sys.stdout = sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
            return sys.stdout
    from refusion_core.paths import user_data_dir

    user_data_dir().mkdir(parents=True, exist_ok=True)
    return open(user_data_dir() / "selftest.log", "w", encoding="utf-8")  # noqa: SIM115 - lives until exit


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process (if any) must not start the app again
    raise SystemExit(main())
