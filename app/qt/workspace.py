"""The data of the session: the source pairs, the current pair's sources, its results and the weight maps.

The controllers fill it through the setters (reading a pair, fusing, a training preview); the pair list,
the image views, the metrics table and the maps panel draw it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.pairing import DropPlan, ItemSetup, Pair, plan_drop, task_from_paths
from app.core.results import Result
from app.core.view_models import WeightMaps


class PairList(QObject):
    """The source items of the session (pairs and stacks), each with its own task and model
    (:class:`ItemSetup`), the file waiting for its partner, and the current item.

    ``new_setup`` makes the setup of an item when it is added: the main window sets it to "the task its files
    name, else the task chosen now, with that task's chosen model" (:meth:`FusingController.new_setup`)."""

    changed = Signal()
    currentChanged = Signal(int)
    setupChanged = Signal(int)  # the task or model of item ``index`` changed

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[Pair] = []
        self.setups: dict[str, ItemSetup] = {}  # Pair.key -> its task and model
        self.pending: Path | None = None
        self.current = -1
        self.new_setup: Callable[[Pair], ItemSetup] = lambda pair: ItemSetup(task_from_paths(pair.paths) or "ivif")

    def __len__(self) -> int:
        return len(self.pairs)

    def current_pair(self) -> Pair | None:
        return self.pairs[self.current] if 0 <= self.current < len(self.pairs) else None

    # ------------------------------------------------------------------ task and model of each item
    def setup(self, pair: Pair) -> ItemSetup:
        if pair.key not in self.setups:
            self.setups[pair.key] = self.new_setup(pair)
        return self.setups[pair.key]

    def current_setup(self) -> ItemSetup | None:
        pair = self.current_pair()
        return self.setup(pair) if pair is not None else None

    def set_setup(self, index: int, setup: ItemSetup) -> None:
        if 0 <= index < len(self.pairs) and self.setup(self.pairs[index]) != setup:
            self.setups[self.pairs[index].key] = setup
            self.setupChanged.emit(index)

    def of_task(self, task: str) -> list[Pair]:
        """The items whose task is ``task``, in list order (what a training of that task's model uses)."""
        return [p for p in self.pairs if self.setup(p).task == task]

    def replace_model(self, old, new, task: str | None = None) -> None:  # noqa: ANN001 - MethodKey
        """Every item (of ``task``, or of any task) with model ``old`` now uses ``new``: a fine-tuned model that
        was saved to a file, or the model fine-tuned from ``old`` on these items."""
        for i, pair in enumerate(self.pairs):
            setup = self.setup(pair)
            if setup.model == old and task in (None, setup.task):
                self.set_setup(i, ItemSetup(setup.task, new))

    def add_paths(self, paths: list[Path], suffixes: frozenset[str]) -> DropPlan:
        plan = plan_drop([Path(p) for p in paths], self.pending, suffixes)
        known = set(self.pairs)
        new = [p for p in plan.pairs if p not in known]
        for pair in new:
            self.setups[pair.key] = self.new_setup(pair)
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
        self.setups[pair.key] = self.setup(self.pairs[index])  # the aligned item keeps its task and model
        self.pairs[index] = pair
        self.changed.emit()
        self.set_current(index, force=True)

    def remove(self, index: int) -> None:
        if not 0 <= index < len(self.pairs):
            return
        self.setups.pop(self.pairs[index].key, None)
        del self.pairs[index]
        self.changed.emit()
        self.set_current(min(self.current, len(self.pairs) - 1), force=True)

    def clear(self) -> None:
        self.pairs.clear()
        self.setups.clear()
        self.pending = None
        self.changed.emit()
        self.set_current(-1, force=True)

    def set_current(self, index: int, force: bool = False) -> None:
        if index != self.current or force:
            self.current = index
            self.currentChanged.emit(index)


class Workspace(QObject):
    """The pairs, the current pair's two sources (A, B), its fused result, the comparison and the maps."""

    imagesChanged = Signal()  # the sources (and with them the results) changed
    resultChanged = Signal()  # the fused result or the comparison changed
    mapsChanged = Signal()

    PANELS = ("A", "B", "Fused", "Compare")

    def __init__(self) -> None:
        super().__init__()
        self.pairs = PairList()
        self.sources: tuple[np.ndarray, np.ndarray] | None = None
        self.raw_sources: tuple[np.ndarray, np.ndarray] | None = None  # as stored in the files (readout units)
        self.fused: Result | None = None
        self.second: Result | None = None
        self.maps = WeightMaps()

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Result label -> metric -> value, of the fused result and the comparison."""
        return {r.label: r.metrics for r in (self.fused, self.second) if r is not None and r.metrics}

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

    def set_sources(self, sources: tuple[np.ndarray, np.ndarray] | None,
                    raw: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``sources`` as scaled for fusion; ``raw`` as stored in the files (the same arrays when not given)."""
        self.sources = sources
        self.raw_sources = raw if raw is not None else sources
        self.fused = self.second = None
        self.maps = WeightMaps()  # another item: its maps come with its result (or stay empty)
        self.imagesChanged.emit()
        self.resultChanged.emit()
        self.mapsChanged.emit()

    def set_results(self, fused: Result | None, second: Result | None) -> None:
        self.fused, self.second = fused, second
        self.resultChanged.emit()

    def set_maps(self, maps: WeightMaps) -> None:
        self.maps = maps
        self.mapsChanged.emit()
