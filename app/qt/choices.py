"""What the user chose: the task, the model, the device, the method to compare with and the input scaling.

The boxes and menus set these; the controllers read them; :meth:`app.qt.preferences.Preferences.keep_choices`
stores them between runs.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.engine import TASKS
from app.core.methods import DEFAULT, MethodKey


class Choices(QObject):
    taskChanged = Signal(str)
    modelChanged = Signal(object)  # MethodKey
    deviceChanged = Signal(str)
    compareChanged = Signal(object)  # MethodKey
    stretchChanged = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.task = "ivif"
        self.model: MethodKey = DEFAULT
        self.device = "auto"  # auto | cpu | cuda
        self.compare: MethodKey = MethodKey.baseline("laplacian")
        self.stretch = "auto"  # input scaling, one of app.core.engine.STRETCH_MODES

    def set_task(self, task: str) -> None:
        if task in TASKS and task != self.task:
            self.task = task
            self.taskChanged.emit(task)

    def set_model(self, key: MethodKey) -> None:
        if key != self.model:
            self.model = key
            self.modelChanged.emit(key)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self.deviceChanged.emit(device)

    def set_compare(self, key: MethodKey) -> None:
        if key != self.compare:
            self.compare = key
            self.compareChanged.emit(key)

    def set_stretch(self, mode: str) -> None:
        if mode != self.stretch:
            self.stretch = mode
            self.stretchChanged.emit(mode)
