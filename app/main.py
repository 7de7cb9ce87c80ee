"""Entry point: ``refusion-studio`` / ``python -m app`` [--screenshot DIR].

The window is shown before torch is imported; the engine's heavy parts load on first use.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="refusion-studio", description="ReFusion Studio: learned image fusion.")
    parser.add_argument("--screenshot", metavar="DIR", help="render the main states to PNG files in DIR and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser.parse_args(argv)


def make_application(argv: list[str]):  # noqa: ANN201 - QApplication
    from PySide6.QtWidgets import QApplication

    from app.qt.preferences import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("ReFusion Studio")
    gui_thread_garbage_collection(app)
    return app


def gui_thread_garbage_collection(app) -> None:  # noqa: ANN001 - QApplication
    """Collect reference cycles only in the GUI thread, on a timer (pyqtgraph's GarbageCollector).

    Python's cyclic collector runs in whichever thread happens to allocate when a threshold is crossed. In a
    worker thread it can destroy Qt objects (a closed dialog, a window that is gone) away from the thread that
    owns them, which crashes Qt (the likely cause of a segmentation fault the test suite hit inside a
    volume-loading worker). Automatic collection is switched off and done every half second in the GUI thread
    instead."""
    if getattr(app, "_refusion_gc", None) is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        app._refusion_gc = GarbageCollector(interval=0.5)


def isolate_for_screenshots() -> None:
    """Screenshot mode runs headless if there is no display, with throw-away preferences and user data."""
    import tempfile

    from PySide6.QtCore import QSettings

    if "QT_QPA_PLATFORM" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    scratch = tempfile.mkdtemp(prefix="refusion-studio-shots-")
    os.environ["REFUSION_USER_DATA"] = os.path.join(scratch, "userdata")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.path.join(scratch, "settings"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        from app import __version__

        print(__version__)
        return 0
    if args.screenshot:
        isolate_for_screenshots()
    qapp = make_application(sys.argv[:1])
    from app.core import engine

    engine.start_logging()
    from app.qt.errors import install_excepthook
    from app.windows.main_window import MainWindow

    window = MainWindow()
    install_excepthook(window.errors)
    if args.screenshot:
        from app.screenshot import run_screenshots

        return run_screenshots(window, args.screenshot)
    window.show()
    return qapp.exec()


if __name__ == "__main__":
    raise SystemExit(main())
