"""Reading DICOM volumes: a folder holding one series of single-frame files, or one multi-frame file.

Research use, not diagnosis.

Values: each frame's stored values times RescaleSlope plus RescaleIntercept (Hounsfield units for CT),
float32. Order: slices sorted by their position along the slice normal (ImagePositionPatient projected
on ImageOrientationPatient's row × column cross product), by InstanceNumber where positions are missing
(by file name where InstanceNumber is missing too).
Geometry: the voxel -> patient affine is built in DICOM's LPS frame from ImageOrientationPatient,
ImagePositionPatient of the first slice, PixelSpacing and the median slice step, then turned into NIfTI's
RAS frame (x and y negated), so volumes from either format share one convention. Enhanced multi-frame
files take these attributes per frame or from the shared functional groups. Needs ``pydicom`` (optional
extra ``medical``); compressed transfer syntaxes may need pylibjpeg or gdcm as pydicom says.

Checked before any pixel is decoded, each refusal one line naming the file and what is wrong with it:
every attribute used is read and converted here (pydicom converts values lazily, so a damaged value would
otherwise surface as a ValueError deep inside); Rows, Columns and BitsAllocated must be present and
sensible, NumberOfFrames at least 1, one sample per pixel and no palette (grey); the declared size stays under the limits
of :mod:`refusion_core.medical.checks`, and uncompressed pixel data must hold every byte the header
declares; positions, orientations, spacings and rescale values must be finite numbers (the rescaled values
within float32). A series must be one volume: one size, one orientation, single-frame files, no two slices
at one position (or with one InstanceNumber where positions are missing), and no step between neighbours
more than 1.5 times the median (a missing slice). A file with DICOM's "DICM" marker that pydicom cannot
parse is refused as damaged rather than skipped; other files in a folder (notes, DICOMDIR) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refusion_core.errors import InputError
from refusion_core.medical.checks import FLOAT32_MAX, check_voxels, first_line, printable

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
"""Uncompressed transfer syntaxes (implicit / explicit little endian, explicit big endian, deflated): their
pixel data must hold rows × columns × frames × bits / 8 bytes."""
POSITION_TOLERANCE_MM = 1e-3
"""Two slices closer than this along the normal count as one position."""


def pydicom_module():
    try:
        import pydicom
    except ImportError:
        raise InputError("Reading DICOM needs pydicom: pip install 'refusion-studio[medical]' "
                         "(or pip install pydicom)") from None
    return pydicom


@dataclass
class _Image:
    """One file's header, read and checked (see the module docstring)."""
    file: Path
    ds: object
    rows: int
    cols: int
    frames: int
    iop: np.ndarray  # (6,) unit row and column directions
    spacing: tuple[float, float]  # (row, column) mm
    slope: float
    inter: float
    series: str

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.iop[:3], self.iop[3:])


def read_dicom(path: Path) -> dict:
    """A folder (one series) or one file -> dict(data (S, H, W) float32, spacing, affine, modality, units)."""
    pydicom = pydicom_module()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    sets = [(f, ds) for f, ds in ((f, _read_file(pydicom, f)) for f in files)
            if ds is not None and "PixelData" in ds]
    if not sets:
        raise InputError(f"{path.name} holds no DICOM images")
    images = [_image(f, ds) for f, ds in sets]
    series = {im.series for im in images}
    if len(series) > 1:
        raise InputError(f"{path.name} holds {len(series)} DICOM series; put each series in its own folder")
    if len(images) == 1 and images[0].frames > 1:
        return _multi_frame(images[0])
    return _series(images, path)


def _read_file(pydicom, f: Path):
    """A dataset; None for a file that is not DICOM (skipped, like any stray file)."""
    try:
        return pydicom.dcmread(f)
    except pydicom.errors.InvalidDicomError:
        return None
    except Exception as err:
        if _has_dicom_marker(f):  # DICOM, but damaged: leaving it out would leave a hole in the volume
            raise InputError(f"{f.name} is a damaged DICOM file: {first_line(err, 120)}") from None
        return None


def _has_dicom_marker(f: Path) -> bool:
    try:
        with open(f, "rb") as fh:
            return fh.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _get(ds, keyword: str, f: Path, convert=float, count: int | None = 1, default=None):
    """``ds``'s ``keyword`` converted by ``convert``: one value (``count`` 1), exactly ``count`` values, or any
    number (``count`` None); ``default`` when absent or empty. A value that cannot be read or converted, the
    wrong number of values, or a non-finite float is refused, naming the attribute."""
    try:
        if keyword not in ds:
            return default
        value = ds[keyword].value
    except Exception as err:  # pydicom converts on access: a damaged value surfaces here
        raise InputError(f"{f.name} has an unreadable {keyword} ({first_line(err, 80)}); the file is "
                         "damaged") from None
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return default
    values = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    if not values:
        return default
    shown = printable(", ".join(str(v) for v in values), 60)
    try:
        values = [convert(v) for v in values]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{f.name} has an unreadable {keyword} ({shown!r}); the file is damaged") from None
    if count is not None and len(values) != count:
        raise InputError(f"{f.name}'s {keyword} has {len(values)} value(s) ({shown}) where DICOM gives {count}")
    if convert is float and not all(np.isfinite(values)):
        raise InputError(f"{f.name}'s {keyword} is not a finite number ({shown}); the file is damaged")
    return values[0] if count == 1 else values


def _whole(v) -> int:
    x = float(v)
    if not x.is_integer():
        raise ValueError(v)
    return int(x)


def _image(f: Path, ds) -> _Image:
    rows, cols = _get(ds, "Rows", f, int), _get(ds, "Columns", f, int)
    if rows is None or cols is None:
        raise InputError(f"{f.name} has no {'Rows' if rows is None else 'Columns'}: its image size is unknown")
    frames = _get(ds, "NumberOfFrames", f, _whole, default=1)
    if rows < 1 or cols < 1 or frames < 1:
        raise InputError(f"{f.name} declares {frames} frame(s) of {cols} × {rows} pixels; a DICOM image needs "
                         "at least one of each")
    check_voxels(f.name, (frames, rows, cols), f"{frames} frame(s) of {cols} × {rows} pixels")
    samples = _get(ds, "SamplesPerPixel", f, int, default=1)
    if samples != 1:
        raise InputError(f"{f.name} has {samples} samples per pixel (a colour image?); only grey volumes can "
                         "be read")
    if _get(ds, "PhotometricInterpretation", f, str, default="") == "PALETTE COLOR":
        raise InputError(f"{f.name} is a palette-colour image (its values are colour indices); only grey "
                         "volumes can be read")
    bits = _get(ds, "BitsAllocated", f, int)
    if bits is None:
        raise InputError(f"{f.name} has no BitsAllocated: its pixel format is unknown")
    if bits not in (1, 8, 16, 32, 64):
        raise InputError(f"{f.name} declares {bits} bits per pixel (BitsAllocated); DICOM images have 1, 8, 16, "
                         "32 or 64")
    try:
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    except Exception:  # no file meta: pydicom will say when decoding
        syntax = ""
    if syntax in NATIVE_SYNTAXES:
        need = (rows * cols * frames * bits + 7) // 8
        try:
            have = len(ds.PixelData)
        except Exception as err:
            raise InputError(f"{f.name} has unreadable pixel data ({first_line(err, 80)})") from None
        if have < need:
            raise InputError(f"{f.name} is truncated or damaged: its pixel data holds {have:,} bytes but its "
                             f"header declares {frames} frame(s) of {cols} × {rows} pixels of {bits} bits "
                             f"({need:,} bytes)")
    slope, inter = _rescale(ds, f)
    return _Image(f, ds, rows, cols, frames, _orientation(ds, f), _pixel_spacing(ds, f), slope, inter,
                  str(_get(ds, "SeriesInstanceUID", f, str, default="")))


def _functional(ds, seq: str, frame: int, f: Path):
    """An item of a functional group (per-frame first, then shared) of an enhanced multi-frame file."""
    try:
        for groups, idx in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
            g = ds.get(groups)
            if g is not None and len(g) > idx and seq in g[idx] and len(g[idx][seq].value):
                return g[idx][seq].value[0]
    except Exception as err:
        raise InputError(f"{f.name} has an unreadable {seq} ({first_line(err, 80)}); the file is damaged") \
            from None
    return None


def _rescale(ds, f: Path) -> tuple[float, float]:
    item = _functional(ds, "PixelValueTransformationSequence", 0, f)
    src = item if item is not None and "RescaleSlope" in item else ds
    slope = _get(src, "RescaleSlope", f) or 1.0  # a slope of 0 would erase the image: read as missing
    return slope, _get(src, "RescaleIntercept", f) or 0.0


def _orientation(ds, f: Path) -> np.ndarray:
    item = _functional(ds, "PlaneOrientationSequence", 0, f)
    iop = _get(item if item is not None else ds, "ImageOrientationPatient", f, count=6)
    if iop is None:
        return np.array([1.0, 0, 0, 0, 1.0, 0])
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if not (1e-6 < nr < 1e150 and 1e-6 < nc < 1e150) or abs(np.dot(row / nr, col / nc)) > 0.01:
        raise InputError(f"{f.name}'s ImageOrientationPatient ({', '.join(f'{v:g}' for v in iop)}) does not "
                         "give two perpendicular directions; the file is damaged")
    return np.concatenate([row / nr, col / nc])


def _pixel_spacing(ds, f: Path) -> tuple[float, float]:
    item = _functional(ds, "PixelMeasuresSequence", 0, f)
    ps = (_get(item, "PixelSpacing", f, count=2) if item is not None else None) or \
        _get(ds, "PixelSpacing", f, count=2) or [1.0, 1.0]
    if min(ps) <= 0:
        raise InputError(f"{f.name}'s PixelSpacing ({ps[0]:g}, {ps[1]:g}) must be positive millimetres")
    return float(ps[0]), float(ps[1])


def _position(ds, f: Path) -> np.ndarray | None:
    p = _get(ds, "ImagePositionPatient", f, count=3)
    return None if p is None else np.asarray(p, float)


def _pixels(im: _Image) -> np.ndarray:
    """The rescaled values, float32: (rows, cols) for a slice, (frames, rows, cols) for a multi-frame file."""
    try:
        stored = np.asarray(im.ds.pixel_array)
    except MemoryError:
        raise InputError(f"Not enough memory to decode the pixel data of {im.file.name}") from None
    except Exception as err:
        try:
            syntax = printable(im.ds.file_meta.TransferSyntaxUID, 64)
        except Exception:
            syntax = "unknown"
        raise InputError(f"Cannot decode the pixel data of {im.file.name} (transfer syntax {syntax}): "
                         f"{first_line(err, 160)}") from None
    shape = (im.rows, im.cols) if im.frames == 1 else (im.frames, im.rows, im.cols)
    if stored.shape != shape:
        raise InputError(f"{im.file.name}'s pixel data decodes to {stored.shape}, not the {shape} its header "
                         "declares")
    out = np.empty(shape, np.float32)
    flat = out.reshape(-1, im.rows, im.cols)
    for i, frame in enumerate(stored.reshape(-1, im.rows, im.cols)):
        values = frame.astype(np.float64) * im.slope + im.inter
        if not np.isfinite(values).all() or np.abs(values).max() > FLOAT32_MAX:
            raise InputError(f"{im.file.name}'s RescaleSlope {im.slope:g} and RescaleIntercept {im.inter:g} take "
                             "its values beyond what a float32 holds; the file is damaged")
        flat[i] = values
    return out


def _order(keys: list[float], names: list[str], where: str, by_position: bool) -> np.ndarray:
    """The sorting order of ``keys``; refuses two equal keys (one position twice) and, for positions, a
    gap (a step more than 1.5 times the median: a missing slice)."""
    order = np.argsort(keys, kind="stable")
    k = np.asarray(keys, float)[order]
    steps = np.diff(k)
    if not steps.size:
        return order
    i = int(np.argmin(steps))
    if steps[i] < (POSITION_TOLERANCE_MM if by_position else 0.5):
        a, b = names[order[i]], names[order[i + 1]]
        if by_position:
            raise InputError(f"{a} and {b} in {where} lie at the same position ({k[i]:g} mm along the slice "
                             "normal): a slice is there twice, or the folder holds more than one volume")
        raise InputError(f"{a} and {b} in {where} have no ImagePositionPatient and share InstanceNumber "
                         f"{k[i]:g}: their order is unknown")
    if by_position and steps.size > 1:
        median = float(np.median(steps))
        j = int(np.argmax(steps))
        if steps[j] > 1.5 * median + POSITION_TOLERANCE_MM:
            raise InputError(f"The slices in {where} are unevenly spaced: {steps[j]:g} mm between "
                             f"{names[order[j]]} and {names[order[j + 1]]} where the median step is {median:g} mm "
                             "(a slice missing?)")
    return order


def _series(images: list[_Image], path: Path) -> dict:
    first = images[0]
    if any(im.frames > 1 for im in images):
        raise InputError(f"{path.name} holds multi-frame files among other files; give the multi-frame file "
                         "alone, or a folder of single-frame slices")
    shapes = {(im.rows, im.cols) for im in images}
    if len(shapes) > 1:
        raise InputError(f"The slices in {path.name} differ in size ({sorted(shapes)}); not one volume")
    if any(not np.allclose(im.iop, first.iop, atol=1e-3) for im in images):
        raise InputError(f"The slices in {path.name} have different orientations (ImageOrientationPatient); "
                         "not one volume")
    check_voxels(path.name, (len(images), first.rows, first.cols),
                 f"{len(images)} slices of {first.cols} × {first.rows} pixels")
    pos = [_position(im.ds, im.file) for im in images]
    have_pos = all(p is not None for p in pos)
    if have_pos:
        keys = [float(np.dot(p, first.normal)) for p in pos]
    else:
        numbers = [_get(im.ds, "InstanceNumber", im.file) for im in images]
        keys = numbers if all(n is not None for n in numbers) else list(range(len(images)))  # else: file order
    order = _order(keys, [im.file.name for im in images], path.name, have_pos)
    images = [images[i] for i in order]
    data = np.stack([_pixels(im) for im in images])
    return _assemble(data, first, [pos[i] for i in order] if have_pos else None)


def _multi_frame(im: _Image) -> dict:
    frames = _pixels(im)
    items = [_functional(im.ds, "PlanePositionSequence", i, im.file) for i in range(im.frames)]
    pos = [None if item is None else _position(item, im.file) for item in items]
    positions = pos if all(p is not None for p in pos) else None
    if positions:
        keys = [float(np.dot(p, im.normal)) for p in positions]
        order = _order(keys, [f"frame {i + 1}" for i in range(im.frames)], im.file.name, True)
        frames, positions = frames[order], [positions[i] for i in order]
    return _assemble(frames, im, positions)


def _assemble(data: np.ndarray, im: _Image, positions) -> dict:
    """Slice step: the median distance between sorted positions along the normal; without positions,
    SpacingBetweenSlices, else SliceThickness (the first that is a positive number), else 1 mm."""
    ds, f = im.ds, im.file
    dy, dx = im.spacing
    if positions and len(positions) > 1:
        dz = float(np.median(np.diff([np.dot(p, im.normal) for p in positions])))
    else:
        given = [_get(ds, k, f) for k in ("SpacingBetweenSlices", "SliceThickness")]
        dz = next((float(v) for v in given if v is not None and v > 0), 1.0)
    origin = positions[0] if positions else _position(ds, f)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = im.iop[:3] * dx, im.iop[3:] * dy
    lps[:3, 2] = im.normal * dz
    lps[:3, 3] = origin if origin is not None else (0.0, 0.0, 0.0)
    modality = printable(_get(ds, "Modality", f, str, default=""), 16)  # both end up in messages and files
    units = "HU" if modality == "CT" else printable(_get(ds, "RescaleType", f, str, default=""), 16)
    return {"data": data.astype(np.float32, copy=False), "spacing": (dz, dy, dx), "affine": LPS_TO_RAS @ lps,
            "modality": modality, "units": units}
