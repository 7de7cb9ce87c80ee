"""The volume slice browser's logic (no widgets): reading volumes, fusing and exporting them in
workers, window/level and colour-map choices, display orientation and the export sidecar.

**Research use, not diagnosis** (:data:`RESEARCH_NOTE` is shown in the window at all times).

The engine does the work, through the adapter :mod:`app.core.engine`: ``read_volume`` (DICOM folder or
file, NIfTI), ``check_same_grid``, ``fuse_volume_slices``, ``write_nifti`` and the windowing helpers; the model
comes from the app's catalog (task ``mif``) through :func:`app.core.results.resolve_bundle`, like every other
fuse in the app. Engine parts that need torch are imported inside the worker jobs only.

Choices where the issue is silent:

* **Opening.** A is always replaced; B is taken only when it lies on A's grid (``check_same_grid``). When
  it does not, one message says why (both shapes and spacings) and A stays open alone, so the window
  remains usable. "auto" windows (percentiles over the whole volume, seconds for a large one) are
  computed once, in the reading worker, and kept with the volume.
* **Windows.** On opening, the modality's default (``default_window``: bone for CT, auto otherwise). The
  CT presets (brain, soft tissue, bone, lung) are offered for CT and for volumes of unknown modality (a
  NIfTI file rarely says it holds a CT); for MR, PET and SPECT, whose units are not HU, only auto and
  manual. The fused view starts at its full range [0, 1].
* **Colour maps.** Grey for CT, MR, unknown and fused; heat (``CET-L3``: black, red, yellow, white, the
  usual "hot" look) for PET; rainbow (``turbo``, dark blue to dark red) for SPECT (DICOM modality NM).
* **Fusing.** ``fuse_volumes`` is called one slice at a time with both windows fixed as (C, W) numbers
  (those set in the views, so what the user sees is what gets fused). That gives the same result as one
  call over the volume and lets the worker report progress and cancel between slices. Device: the main
  window's device setting (``session/device``, default ``auto``).
* **Display orientation.** Slices are drawn as stored, but flipped where the affine says so, so that
  anterior (or superior) is up and the patient's right is on the left of an axial slice (radiological
  convention); pixels are drawn with their physical aspect (column and row spacing). DICOM series are
  usually stored that way already; RAS-stored NIfTI files are not.
* **Export.** ``<name>.nii.gz`` (or .nii): the raw fused values, float32 in [0, 1], on A's grid (A's
  affine and spacing); ``<name>_slice<k>.png``: the fused view's current slice as displayed (window,
  colour map, orientation; one pixel per voxel); ``<name>.json``: the sidecar (sources, modalities,
  windows used for fusing, model, device, the picture's window and colour map, the research-use note).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app import __version__
from app.core import engine
from app.core.engine import WINDOW_PRESETS, InputError, Window, apply_window, auto_window, default_window
from app.core.methods import MethodKey

TASK = "mif"
RESEARCH_NOTE = "For research use only — not for clinical diagnosis."
FULL = "full"  # the fused view's [0, 1] window
MANUAL = "manual"
COLORMAPS: dict[str, str | None] = {"Grey": None, "Heat": "CET-L3", "Inferno": "inferno",
                                    "Rainbow": "turbo", "Viridis": "viridis"}
"""Colour-map label -> pyqtgraph colour map name (None: linear grey)."""
MODALITY_LABELS = {"CT": "CT", "MR": "MRI", "PT": "PET", "NM": "SPECT", "FUSED": "fused", "": "modality unknown"}
NIFTI_FILTER = "NIfTI volumes (*.nii *.nii.gz);;All files (*)"


def modality_label(modality: str) -> str:
    return MODALITY_LABELS.get(modality.upper(), modality)


def default_colormap(modality: str) -> str:
    return {"PT": "Heat", "NM": "Rainbow"}.get(modality.upper(), "Grey")


def window_choices(modality: str) -> list[str]:
    """Window modes a view offers: the fused view [full, auto, manual]; CT presets for CT or unknown."""
    if modality == "FUSED":
        return [FULL, "auto", MANUAL]
    presets = list(WINDOW_PRESETS) if modality.upper() in ("CT", "") else []
    return ["auto", *presets, MANUAL]


def levels(win: Window) -> tuple[float, float]:
    """(low, high) display levels of a (center, width) window."""
    c, w = win
    return c - w / 2.0, c + w / 2.0


# ----------------------------------------------------------------------------- volumes
@dataclass
class Opened:
    """A volume as the window holds it: where it came from and its precomputed windows."""

    volume: object  # the engine's Volume (app.core.engine.Volume)
    path: Path | None
    auto: Window
    default_mode: str  # a preset name, "auto" or FULL

    @property
    def windows(self) -> dict[str, Window]:
        out = {"auto": self.auto, **WINDOW_PRESETS}
        return {**out, FULL: (0.5, 1.0)}


def open_volume(path: str | Path) -> Opened:
    """Read a volume (slow: runs in a worker) and compute its auto window once."""
    vol = engine.read_volume(path)
    return Opened(vol, Path(path), auto_window(vol.data), default_window(vol.modality))


def fused_opened(volume) -> Opened:  # noqa: ANN001
    return Opened(volume, None, auto_window(volume.data), FULL)


def load_job(path_a: str | Path | None, path_b: str | Path | None, current_a: Opened | None):  # noqa: ANN201
    """Worker job: read A and/or B. Returns ``(a, b, problem)``: B is None and ``problem`` says why when
    B is not on A's grid (A is kept: the user can go on with it)."""
    total = (path_a is not None) + (path_b is not None)
    a, b, problem = current_a, None, None
    if path_a is not None:
        yield (0, total, f"Reading {Path(path_a).name}…")
        a = open_volume(path_a)
    if path_b is not None:
        if a is None:
            raise InputError("Open volume A first; B is fused onto A's grid")
        yield (total - 1, total, f"Reading {Path(path_b).name}…")
        b = open_volume(path_b)
        try:
            engine.check_same_grid(a.volume, b.volume)
        except InputError as exc:
            problem, b = f"{str(exc).rstrip('.')}. {b.volume.name} was not opened.", None
    yield (total, total, "Done")
    return a, b, problem


# ----------------------------------------------------------------------------- fusing
@dataclass
class FusedVolume:
    """A fused volume and what made it (for the sidecar and the "windows changed" hint)."""

    opened: Opened
    window_a: Window
    window_b: Window
    model_key: MethodKey
    model: dict = field(default_factory=dict)


def fuse_job(catalog, model_key: MethodKey, device: str, a: Opened, b: Opened,  # noqa: ANN001, ANN201
             window_a: Window, window_b: Window):
    """Worker job: fuse A and B slice by slice with the catalog's ``model_key`` (task mif) on ``device``.

    Yields ``(done, total, text)`` per slice (the worker cancels between slices); returns a FusedVolume.
    """
    from app.core.results import describe_bundle, find_model, resolve_bundle

    va, vb = a.volume, b.volume
    engine.check_same_grid(va, vb)
    n = len(va.data)
    yield (0, n, "Loading the model…")
    entry = find_model(model_key, catalog, TASK)
    bundle = resolve_bundle(entry, catalog, TASK)
    wa, wb = (float(window_a[0]), float(window_a[1])), (float(window_b[0]), float(window_b[1]))
    slices = engine.fuse_volume_slices(bundle, va, vb, wa, wb, device)
    while True:
        try:
            s = next(slices)
        except StopIteration as done:
            fused, used = done.value
            break
        yield (s, n, f"Fusing slice {s + 1} of {n}…")
    yield (n, n, "Done")
    return FusedVolume(fused_opened(fused), wa, wb, model_key, describe_bundle(entry, bundle, used))


# ----------------------------------------------------------------------------- display
def display_flips(affine: np.ndarray) -> tuple[bool, bool]:
    """(flip rows, flip columns) so that A (or S) is up and the patient's right is on the left.

    Rows are flipped when the row direction mostly points anterior or superior; columns when the
    column direction mostly points right (axial, coronal) or anterior (sagittal: anterior on the left).
    """
    col, row = np.asarray(affine, float)[:3, 0], np.asarray(affine, float)[:3, 1]
    kr, kc = int(np.argmax(np.abs(row))), int(np.argmax(np.abs(col)))
    flip_rows = kr in (1, 2) and row[kr] > 0
    flip_cols = kc in (0, 1) and col[kc] > 0
    return bool(flip_rows), bool(flip_cols)


def oriented(image: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
    """A (H, W) slice as drawn (a view, no copy)."""
    return image[::-1 if flips[0] else 1, ::-1 if flips[1] else 1]


def voxel_index(x: int, y: int, shape: tuple[int, int], flips: tuple[bool, bool]) -> tuple[int, int] | None:
    """Displayed (column x, row y) -> stored (row, column), or None outside the slice."""
    h, w = shape
    if not (0 <= x < w and 0 <= y < h):
        return None
    return (h - 1 - y if flips[0] else y), (w - 1 - x if flips[1] else x)


def slice_position(volume, s: int) -> str:  # noqa: ANN001
    """Where slice ``s`` lies along its axis, e.g. ``z 12.5 mm`` (RAS+ millimetres, at the slice centre)."""
    _, h, w = volume.data.shape
    p = np.asarray(volume.affine, float) @ np.array([(w - 1) / 2, (h - 1) / 2, s, 1.0])
    k = int(np.argmax(np.abs(np.asarray(volume.affine, float)[:3, 2])))
    return f"{'xyz'[k]} {p[k]:.1f} mm" if math.isfinite(p[k]) else ""


def value_text(value: float, units: str) -> str:
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {units}".strip()


def render(image: np.ndarray, win: Window, lut: np.ndarray) -> np.ndarray:
    """A slice as pyqtgraph's ImageItem draws it with levels = the window and a 256-entry LUT: uint8 RGB.

    ImageItem scales by ``lut_size / (high - low)`` and truncates; the same is done here, so the
    exported picture is the displayed one."""
    t = apply_window(image, *win)
    idx = np.clip(np.floor(t * len(lut)), 0, len(lut) - 1).astype(np.intp)
    return np.ascontiguousarray(np.asarray(lut, np.uint8)[idx][..., :3])


# ----------------------------------------------------------------------------- export
def export_paths(nifti: str | Path, slice_index: int) -> tuple[Path, Path, Path]:
    """``x.nii.gz`` -> (x.nii.gz, x_slice<k>.png, x.json); a name without a NIfTI suffix gets .nii.gz."""
    nifti = Path(nifti)
    name = nifti.name
    low = name.lower()
    stem = name[:-7] if low.endswith(".nii.gz") else name[:-4] if low.endswith(".nii") else name
    if not low.endswith((".nii", ".nii.gz")):
        nifti = nifti.with_name(f"{stem}.nii.gz")
    return nifti, nifti.with_name(f"{stem}_slice{slice_index + 1:03d}.png"), nifti.with_name(f"{stem}.json")


def _source(opened: Opened, window: Window) -> dict:
    v = opened.volume
    return {"path": str(opened.path) if opened.path else None, "name": v.name, "modality": v.modality,
            "units": v.units, "shape": list(v.data.shape), "spacing_mm": list(v.spacing),
            "window_center_width": list(window)}


def sidecar(fused: FusedVolume, a: Opened, b: Opened, files: tuple[Path, Path, Path], slice_index: int,
            picture_window: Window, picture_colormap: str) -> dict:
    """The JSON sidecar written beside an export."""
    nifti, png, _ = files
    return {
        "note": RESEARCH_NOTE,
        "app": f"ReFusion Studio {__version__}",
        "task": TASK,
        "a": _source(a, fused.window_a),
        "b": _source(b, fused.window_b),
        "model": fused.model,
        "fused": {"file": nifti.name, "dtype": "float32", "range": [0.0, 1.0],
                  "grid": "volume A's (affine and spacing)",
                  "meaning": "the model's output per slice on the windowed [0, 1] inputs; no physical unit"},
        "picture": {"file": png.name, "slice": slice_index + 1, "slices": int(a.volume.data.shape[0]),
                    "window_center_width": list(picture_window), "colormap": picture_colormap,
                    "orientation": "as displayed: anterior/superior up, patient right on the left"},
    }


def export_job(files: tuple[Path, Path, Path], fused_volume, picture: np.ndarray, meta: dict):  # noqa: ANN001, ANN201
    """Worker job: write the NIfTI (float32), the PNG and the sidecar, each atomically; returns the paths."""
    nifti, png, side = files
    yield (0, 3, f"Writing {nifti.name}…")
    engine.write_nifti(nifti, fused_volume, "float32")
    yield (1, 3, f"Writing {png.name}…")
    engine.write_image(png, picture)
    yield (2, 3, f"Writing {side.name}…")
    engine.atomic_write_bytes(side, json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8"))
    yield (3, 3, "Exported")
    return [nifti, png, side]
