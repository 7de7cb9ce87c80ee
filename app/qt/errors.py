"""One place where every error becomes a dialog in plain words.

:func:`describe` turns an exception into ``(title, sentence, details)``; :class:`ErrorHandler`
shows it in a message box. Every job's error reaches the handler through the job runner
(:mod:`app.qt.jobs`). ``install_excepthook`` routes uncaught exceptions (including those
raised in Qt slots and in threads) to the same handler, so the app never just disappears.
"""

from __future__ import annotations

import sys
import threading
import traceback

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core import engine
from app.core.engine import InputError, RefusionError, RunError, WeightsError

CUDA_OOM = (
    "The graphics card ran out of memory. Choose CPU in the device box, close other programs that "
    "use the graphics card, or work on smaller images (or a smaller crop size for training)."
)


def _is_cuda_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "CUDA out of memory" in str(exc) or "CUBLAS_STATUS_ALLOC_FAILED" in str(exc)


# The engine's messages are written for the CLI as well; say the same thing in the app's words.
CLI_WORDS = (("use --device cpu", "choose CPU in the device box"),
             ("pass --weights with a model file or train one with 'refusion train'",
              "import a released checkpoint, choose one of your models, or train one (Train in the toolbar)"),
             # registration hints, in the Align dialog's names for its controls
             ("try --method ecc or ecc-edges, or give control points with --points",
              "try ECC or ECC on edges, or pick control points"),
             ("try another --method or control points", "try another method or control points"),
             ("try --method features, ecc-edges or control points", "try Features, ECC on edges or control points"))


def _plain(text: str) -> str:
    for cli, app in CLI_WORDS:
        text = text.replace(cli, app)
    return text if text.endswith((".", "!", "?")) else text + "."


def describe(exc: BaseException) -> tuple[str, str, str]:
    """``(title, one or two plain sentences, technical details)`` for an exception."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, InputError):
        return "Cannot use this image", _plain(str(exc)), details
    if isinstance(exc, WeightsError):
        return "Cannot load the model", _plain(str(exc)), details
    if isinstance(exc, RunError):
        return "Cannot use this training run", _plain(str(exc)), details
    if isinstance(exc, RefusionError):
        return "Cannot do that", _plain(str(exc)), details
    if _is_cuda_oom(exc):
        return "Out of graphics memory", CUDA_OOM, details
    if "CUDA" in str(exc) or "cuda" in type(exc).__name__.lower():
        return "Graphics card problem", (
            "The graphics card (CUDA) could not be used. Choose CPU in the device box and try again."
        ), details
    if isinstance(exc, MemoryError):
        return "Out of memory", "The computer ran out of memory. Close other programs or use smaller images.", details
    if isinstance(exc, PermissionError):
        return "No permission", f"The app is not allowed to use {exc.filename or 'that file'}. Choose another folder.", details
    if isinstance(exc, FileNotFoundError):
        return "File not found", f"{exc.filename or 'A file'} does not exist (was it moved or deleted?).", details
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return "Cannot read or write a file", f"Could not read or write{where}: {exc.strerror or exc}.", details
    return "Something went wrong", (
        f"Something unexpected went wrong ({type(exc).__name__}: {exc}). Your work is still open; "
        "the details below help to report the problem."
    ), details


class ErrorHandler(QObject):
    """Shows errors as message boxes; thread-safe through a queued signal."""

    _relay = Signal(object, str, bool)

    def __init__(self, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.parent_widget = parent_widget
        self.interactive = True  # False: print instead of showing (screenshot mode, no one to click OK)
        self.history: list[tuple[str, str]] = []
        self._relay.connect(self._show)

    def report(self, exc: BaseException, context: str = "", brief: bool = False) -> None:
        """Show ``exc`` (from any thread). ``brief``: the engine's own errors (a file that cannot be read,
        volumes that do not match, a missing model) as a warning titled ``context``, in one sentence and
        without the technical details; other errors as always."""
        self._relay.emit(exc, context, brief)

    def warn(self, title: str, text: str) -> None:
        self.history.append((title, text))
        if not self.interactive:
            print(f"{title}: {text}", file=sys.stderr)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self.parent_widget)
        box.exec()

    @Slot(object, str, bool)
    def _show(self, exc: BaseException, context: str, brief: bool) -> None:
        title, text, details = describe(exc)
        if brief and isinstance(exc, RefusionError):
            self.warn(context, text)
            return
        if context:
            text = f"{context}: {text}" if not text.startswith(context) else text
        self.history.append((title, text))
        if not self.interactive:
            print(f"{title}: {text}\n{details}", file=sys.stderr)
            return
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, self.parent_widget)
        box.setDetailedText(details)
        box.exec()


def install_excepthook(handler: ErrorHandler) -> None:
    """Route uncaught exceptions (GUI thread, Qt slots, Python threads) to ``handler``."""
    previous = sys.excepthook

    def hook(etype, value, tb):  # noqa: ANN001
        if issubclass(etype, KeyboardInterrupt):
            previous(etype, value, tb)
            return
        traceback.print_exception(etype, value, tb)
        engine.log_exception(value.with_traceback(tb))
        handler.report(value.with_traceback(tb))

    sys.excepthook = hook
    threading.excepthook = lambda args: hook(args.exc_type, args.exc_value, args.exc_traceback)
