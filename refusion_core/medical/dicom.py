"""Reading DICOM volumes: a folder holding one series of single-frame files, or one multi-frame file.

Research use, not diagnosis.

Values: each frame's stored values times RescaleSlope plus RescaleIntercept (Hounsfield units for CT),
float32. Order: slices sorted by their position along the slice normal (ImagePositionPatient projected
on ImageOrientationPatient's row × column cross product), by InstanceNumber where positions are missing.
Geometry: the voxel -> patient affine is built in DICOM's LPS frame from ImageOrientationPatient,
ImagePositionPatient of the first slice, PixelSpacing and the median slice step, then turned into NIfTI's
RAS frame (x and y negated), so volumes from either format share one convention. Enhanced multi-frame
files take these attributes per frame or from the shared functional groups. Needs ``pydicom`` (optional
extra ``medical``); compressed transfer syntaxes may need pylibjpeg or gdcm as pydicom says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from refusion_core.errors import InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def pydicom_module():
    try:
        import pydicom
    except ImportError:
        raise InputError("Reading DICOM needs pydicom: pip install 'refusion-studio[medical]' "
                         "(or pip install pydicom)") from None
    return pydicom


def read_dicom(path: Path) -> dict:
    """A folder (one series) or one file -> dict(data (S, H, W) float32, spacing, affine, modality, units)."""
    pydicom = pydicom_module()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    sets = [ds for ds in (_try_read(pydicom, f) for f in files) if ds is not None and "PixelData" in ds]
    if not sets:
        raise InputError(f"{path.name} holds no DICOM images")
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in sets}
    if len(series) > 1:
        raise InputError(f"{path.name} holds {len(series)} DICOM series; put each series in its own folder")
    if len(sets) == 1 and int(sets[0].get("NumberOfFrames", 1) or 1) > 1:
        return _multi_frame(sets[0], path)
    return _series(sets, path)


def _try_read(pydicom, f: Path):
    try:
        return pydicom.dcmread(f)
    except Exception:  # not DICOM (InvalidDicomError), or unreadable: skipped, like any stray file
        return None


def _pixels(ds, path: Path) -> np.ndarray:
    try:
        return np.asarray(ds.pixel_array)
    except Exception as err:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise InputError(f"Cannot decode the pixel data of {path.name} (transfer syntax {syntax}): "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def _rescale(ds) -> tuple[float, float]:
    item = _functional(ds, "PixelValueTransformationSequence", 0)
    src = item if item is not None and "RescaleSlope" in item else ds
    return float(src.get("RescaleSlope", 1) or 1), float(src.get("RescaleIntercept", 0) or 0)


def _functional(ds, seq: str, frame: int):
    """An item of a functional group (per-frame first, then shared) of an enhanced multi-frame file."""
    for groups, idx in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        g = ds.get(groups)
        if g is not None and len(g) > idx and seq in g[idx]:
            return g[idx][seq][0]
    return None


def _orientation(ds) -> np.ndarray:
    item = _functional(ds, "PlaneOrientationSequence", 0)
    iop = (item if item is not None else ds).get("ImageOrientationPatient")
    return np.asarray(iop if iop is not None else [1, 0, 0, 0, 1, 0], np.float64)


def _pixel_spacing(ds) -> tuple[float, float]:
    item = _functional(ds, "PixelMeasuresSequence", 0)
    ps = (item if item is not None else ds).get("PixelSpacing") or ds.get("PixelSpacing") or [1.0, 1.0]
    return float(ps[0]), float(ps[1])


def _series(sets: list, path: Path) -> dict:
    iop = _orientation(sets[0])
    normal = np.cross(iop[:3], iop[3:])
    pos = [ds.get("ImagePositionPatient") for ds in sets]
    have_pos = all(p is not None for p in pos)
    if have_pos:
        keys = [float(np.dot(np.asarray(p, float), normal)) for p in pos]
    else:
        keys = [float(ds.get("InstanceNumber", i) or i) for i, ds in enumerate(sets)]
    order = np.argsort(keys, kind="stable")
    sets = [sets[i] for i in order]
    shapes = {(int(ds.Rows), int(ds.Columns)) for ds in sets}
    if len(shapes) > 1:
        raise InputError(f"The slices in {path.name} differ in size ({sorted(shapes)}); not one volume")
    slices = []
    for ds in sets:
        slope, inter = _rescale(ds)
        slices.append(_pixels(ds, path).astype(np.float32) * slope + inter)
    positions = [np.asarray(pos[i], float) for i in order] if have_pos else None
    return _assemble(np.stack(slices), sets[0], iop, positions)


def _multi_frame(ds, path: Path) -> dict:
    frames = _pixels(ds, path).astype(np.float32)
    if frames.ndim != 3:
        raise InputError(f"{path.name} is not a grey multi-frame volume (pixel array shape {frames.shape})")
    iop = _orientation(ds)
    normal = np.cross(iop[:3], iop[3:])
    pos = [(_functional(ds, "PlanePositionSequence", i) or {}).get("ImagePositionPatient")
           for i in range(len(frames))]
    positions = [np.asarray(p, float) for p in pos] if all(p is not None for p in pos) else None
    keys = np.array([np.dot(p, normal) for p in positions]) if positions else np.arange(len(frames), dtype=float)
    order = np.argsort(keys, kind="stable")
    slope, inter = _rescale(ds)
    data = frames[order] * slope + inter
    return _assemble(data, ds, iop, [positions[i] for i in order] if positions else None)


def _assemble(data: np.ndarray, ds, iop: np.ndarray, positions) -> dict:
    """Slice step: the median distance between sorted positions along the normal; without positions,
    SpacingBetweenSlices, else SliceThickness, else 1 mm."""
    dy, dx = _pixel_spacing(ds)
    normal = np.cross(iop[:3], iop[3:])
    steps = np.diff([np.dot(p, normal) for p in positions]) if positions and len(positions) > 1 else np.array([])
    dz = float(np.median(steps)) if steps.size and np.median(steps) > 0 else \
        float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0)
    origin = positions[0] if positions else np.asarray(ds.get("ImagePositionPatient") or [0, 0, 0], float)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = iop[:3] * dx, iop[3:] * dy
    lps[:3, 2] = np.cross(iop[:3], iop[3:]) * dz
    lps[:3, 3] = origin
    modality = str(ds.get("Modality", "") or "")
    units = "HU" if modality == "CT" else str(ds.get("RescaleType", "") or "")
    return {"data": data.astype(np.float32), "spacing": (dz, dy, dx), "affine": LPS_TO_RAS @ lps,
            "modality": modality, "units": units}
