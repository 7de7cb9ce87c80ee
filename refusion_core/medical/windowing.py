"""Window/level: mapping raw medical values (CT Hounsfield units, MRI/PET intensities) to [0, 1].

Research use, not diagnosis.

A window (center C, width W) maps ``C - W/2`` to 0 and ``C + W/2`` to 1, linearly, clipped (the plain form
of DICOM's VOI LUT; DICOM's half-pixel offsets are below one 16-bit step and are left out).

Presets (:data:`WINDOW_PRESETS`, CT, in HU): ``brain`` 40/80, ``soft-tissue`` 50/400, ``bone`` 400/1800,
``lung`` -600/1500. ``auto``: the 0.5th and 99.5th percentiles of the voxels above the volume's minimum
(the minimum is the background — air, zero padding — which would otherwise dominate the statistics);
used for MRI, PET, SPECT and anything else without a physical scale.

Default per modality (:func:`default_window`): CT -> ``bone`` (in MRI–CT fusion the CT contributes bone
and the MRI the soft tissue, so a bone window keeps the CT's share clear: brain at ~0.3, cortical bone
near 1); everything else -> ``auto``.
"""

from __future__ import annotations

import numpy as np

from refusion_core.errors import InputError

WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft-tissue": (50.0, 400.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
}
AUTO_PERCENTILES = (0.5, 99.5)
Window = tuple[float, float]


def apply_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """Raw values -> float32 in [0, 1] (same shape): ``(x - (center - width/2)) / width``, clipped."""
    if not width > 0:
        raise InputError(f"A window width must be positive, got {width}")
    lo, width = float(center) - float(width) / 2.0, float(width)
    x = np.asarray(x)
    out = np.empty(x.shape, np.float32)
    src, dst = x.reshape(-1), out.reshape(-1)
    for i in range(0, src.size, _CHUNK):  # float64 in pieces: no overflow for extreme values, little memory
        dst[i:i + _CHUNK] = np.clip((src[i:i + _CHUNK].astype(np.float64) - lo) / width, 0.0, 1.0)
    return out


_CHUNK = 1 << 20


def auto_window(x: np.ndarray, percentiles: tuple[float, float] = AUTO_PERCENTILES) -> Window:
    """(center, width) spanning the given percentiles of the voxels above the minimum (all if none)."""
    v = np.asarray(x, np.float32)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("The volume has no finite values to window")
    above = v[v > v.min()]
    lo, hi = (float(p) for p in np.percentile(above if above.size else v, percentiles))
    width = max(hi - lo, 1e-6)  # in float64: float32 extremes would overflow
    return lo + width / 2.0, width


def default_window(modality: str) -> str:
    """The window spec used when none is given: ``bone`` for CT, ``auto`` otherwise."""
    return "bone" if modality.upper() == "CT" else "auto"


def parse_window(spec: str | Window | None, modality: str = "") -> str | Window:
    """A preset name, ``auto``, ``"C,W"`` or a (C, W) tuple -> a preset/auto name or a (C, W) tuple.

    None picks :func:`default_window` for ``modality``.
    """
    if spec is None:
        return default_window(modality)
    if isinstance(spec, tuple):
        return float(spec[0]), float(spec[1])
    text = spec.strip().lower()
    if text == "auto" or text in WINDOW_PRESETS:
        return text
    try:
        c, w = (float(p) for p in text.split(","))
    except ValueError:
        names = ", ".join(["auto", *WINDOW_PRESETS])
        raise InputError(f"Cannot read the window {spec!r}; give CENTER,WIDTH (e.g. 40,400) or one of "
                         f"{names}") from None
    if not w > 0:
        raise InputError(f"A window width must be positive, got {w:g}")
    return c, w


def resolve_window(x: np.ndarray, spec: str | Window | None, modality: str = "") -> Window:
    """The (center, width) that ``spec`` means for the values ``x``."""
    parsed = parse_window(spec, modality)
    if parsed == "auto":
        return auto_window(x)
    if isinstance(parsed, str):
        return WINDOW_PRESETS[parsed]
    return parsed


def window(x: np.ndarray, spec: str | Window | None = None, modality: str = "") -> tuple[np.ndarray, Window]:
    """Window ``x`` by ``spec`` (see :func:`parse_window`) -> (float32 in [0, 1], the (C, W) used)."""
    c, w = resolve_window(x, spec, modality)
    return apply_window(x, c, w), (c, w)
