"""The toolbar's task, model and device boxes, each bound to the user's choices."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QComboBox, QWidget

from app.core.engine import TASK_NAMES, TASKS
from app.core.methods import MethodKey
from app.qt.choices import Choices
from app.qt.models import Models
from app.widgets.method_box import MethodBox

TASK_LABELS = {task: f"{task} · {TASK_NAMES[task].split(' (')[0]}" for task in TASKS}
"""``ivif · infrared + visible``, ``mif · medical`` (the engine's names, without what is in brackets)."""
DEVICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA (GPU)"))


class TaskBox(QComboBox):
    def __init__(self, choices: Choices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices = choices
        for task in TASKS:
            self.addItem(TASK_LABELS[task], task)
        self.setToolTip("Fusion task")
        self.activated.connect(lambda i: choices.set_task(self.itemData(i)))
        choices.taskChanged.connect(self._on_task)
        self._on_task(choices.task)

    def _on_task(self, task: str) -> None:
        self.setCurrentIndex(self.findData(task))


class ModelBox(MethodBox):
    def __init__(self, choices: Choices, models: Models, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices, self.models = choices, models
        self.setMinimumContentsLength(26)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("Model used by Fuse, and fine-tuned by Train")
        self.confirm: Callable[[MethodKey], bool] | None = None  # asks before a model of another task
        self.methodActivated.connect(self._on_activated)
        models.changed.connect(self.refill)
        choices.taskChanged.connect(self.refill)
        choices.modelChanged.connect(self.select)
        self.refill()

    def _on_activated(self, key: MethodKey) -> None:
        if key != self.choices.model and self.confirm is not None and not self.confirm(key):
            self.select(self.choices.model)  # not this one after all: the box shows the item's model again
            return
        self.choices.set_model(key)

    def refill(self) -> None:
        self.set_methods([(e.key, e.label, str(e.path or e.label)) for e in self.models.entries(self.choices.task)])
        if self.index_of(self.choices.model) < 0:
            self.choices.set_model(self.method(0))
        self.select(self.choices.model)


class DeviceBox(QComboBox):
    def __init__(self, choices: Choices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices = choices
        for key, label in DEVICES:
            self.addItem(label, key)
        self.setToolTip("Where to run: Auto uses the graphics card when it works, else the CPU")
        self.activated.connect(lambda i: choices.set_device(self.itemData(i)))
        choices.deviceChanged.connect(lambda d: self.setCurrentIndex(max(self.findData(d), 0)))
        self.setCurrentIndex(max(self.findData(choices.device), 0))

    def set_cuda_usable(self, usable: bool) -> None:
        item = self.model().item(self.findData("cuda"))
        item.setEnabled(usable)
        if not usable and self.choices.device == "cuda":
            self.choices.set_device("auto")
