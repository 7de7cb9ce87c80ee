"""Medical volumes: read DICOM / NIfTI, fuse two co-registered volumes slice by slice, write NIfTI.

**Research use, not diagnosis.** Nothing here is a medical device; fused images mix modalities and carry
no physical unit.

How values flow:

1. In: :func:`read_volume` gives raw values (CT in Hounsfield units via RescaleSlope/Intercept; MRI,
   PET, SPECT in scanner units), float32 ``(slices, H, W)``.
2. To the network: each volume is windowed to [0, 1] (:mod:`refusion_core.medical.windowing`: a (center, width)
   pair, a CT preset, or ``auto`` percentiles; default ``bone`` for CT, ``auto`` otherwise), the same
   window for every slice, so intensities stay comparable through the volume.
3. Out: F's output per slice, clipped to [0, 1], as float32; :func:`write_nifti` stores it as float32 or as
   uint16 (0..65535 with ``scl_slope = 1/65535``, so NIfTI readers still see [0, 1]), on volume A's grid
   (its affine: the output overlays A in any viewer).

Axes: ``data[s, r, c]`` is slice s, row r, column c; ``affine`` maps ``(c, r, s, 1)`` to RAS+ millimetres
(NIfTI's convention; a NIfTI file's (i, j, k) array is transposed to (k, j, i)). Needs ``nibabel`` for NIfTI
and ``pydicom`` for DICOM (optional extra ``medical``), imported only when used.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from refusion_core.errors import InputError
from refusion_core.fusing.stack import as_luminance_fuser
from refusion_core.io.images import atomic_write_bytes
from refusion_core.medical.windowing import Window, window

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class Volume:
    """A 3-D image and its geometry.

    Attributes:
        data: float32 (S, H, W), raw units (or [0, 1] for a fused volume).
        spacing: (slice, row, column) voxel size in mm.
        affine: (4, 4) float64, (column, row, slice, 1) -> RAS+ mm.
        modality: DICOM modality (``CT``, ``MR``, ``PT``, ``NM``, ...), ``FUSED``, or ``""`` when unknown.
        units: ``HU`` for CT, else what the file says or ``""``.
        name: where it came from (a file or folder name), for messages.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    modality: str = ""
    units: str = ""
    name: str = "volume"

    @property
    def orientation(self) -> str:
        """Axis codes of (column, row, slice) directions, e.g. ``RAS`` or ``LPI``."""
        letters = ("LR", "PA", "IS")
        out = ""
        for col in self.affine[:3, :3].T:
            k = int(np.argmax(np.abs(col)))
            out += letters[k][int(col[k] > 0)]
        return out


def read_volume(path: str | os.PathLike) -> Volume:
    """A NIfTI file (.nii, .nii.gz), a DICOM series folder, or one DICOM (multi-frame) file -> Volume."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
        return _read_nifti(path)
    from refusion_core.medical.dicom import read_dicom

    return Volume(name=path.name, **read_dicom(path))


def nibabel_module():
    try:
        import nibabel
    except ImportError:
        raise InputError("Reading and writing NIfTI needs nibabel: pip install 'refusion-studio[medical]' "
                         "(or pip install nibabel)") from None
    return nibabel


def _read_nifti(path: Path) -> Volume:
    nib = nibabel_module()
    try:
        img = nib.load(str(path))
        arr = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as err:
        raise InputError(f"Cannot read {path.name} as NIfTI: {str(err).splitlines()[0]}") from None
    while arr.ndim > 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise InputError(f"{path.name} is {arr.ndim}-D {arr.shape}; only single 3-D volumes can be fused")
    dx, dy, dz = (float(z) for z in img.header.get_zooms()[:3])
    # the field is zero-padded to 80 bytes: strip the padding, or a bare "MR" would read "MR\x00\x00…"
    descrip = bytes(img.header.get("descrip", b"")).decode("latin-1", "ignore").rstrip("\x00").upper()
    words = re.split(r"[^A-Z0-9]+", descrip)  # "ReFusion MR; research use" -> [..., "MR", ...]
    modality = next((m for m in ("CT", "MR", "PT", "NM") if m in words), "")
    if not modality and float(np.nanmin(arr)) <= -900:  # only CT (air = -1000 HU) goes this far negative
        modality = "CT"
    return Volume(np.ascontiguousarray(arr.transpose(2, 1, 0)), (dz, dy, dx), np.asarray(img.affine, float),
                  modality, "HU" if modality == "CT" else "", path.name)


def write_nifti(path: str | os.PathLike, volume: Volume, dtype: str = "float32") -> Path:
    """Write ``volume`` as NIfTI-1 (.nii or .nii.gz by suffix), atomically, with its affine.

    Args:
        dtype: ``float32`` (values as they are) or ``uint16`` (expects [0, 1]: stored as round(x · 65535)
            with scl_slope 1/65535, scl_inter 0).
    """
    path = Path(path)
    if not path.name.lower().endswith(NIFTI_SUFFIXES):
        raise InputError(f"Cannot write {path.name}: use a .nii or .nii.gz file name")
    if dtype not in ("float32", "uint16"):
        raise InputError(f"Unknown NIfTI data type {dtype!r}; use float32 or uint16")
    nib = nibabel_module()
    arr = np.ascontiguousarray(volume.data.transpose(2, 1, 0))  # (S, H, W) -> (i, j, k)
    if dtype == "uint16":
        arr = np.round(np.clip(arr, 0.0, 1.0) * 65535).astype(np.uint16)
    img = nib.Nifti1Image(arr, volume.affine)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = f"ReFusion {volume.modality}; research use, not diagnosis"[:79].encode()
    if dtype == "uint16":
        img.header.set_slope_inter(1.0 / 65535, 0.0)
    data = img.to_bytes()
    atomic_write_bytes(path, gzip.compress(data, 6) if path.name.lower().endswith(".gz") else data)
    return path


def check_same_grid(a: Volume, b: Volume) -> None:
    """Raise InputError, naming both shapes and spacings, unless A and B share one voxel grid."""
    same = a.data.shape == b.data.shape and np.allclose(a.spacing, b.spacing, rtol=1e-3, atol=1e-4)
    if not same:
        def desc(v: Volume) -> str:
            s, h, w = v.data.shape
            return f"{s}×{h}×{w} voxels of {'×'.join(f'{x:.3g}' for x in v.spacing)} mm"
        raise InputError(f"{a.name} is {desc(a)} but {b.name} is {desc(b)}; the two volumes must be "
                         "registered and resampled onto one grid before fusing")
    if a.orientation != b.orientation:
        raise InputError(f"{a.name} is stored {a.orientation} but {b.name} {b.orientation}; reorient one "
                         "so that their slices match")


def fuse_volumes(fuser, vol_a: Volume, vol_b: Volume, window_a: str | Window | None = None,
                 window_b: str | Window | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[Volume, dict]:
    """Fuse two co-registered volumes slice by slice (research use, not diagnosis).

    Args:
        fuser: a ``Fuser`` or a pairwise luminance fuser ``(ya, yb) -> fused`` (float32 (H, W) in [0, 1]).
        vol_a, vol_b: same shape, spacing and orientation (else InputError naming both).
        window_a, window_b: window specs (``"C,W"``, (C, W), a preset, ``auto``; None = per modality).
        progress: ``progress(done, total)`` per slice.

    Returns:
        (fused Volume: float32 (S, H, W) in [0, 1], modality ``FUSED``, A's spacing and affine;
        info dict with the windows used: ``{"window_a": (C, W), "window_b": (C, W)}``).
    """
    check_same_grid(vol_a, vol_b)
    wa, win_a = window(vol_a.data, window_a, vol_a.modality)
    wb, win_b = window(vol_b.data, window_b, vol_b.modality)
    fuse = as_luminance_fuser(fuser)
    out = np.empty_like(wa)
    for s in range(len(wa)):
        out[s] = np.clip(fuse(wa[s], wb[s]), 0.0, 1.0)
        if progress:
            progress(s + 1, len(wa))
    fused = Volume(out, vol_a.spacing, vol_a.affine.copy(), "FUSED", "", f"{vol_a.name}+{vol_b.name}")
    return fused, {"window_a": win_a, "window_b": win_b}
