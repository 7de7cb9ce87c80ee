"""What a result is made with, typed: a classical baseline or a model of the catalog (:class:`MethodKey`).

The model box, the comparison box, the volume browser, the result cache and the export sidecars all name a
method by one :class:`MethodKey`. Its string form (``str(key)``, read back by :meth:`MethodKey.parse`) is
only for storing a choice in the preferences and writing it into a sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["baseline", "default", "user", "pth", "session", "scratch"]
KINDS: tuple[Kind, ...] = ("baseline", "default", "user", "pth", "session", "scratch")
"""``baseline``: a classical method (``name``: the engine's baseline name); the model kinds: the task's
``default`` weights, a ``user`` model saved in the user models folder and an imported released checkpoint
(``pth``) (``name``: the file's path), a model fine-tuned in this ``session`` and not saved (``name``: its
number), and a new model to train from ``scratch``."""

BASELINE_LABELS = {"average": "Average", "laplacian": "Laplacian pyramid", "mertens": "Mertens exposure fusion"}


@dataclass(frozen=True)
class MethodKey:
    """A fusion method the user can choose. Equal keys name the same method."""

    kind: Kind
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind of method {self.kind!r}; one of {', '.join(KINDS)}")

    @classmethod
    def baseline(cls, name: str) -> MethodKey:
        return cls("baseline", name)

    @classmethod
    def user(cls, path: str | Path) -> MethodKey:
        return cls("user", str(path))

    @classmethod
    def pth(cls, path: str | Path) -> MethodKey:
        return cls("pth", str(path))

    @classmethod
    def session(cls, number: int) -> MethodKey:
        return cls("session", str(number))

    @property
    def is_baseline(self) -> bool:
        return self.kind == "baseline"

    @property
    def path(self) -> Path | None:
        """The model file of a ``user`` or ``pth`` key."""
        return Path(self.name) if self.kind in ("user", "pth") else None

    @property
    def label(self) -> str:
        """A short name for people: the baseline's, the model file's, or the kind's."""
        if self.is_baseline:
            return BASELINE_LABELS.get(self.name, self.name)
        if self.kind == "user":
            return Path(self.name).stem
        if self.kind == "pth":
            return f"{Path(self.name).name} (released)"
        return {"default": "ReFusion default", "session": f"Fine-tuned #{self.name} (unsaved)",
                "scratch": "New model"}[self.kind]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind

    @classmethod
    def parse(cls, text: str) -> MethodKey | None:
        """The key ``str(key)`` was made from; None for text that names no method. Also reads the prefixed
        model keys of earlier versions (``model:user:<path>``)."""
        kind, _, name = text.removeprefix("model:").partition(":")
        if kind not in KINDS or (kind in ("default", "scratch")) != (name == ""):
            return None
        return cls(kind, name)  # type: ignore[arg-type]


DEFAULT = MethodKey("default")
SCRATCH = MethodKey("scratch")
