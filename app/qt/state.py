"""The app's state objects. Widgets take one in ``__init__`` and subscribe to its signals.

Nothing here runs engine code; controllers (``fusion.py``, ``training.py``, ``exporting.py``) fill
the state and the widgets draw it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.engine import TASKS
from app.core.methods import DEFAULT, MethodKey
from app.core.pairing import DropPlan, Pair, plan_drop
from app.core.results import Result


class PairList(QObject):
    """The source pairs of the session, the file waiting for its partner, and the current pair."""

    changed = Signal()
    currentChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[Pair] = []
        self.pending: Path | None = None
        self.current = -1

    def __len__(self) -> int:
        return len(self.pairs)

    def current_pair(self) -> Pair | None:
        return self.pairs[self.current] if 0 <= self.current < len(self.pairs) else None

    def add_paths(self, paths: list[Path], suffixes: frozenset[str]) -> DropPlan:
        plan = plan_drop([Path(p) for p in paths], self.pending, suffixes)
        known = set(self.pairs)
        new = [p for p in plan.pairs if p not in known]
        self.pairs.extend(new)
        self.pending = plan.pending
        self.changed.emit()
        if new and self.current < 0:
            self.set_current(len(self.pairs) - len(new))
        return plan

    def replace(self, index: int, pair: Pair) -> None:
        """Put ``pair`` in place of item ``index`` (e.g. its aligned version) and show it."""
        if not 0 <= index < len(self.pairs):
            return
        self.pairs[index] = pair
        self.changed.emit()
        self.set_current(index, force=True)

    def remove(self, index: int) -> None:
        if not 0 <= index < len(self.pairs):
            return
        del self.pairs[index]
        self.changed.emit()
        self.set_current(min(self.current, len(self.pairs) - 1), force=True)

    def clear(self) -> None:
        self.pairs.clear()
        self.pending = None
        self.changed.emit()
        self.set_current(-1, force=True)

    def set_current(self, index: int, force: bool = False) -> None:
        if index != self.current or force:
            self.current = index
            self.currentChanged.emit(index)


class StudioState(QObject):
    """Everything the widgets show: choices, current sources and results, and training progress."""

    taskChanged = Signal(str)
    modelChanged = Signal(object)  # MethodKey
    deviceChanged = Signal(str)
    compareChanged = Signal(object)  # MethodKey
    stretchChanged = Signal(str)
    modelsChanged = Signal()
    imagesChanged = Signal()
    resultChanged = Signal()
    mapsChanged = Signal()
    busyChanged = Signal(str)
    progressChanged = Signal(int, int, str)
    deviceInfoChanged = Signal(str)
    trainingChanged = Signal(str)
    trainingReset = Signal()
    trainEvent = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.pairs = PairList()
        self.task = "ivif"
        self.model_key: MethodKey = DEFAULT
        self.device = "auto"
        self.compare_key: MethodKey = MethodKey.baseline("laplacian")
        self.stretch = "auto"  # input scaling, see app.core.engine.STRETCH_MODES
        self.device_info = "device: not checked yet"
        self.sources: tuple[np.ndarray, np.ndarray] | None = None
        self.fused: Result | None = None
        self.second: Result | None = None
        self.metrics: dict[str, dict[str, float]] = {}  # result label -> metric -> value
        self.maps: dict[str, np.ndarray] = {}
        self.maps_title = ""
        self.busy = ""
        self.training = "idle"

    PANELS = ("A", "B", "Fused", "Compare")

    def panel_images(self) -> dict[str, np.ndarray | None]:
        """The four images of the comparison area (None where there is nothing yet)."""
        a, b = self.sources if self.sources is not None else (None, None)
        return {"A": a, "B": b, "Fused": self.fused.image if self.fused else None,
                "Compare": self.second.image if self.second else None}

    def panel_titles(self) -> dict[str, str]:
        pair = self.pairs.current_pair()
        n = len(pair.paths) if pair else 0
        of = f" (frame 1 of {n})" if n > 2 else ""
        return {"A": f"A · {pair.a.name}{of}" if pair else "A: drop two images (or two folders) on the Pairs list",
                "B": f"B · {pair.b.name}{of.replace('1 of', '2 of')}" if pair else "B: or use File ▸ Open pair…",
                "Fused": f"Fused · {self.fused.label}" if self.fused else "Fused (press Fuse)",
                "Compare": f"Compare · {self.second.label}" if self.second else "Compare"}

    def set_task(self, task: str) -> None:
        if task in TASKS and task != self.task:
            self.task = task
            self.taskChanged.emit(task)

    def set_model(self, key: MethodKey) -> None:
        if key != self.model_key:
            self.model_key = key
            self.modelChanged.emit(key)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self.deviceChanged.emit(device)

    def set_compare(self, key: MethodKey) -> None:
        if key != self.compare_key:
            self.compare_key = key
            self.compareChanged.emit(key)

    def set_stretch(self, mode: str) -> None:
        if mode != self.stretch:
            self.stretch = mode
            self.stretchChanged.emit(mode)

    def set_device_info(self, text: str) -> None:
        self.device_info = text
        self.deviceInfoChanged.emit(text)

    def set_sources(self, sources: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.sources = sources
        self.fused = self.second = None
        self.metrics = {}
        self.imagesChanged.emit()
        self.resultChanged.emit()

    def set_results(self, fused: Result | None, second: Result | None) -> None:
        self.fused, self.second = fused, second
        self.metrics = {r.label: r.metrics for r in (fused, second) if r is not None and r.metrics}
        self.resultChanged.emit()
        if fused is not None and self.training == "idle":
            self.set_maps(fused.maps, fused.label)  # empty for a model without P: the panel says so

    def set_maps(self, maps: dict[str, np.ndarray], title: str) -> None:
        self.maps, self.maps_title = dict(maps), title
        self.mapsChanged.emit()

    def set_busy(self, text: str) -> None:
        self.busy = text
        self.busyChanged.emit(text)

    def set_progress(self, done: int, total: int, text: str = "") -> None:
        self.progressChanged.emit(done, total, text)

    def set_training(self, status: str) -> None:
        if status != self.training:
            self.training = status
            self.trainingChanged.emit(status)
