"""The toolbar's task, model and device boxes, each bound to the state."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

from app.core.catalog import ModelCatalog
from app.core.engine import TASK_NAMES, TASKS
from app.qt.state import StudioState
from app.widgets.method_box import MethodBox

TASK_LABELS = {task: f"{task} · {TASK_NAMES[task].split(' (')[0]}" for task in TASKS}
"""``ivif · infrared + visible``, ``mif · medical`` (the engine's names, without what is in brackets)."""
DEVICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA (GPU)"))


class TaskBox(QComboBox):
    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        for task in TASKS:
            self.addItem(TASK_LABELS[task], task)
        self.setToolTip("Fusion task")
        self.activated.connect(lambda i: state.set_task(self.itemData(i)))
        state.taskChanged.connect(self._on_task)
        self._on_task(state.task)

    def _on_task(self, task: str) -> None:
        self.setCurrentIndex(self.findData(task))


class ModelBox(MethodBox):
    def __init__(self, state: StudioState, catalog: ModelCatalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.catalog = state, catalog
        self.setMinimumContentsLength(26)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("Model used by Fuse, and fine-tuned by Train")
        self.methodActivated.connect(state.set_model)
        state.modelsChanged.connect(self.refill)
        state.taskChanged.connect(self.refill)
        state.modelChanged.connect(self.select)
        self.refill()

    def refill(self) -> None:
        self.set_methods([(e.key, e.label, str(e.path or e.label)) for e in self.catalog.entries(self.state.task)])
        if self.index_of(self.state.model_key) < 0:
            self.state.set_model(self.method(0))
        self.select(self.state.model_key)


class DeviceBox(QComboBox):
    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        for key, label in DEVICES:
            self.addItem(label, key)
        self.setToolTip("Where to run: Auto uses the graphics card when it works, else the CPU")
        self.activated.connect(lambda i: state.set_device(self.itemData(i)))
        state.deviceChanged.connect(lambda d: self.setCurrentIndex(max(self.findData(d), 0)))
        self.setCurrentIndex(max(self.findData(state.device), 0))

    def set_cuda_usable(self, usable: bool) -> None:
        item = self.model().item(self.findData("cuda"))
        item.setEnabled(usable)
        if not usable and self.state.device == "cuda":
            self.state.set_device("auto")
