"""Checks shared by the volume readers (NIfTI, DICOM): size limits read from headers, non-finite voxels,
geometry, and error messages that stay one line.

**Size limit.** A volume may hold at most :data:`MAX_VOXELS` voxels (``$REFUSION_MAX_VOXELS`` changes it),
checked from the header before any voxel is read; each slice also stays under the image pixel limit
(:func:`refusion_core.io.images.max_pixels`). Besides, an uncompressed file must hold all the bytes its
header declares, and a gzipped NIfTI cannot declare more than deflate could expand its size to: a small
file that declares a huge volume is refused as damaged, whatever the limit.

**NaN and infinity.** NaN or ±inf voxels are read as the volume's lowest finite value (its background),
the rule float images follow (:func:`refusion_core.io.images.read_image`), and a warning names how many;
a volume with no finite voxel at all is refused. So every volume read is finite and windows to [0, 1].

**Warnings** that pydicom and nibabel raise while reading (an invalid value for a VR, an odd qfac ...) go
to the log file (DEBUG), not to the terminal: what the user sees is the one line of an InputError, or
nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

import numpy as np

from refusion_core.errors import InputError

MAX_VOXELS = 500_000_000
"""The largest volume read, in voxels (2 GB as float32; a 512 × 512 × 1900 CT passes). Checked from the
header before reading; ``$REFUSION_MAX_VOXELS`` changes it."""
DEFLATE_MAX_RATIO = 1032
"""The most that deflate (gzip) can expand: 258 bytes from 2 bits."""
FLOAT32_MAX = float(np.finfo(np.float32).max)


def max_voxels() -> int:
    try:
        return int(os.environ.get("REFUSION_MAX_VOXELS", MAX_VOXELS))
    except ValueError:
        raise InputError("REFUSION_MAX_VOXELS must be a whole number of voxels") from None


@contextlib.contextmanager
def warnings_to_log(name: str):
    """Collect the Python warnings raised inside and log them (DEBUG, ``refusion`` logger) instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                logging.getLogger("refusion").debug("%s: %s: %s", name, w.category.__name__, w.message)


def printable(text: object, limit: int = 200) -> str:
    """``text`` as one short printable line: whitespace runs become one space, control characters ``?``
    (values from a damaged file may hold anything, a newline included)."""
    text = " ".join(str(text).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def first_line(err: BaseException, limit: int = 200) -> str:
    """An exception's message as one short printable line (its type's name when it has no message)."""
    return printable(err, limit) or type(err).__name__


def check_voxels(name: str, shape: tuple[int, ...], described: str | None = None) -> int:
    """Refuse a declared shape with an empty or negative side, a slice (the last two sides) above the pixel
    limit, or more than :func:`max_voxels` in all. ``described``: the shape in words for the message
    (default ``a × b × c voxels``). Returns the number of voxels."""
    from refusion_core.io.images import max_pixels

    dims = described or f"{' × '.join(str(int(d)) for d in shape)} voxels"
    if not shape or min(shape) < 1:
        raise InputError(f"{name} declares {dims}: every side needs at least one")
    total = int(np.prod([int(d) for d in shape], dtype=object))
    limit = max_voxels()
    if total > limit:
        raise InputError(f"{name} declares {dims} ({total / 1e6:,.0f} million voxels), above the limit of "
                         f"{limit / 1e6:,.0f} million (set REFUSION_MAX_VOXELS to raise it)")
    plane = int(shape[-1]) * int(shape[-2]) if len(shape) >= 2 else total
    if plane > max_pixels():
        raise InputError(f"{name} declares slices of {int(shape[-1])} × {int(shape[-2])} pixels, above the limit "
                         f"of {max_pixels() / 1e6:.0f} megapixels (set REFUSION_MAX_PIXELS to raise it)")
    return total


def finite_voxels(data: np.ndarray, name: str) -> np.ndarray:
    """``data`` with NaN and ±inf replaced by its lowest finite value (in place when it can); refuses a volume
    without any finite value. See the module docstring."""
    finite = np.isfinite(data)
    if finite.all():
        return data
    if not finite.any():
        raise InputError(f"{name} has no finite voxel value (all NaN or infinite): nothing to fuse")
    bad = int(finite.size - np.count_nonzero(finite))
    low = float(data[finite].min())
    data = np.where(finite, data, np.float32(low)).astype(np.float32, copy=False)
    logging.getLogger("refusion").warning("%s: %d NaN or infinite voxel(s) read as the lowest value, %g",
                                          name, bad, low)
    return data


def check_geometry(name: str, spacing, affine: np.ndarray) -> None:
    """Voxel sizes must be positive finite millimetres and the voxel -> world matrix finite."""
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        sizes = " × ".join(f"{float(s):g}" for s in spacing)
        raise InputError(f"{name} gives voxel sizes of {sizes} mm; they must be positive numbers")
    if np.shape(affine) != (4, 4) or not np.isfinite(affine).all():
        raise InputError(f"{name} gives a voxel-to-world transform with non-finite numbers; its header is "
                         "damaged")
