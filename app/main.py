"""Entry point: ``refusion-studio`` / ``python -m app`` [--screenshot DIR] [FILES or FOLDERS ...].

The window is shown before torch is imported; the engine's heavy parts load on first use. FILES open as a
drop on the pair list would (:meth:`app.widgets.pair_list.PairListWidget.add_paths`): two images make a
pair, three or more a stack, two folders pairs by file name, NIfTI files and DICOM folders the volume
browser. That is what a file manager's "Open with" passes (the desktop entry's ``Exec=refusion-studio %F``);
macOS sends file-open events instead of arguments, which :class:`app.qt.file_open.FileOpenRelay` turns into
the same call.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DESKTOP_FILE_NAME = "refusion-studio"
"""The freedesktop entry packaging/refusion-studio.desktop (``Exec=refusion-studio %F``), without ``.desktop``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="refusion-studio", description="ReFusion Studio: learned image fusion.")
    parser.add_argument("--screenshot", metavar="DIR", help="render the main states to PNG files in DIR and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("paths", nargs="*", type=Path, metavar="FILES",
                        help="images or folders to open, as if dropped on the pair list: two images = a pair, "
                             "three or more = a stack, two folders = pairs by file name; NIfTI files and DICOM "
                             "folders open the volume browser")
    # macOS adds -psn_<process serial number> when an app is started from the Finder (older systems)
    argv = sys.argv[1:] if argv is None else argv
    return parser.parse_args([a for a in argv if not a.startswith("-psn_")])


def make_application(argv: list[str]):  # noqa: ANN201 - QApplication
    from PySide6.QtWidgets import QApplication

    from app.qt.preferences import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("ReFusion Studio")
    app.setDesktopFileName(DESKTOP_FILE_NAME)  # Wayland and the task bar match windows to the desktop entry
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
    window = build_window(args)
    if args.screenshot:
        from app.screenshot import run_screenshots

        return run_screenshots(window, args.screenshot)
    return qapp.exec()


def build_window(args: argparse.Namespace):  # noqa: ANN201 - MainWindow
    """The main window as ``main`` makes it (the QApplication must exist): logging, the error hook and, unless
    taking screenshots, shown with ``args.paths`` opened once the event loop runs."""
    from PySide6.QtCore import QTimer

    from app.core import engine

    engine.start_logging()
    from app.qt.errors import install_excepthook
    from app.qt.file_open import FileOpenRelay
    from app.windows.main_window import MainWindow

    window = MainWindow()
    install_excepthook(window.errors)
    if args.screenshot:
        return window
    window.show()
    FileOpenRelay(window.pair_list.add_paths, parent=window)  # lives as long as the window
    paths = [p.expanduser().absolute() for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # the pair list says so too, in the window (no terminal when a file manager started us)
        print(f"refusion-studio: not found: {', '.join(missing)}", file=sys.stderr)
    if paths:
        QTimer.singleShot(0, lambda: window.pair_list.add_paths(paths))
    return window


if __name__ == "__main__":
    raise SystemExit(main())
