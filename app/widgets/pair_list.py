"""The list of source pairs; accepts drops of files and folders (see :mod:`app.core.pairing`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.core import engine
from app.core.pairing import DropPlan
from app.qt.display import pair_thumbnail
from app.qt.errors import ErrorHandler
from app.qt.workspace import Workspace

HINT = ("Drop two images (A, B), two folders (pairs matched by file name), three or more images (a focus "
        "stack or an exposure bracket, fused as one item), or one image at a time.")


VOLUME_SUFFIXES = (".nii", ".nii.gz", ".dcm")


def is_volume(path: Path) -> bool:
    """NIfTI or DICOM files (or a folder of .dcm files): they open in the volume browser, not as pairs."""
    name = path.name.lower()
    if path.is_dir():
        return any(p.suffix.lower() == ".dcm" for p in path.iterdir() if p.is_file())
    return name.endswith(VOLUME_SUFFIXES)


class PairListWidget(QWidget):
    volumesDropped = Signal(list)  # paths of one or two volumes, for the volume browser

    def __init__(self, workspace: Workspace, errors: ErrorHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace, self.errors = workspace, errors
        self.setAcceptDrops(True)
        self.list = QListWidget()
        self.list.setIconSize(self.list.iconSize() * 2)
        self.list.setToolTip(HINT)
        self.pending = QLabel()
        self.pending.setWordWrap(True)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray")
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear")
        buttons = QHBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for w in (self.hint, self.list, self.pending):
            layout.addWidget(w)
        layout.addLayout(buttons)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self.remove_button.clicked.connect(lambda: workspace.pairs.remove(self.list.currentRow()))
        self.clear_button.clicked.connect(workspace.pairs.clear)
        workspace.pairs.changed.connect(self._on_pairs_changed)
        workspace.pairs.currentChanged.connect(self._on_current_changed)
        workspace.pairs.setupChanged.connect(self._on_setup_changed)
        workspace.imagesChanged.connect(self._on_images_changed)
        self._on_pairs_changed()

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: ANN001
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.add_paths(paths)

    def add_paths(self, paths: list[Path]) -> DropPlan:
        """What a drop does, also for the command line's FILES and macOS's file-open events: volumes (that
        exist) go to the volume browser (:attr:`volumesDropped`, two at most), the rest become pairs or a
        stack (:func:`app.core.pairing.plan_drop`); whatever is left out is reported in one message."""
        volumes = [p for p in paths if p.exists() and is_volume(p)]
        if volumes:
            self.volumesDropped.emit(volumes[:2])
        rest = [p for p in paths if p not in volumes]
        pending = self.workspace.pairs.pending
        plan = self.workspace.pairs.add_paths(rest, engine.image_suffixes()) if rest else DropPlan(pending=pending)
        plan.skipped[:0] = [(p, "two volumes (A and B) open at a time") for p in volumes[2:]]
        if plan.skipped:
            lines = "\n".join(f"• {p.name}: {why}" for p, why in plan.skipped[:10])
            # shown after the drop has finished, never inside the drag-and-drop loop
            QTimer.singleShot(0, lambda: self.errors.warn("Some items were not added", lines))
        return plan

    # ------------------------------------------------------------------ workspace -> view
    def _on_pairs_changed(self) -> None:
        pairs = self.workspace.pairs
        self.list.blockSignals(True)
        self.list.clear()
        for pair in pairs.pairs:
            item = QListWidgetItem(self._item_text(pair))
            if pair.is_stack:
                item.setToolTip("\n".join(f"{i + 1}: {p}" for i, p in enumerate(pair.paths)))
            else:
                item.setToolTip(f"A: {pair.a}\nB: {pair.b}")
            self.list.addItem(item)
        self.list.setCurrentRow(pairs.current)
        self.list.blockSignals(False)
        self.pending.setText(f"A waiting for its B: {pairs.pending.name}" if pairs.pending else "")
        self.pending.setVisible(pairs.pending is not None)
        self.hint.setVisible(not pairs.pairs)

    def _item_text(self, pair) -> str:  # noqa: ANN001 - Pair
        """Name, files, and the item's own task and model (``ivif · tiny``)."""
        setup = self.workspace.pairs.setup(pair)
        files = (f"{len(pair.paths)} frames, fused as a tree of pairs" if pair.is_stack
                 else f"A: {pair.a.name}   B: {pair.b.name}")
        return f"{pair.name}\n  {files}\n  {setup.task} · {setup.model.label}"

    def _on_setup_changed(self, index: int) -> None:
        item = self.list.item(index)
        if item is not None:
            item.setText(self._item_text(self.workspace.pairs.pairs[index]))

    def _on_current_changed(self, index: int) -> None:
        if self.list.currentRow() != index:
            self.list.blockSignals(True)
            self.list.setCurrentRow(index)
            self.list.blockSignals(False)

    def _on_row_changed(self, row: int) -> None:
        self.workspace.pairs.set_current(row)

    def _on_images_changed(self) -> None:
        item = self.list.item(self.workspace.pairs.current)
        if item is not None and self.workspace.sources is not None:
            item.setIcon(QIcon(pair_thumbnail(*self.workspace.sources, 32)))
