"""What the views draw, as plain data: built by the controllers from results and engine events, so that no
widget reads an engine record or guesses from a title.

Arrays are numpy, numbers are Python floats and ints; nothing here holds a tensor or a Qt object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TrainingStep:
    """One training step as the loss plot and the status bar show it.

    ``losses``: the step's finite losses by name (``lf``, ``lr``; ``outer_lr`` on meta steps); ``stage``:
    ``meta`` or ``fuse``; ``steps_per_s`` and ``eta_s`` (seconds left) when known.
    """

    step: int
    total_steps: int
    stage: str
    losses: dict[str, float] = field(default_factory=dict)
    steps_per_s: float | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class WeightMaps:
    """What the weight-maps panel shows: P's maps (name -> float32 (h, w) in [0, 1], the engine's names and
    order) under ``title``. ``arrays`` is empty for a method without P and for a stack (``is_stack``: P's maps
    weight the loss of one pair); ``live``: a training preview, drawn at the panel's pace rather than at once.
    """

    title: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    is_stack: bool = False
    live: bool = False
