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
from refusion_core.medical.checks import (DEFLATE_MAX_RATIO, check_geometry, check_voxels, finite_voxels,
                                          first_line, warnings_to_log)
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
    """A NIfTI file (.nii, .nii.gz), a DICOM series folder, or one DICOM (multi-frame) file -> Volume.

    Every volume returned is float32 (S, H, W) with finite values (NaN and ±inf voxels are read as the
    lowest finite value, with a warning; see :mod:`refusion_core.medical.checks`), positive finite spacing
    and a finite affine. Anything else - a damaged or hostile header, a size above the limits, slices that
    do not make one volume - raises InputError with one line saying what is wrong with the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if not path.is_file() and not path.is_dir():  # reading a named pipe or a device could block for ever
        raise InputError(f"{path} is not a regular file or a folder (a pipe or a device?); give a volume")
    with warnings_to_log(path.name):  # the readers' warnings go to the log: the user gets one line or none
        if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
            vol = _read_nifti(path)
        else:
            from refusion_core.medical.dicom import read_dicom

            vol = Volume(name=path.name, **read_dicom(path))
            vol.data = finite_voxels(vol.data, vol.name)
    check_geometry(vol.name, vol.spacing, vol.affine)
    return vol


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
        img = nib.load(str(path))  # the header only: voxels are read below, once the header passed
        header = img.header
        shape = tuple(int(d) for d in header.get_data_shape())
        dtype = header.get_data_dtype()
        offset = int(getattr(img.dataobj, "offset", header.get_data_offset()))  # where the voxels are read from
        affine = np.asarray(img.affine, float)
        zooms = [float(z) for z in header.get_zooms()[:3]]
    except Exception as err:
        raise _not_nifti(path, err) from None
    shape = _nifti_volume_shape(path, shape)
    _check_nifti_size(path, shape, dtype, offset)
    try:
        arr = _nifti_values(img.dataobj, path.name).reshape(shape)
    except MemoryError:
        raise InputError(f"Not enough memory to read {path.name}") from None
    except InputError:
        raise
    except Exception as err:
        raise _not_nifti(path, err) from None
    arr = finite_voxels(arr, path.name)
    dx, dy, dz = (zooms + [1.0, 1.0, 1.0])[:3]  # a 2-D file has two
    # the field is zero-padded to 80 bytes: strip the padding, or a bare "MR" would read "MR\x00\x00…"
    descrip = bytes(header.get("descrip", b"")).decode("latin-1", "ignore").rstrip("\x00").upper()
    words = re.split(r"[^A-Z0-9]+", descrip)  # "ReFusion MR; research use" -> [..., "MR", ...]
    modality = next((m for m in ("CT", "MR", "PT", "NM") if m in words), "")
    if not modality and float(arr.min()) <= -900:  # only CT (air = -1000 HU) goes this far negative
        modality = "CT"
    return Volume(np.ascontiguousarray(arr.transpose(2, 1, 0)), (dz, dy, dx), affine,
                  modality, "HU" if modality == "CT" else "", path.name)


def _nifti_values(proxy, name: str) -> np.ndarray:
    """The voxels as float32: stored values times scl_slope plus scl_inter. Refuses scaling that overflows
    float32 (NaN / inf already in the file are left for :func:`finite_voxels`)."""
    raw = np.asarray(proxy.get_unscaled())
    slope, inter = float(getattr(proxy, "slope", 1.0)), float(getattr(proxy, "inter", 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        arr = raw.astype(np.float32)
        if slope != 1.0:
            arr *= np.float32(slope)
        if inter != 0.0:
            arr += np.float32(inter)
    overflow = np.count_nonzero(~np.isfinite(arr)) - (np.count_nonzero(~np.isfinite(raw)) if raw.dtype.kind == "f"
                                                        else 0)
    if overflow > 0:
        raise InputError(f"{name} holds {overflow} voxel value(s) beyond what float32 holds (stored values times "
                         f"scl_slope {slope:g} plus scl_inter {inter:g}); the file is damaged")
    return arr


def _not_nifti(path: Path, err: Exception) -> InputError:
    """nibabel's complaint as one line about the file (its path shortened to the name)."""
    if path.stat().st_size < 348 and not path.name.lower().endswith(".gz"):
        return InputError(f"{path.name} is too short for NIfTI ({path.stat().st_size} bytes; the header alone "
                          "takes 348): the file is truncated")
    if type(err).__name__ == "ImageFileError":
        return InputError(f"{path.name} is not a NIfTI file nibabel recognises (a damaged header?)")
    return InputError(f"Cannot read {path.name} as NIfTI: {first_line(err).replace(str(path), path.name)}")


def _nifti_volume_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The header's shape as (i, j, k): trailing sides of 1 beyond the third dropped, a 2-D image given one
    slice; anything with more than three real sides is refused before reading."""
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        dims = " × ".join(str(d) for d in shape)
        raise InputError(f"{path.name} is {len(shape)}-D ({dims or 'no sides'}); only single 3-D volumes can "
                         "be fused")
    return shape


def _check_nifti_size(path: Path, shape: tuple[int, int, int], dtype: np.dtype, offset: int) -> None:
    """The size limits, and that the file can hold what its header declares (see checks.py)."""
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise InputError(f"{path.name} stores {dtype} voxels; only real-valued (integer or float) volumes can "
                         "be fused")
    voxels = check_voxels(path.name, shape[::-1])  # (k, j, i): slices, rows, columns
    need, size = voxels * dtype.itemsize, path.stat().st_size
    dims = " × ".join(str(d) for d in shape)
    if path.name.lower().endswith(".gz"):
        if need > DEFLATE_MAX_RATIO * size + (1 << 16):
            raise InputError(f"{path.name} is corrupt or truncated: its header declares {dims} voxels "
                             f"({need:,} bytes) but a compressed file of {size:,} bytes cannot hold that much")
    elif offset < 0 or offset + need > size:
        raise InputError(f"{path.name} is truncated or damaged: its header declares {dims} voxels ({need:,} "
                         f"bytes from byte {offset:,}) but the file has {size:,} bytes")


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
