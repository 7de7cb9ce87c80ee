"""The data of the session: the source pairs, the current pair's sources, its results and the weight maps.

The controllers fill it through the setters (reading a pair, fusing, a training preview); the pair list,
the image views, the metrics table and the maps panel draw it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.core.pairing import DropPlan, Pair, plan_drop
from app.core.results import Result
from app.core.view_models import WeightMaps


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
        self.imagesChanged.emit()
        self.resultChanged.emit()

    def set_results(self, fused: Result | None, second: Result | None) -> None:
        self.fused, self.second = fused, second
        self.resultChanged.emit()

    def set_maps(self, maps: WeightMaps) -> None:
        self.maps = maps
        self.mapsChanged.emit()
