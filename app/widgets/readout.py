"""The pixel readout of the comparison area: one line, one format for every panel.

Format (``·`` between the parts)::

    x 12, y 7  ·  A 38882 (0.431 stretched)  ·  B (21, 13, 5)  ·  Fused (21138, 20011, 19873)  ·  Compare (83, 80, 77)

* Each panel is named as in the grid (``A``, ``B``, ``Fused``, ``Compare``), then its value, in the
  **source's own units**: the value stored in the file for A and B (``workspace.raw_sources``: raw counts
  0–65535 for 16-bit data, 0–255 for 8-bit), the value the engine returned for the fused result and the
  comparison (uint8 or uint16, each in its own depth). Integers as integers, floats with 5 significant digits.
* Grey is one number, colour ``(r, g, b)``.
* Where the sources were scaled for fusion (the percentile stretch of raw 16-bit thermal data, see
  ``refusion_core.io.scaling``), the value the fuser saw follows the raw one in [0, 1] with three decimals:
  ``38882 (0.431 stretched)``, ``(1200, 300, 50) (0.431, 0.102, 0.020 stretched)``. A source counts as
  stretched when the workspace holds a scaled array other than the stored one (the engine returns the
  stored array itself when it does not scale).
* A panel with nothing in it is left out; outside the image its value is ``–``.
"""

from __future__ import annotations

import numpy as np

SEPARATOR = "  ·  "


def _number(v, kind: str) -> str:  # noqa: ANN001 - numpy scalar
    return f"{float(v):.5g}" if kind == "f" else str(int(v))


def value_text(img: np.ndarray | None, x: int, y: int) -> str:
    """The value at column ``x``, row ``y`` as stored: ``"123"`` (grey) or ``"(r, g, b)"``; ``"–"`` outside."""
    if img is None or not (0 <= y < img.shape[0] and 0 <= x < img.shape[1]):
        return "–"
    v = img[y, x]
    if np.ndim(v) == 0:
        return _number(v, img.dtype.kind)
    return "(" + ", ".join(_number(t, img.dtype.kind) for t in v) + ")"


def unit_value(img: np.ndarray, x: int, y: int) -> np.ndarray:
    """The value at (x, y) in [0, 1] as the fuser reads it (uint8 /255, uint16 /65535, float as is)."""
    v = np.asarray(img[y, x], np.float64)
    return v / {"u1": 255.0, "u2": 65535.0}.get(f"{img.dtype.kind}{img.dtype.itemsize}", 1.0)


def source_text(raw: np.ndarray, scaled: np.ndarray | None, x: int, y: int) -> str:
    """A source's value: the stored one, and the stretched one beside it when ``scaled`` is another array."""
    text = value_text(raw, x, y)
    if scaled is None or scaled is raw or scaled.shape != raw.shape or text == "–":
        return text
    s = np.atleast_1d(unit_value(scaled, x, y))
    return f"{text} ({', '.join(f'{t:.3f}' for t in s)} stretched)"


def readout_line(panels: dict[str, str], x: int, y: int) -> str:
    """``panels``: name -> value text (in the order to show)."""
    return SEPARATOR.join([f"x {x}, y {y}"] + [f"{name} {value}" for name, value in panels.items()])


def workspace_readout(workspace, x: int, y: int) -> str | None:  # noqa: ANN001 - app.qt.workspace.Workspace
    """The readout line of pixel (x, y) of ``workspace``'s panels; None when there is nothing to read."""
    if workspace.sources is None:
        return None
    raw = workspace.raw_sources if workspace.raw_sources is not None else workspace.sources
    panels = {"A": source_text(raw[0], workspace.sources[0], x, y),
              "B": source_text(raw[1], workspace.sources[1], x, y)}
    for name, result in (("Fused", workspace.fused), ("Compare", workspace.second)):
        if result is not None:
            panels[name] = value_text(result.image, x, y)
    return readout_line(panels, x, y)
