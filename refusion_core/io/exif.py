"""EXIF blocks: normalising, resetting the orientation tag, and the TIFF cases OpenCV does not cover.

An EXIF block here is ``bytes`` in TIFF layout (starting ``II*\\0`` or ``MM\\0*``), without the
``Exif\\0\\0`` prefix JPEG puts in front — the form OpenCV's ``imdecodeWithMetadata`` returns and
``imencodeWithMetadata`` takes. OpenCV (4.12+ / 5) reads and writes EXIF for JPEG, PNG (eXIf chunk) and
WebP; TIFF's EXIF lives in the file's own directory, so for TIFF Pillow reads it (descriptive IFD0 tags,
the Exif and GPS sub-directories; the image-structure tags are left behind) and writes it (uncompressed,
for grey 8/16-bit and RGB 8-bit: Pillow cannot write 16-bit RGB). Pillow is optional: without it, TIFF
EXIF is neither read nor written.

Pixels are rotated upright on reading, so EXIF written back must say so: :func:`reset_orientation` sets
tag 0x0112 (Orientation) to 1 in place, parsing IFD0 directly (no Pillow needed).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

PREFIX = b"Exif\x00\x00"
ORIENTATION = 0x0112
_TIFF_KEEP = (270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 33432)
"""IFD0 tags carried over from a TIFF: description, make, model, orientation, resolution, software,
date/time, artist, copyright."""
_SUB_IFDS = (0x8769, 0x8825)  # Exif, GPS


def bare(exif: bytes) -> bytes:
    """Strip a leading ``Exif\\0\\0``."""
    return exif[len(PREFIX):] if exif.startswith(PREFIX) else exif


def reset_orientation(exif: bytes) -> bytes:
    """The same EXIF block with Orientation set to 1 (top-left), if the tag is present; otherwise as is."""
    b = bytearray(bare(exif))
    if len(b) < 8 or bytes(b[:2]) not in (b"II", b"MM"):
        return bytes(b)
    e = "<" if b[:2] == b"II" else ">"
    off = struct.unpack_from(e + "I", b, 4)[0]
    if off + 2 > len(b):
        return bytes(b)
    for i in range(struct.unpack_from(e + "H", b, off)[0]):
        p = off + 2 + 12 * i
        if p + 12 > len(b):
            break
        tag, typ, count = struct.unpack_from(e + "HHI", b, p)
        if tag == ORIENTATION and typ == 3 and count == 1:  # SHORT, stored left-justified in the value field
            struct.pack_into(e + "H", b, p + 8, 1)
    return bytes(b)


def orientation(exif: bytes | None) -> int | None:
    """The Orientation tag's value (1..8), or None."""
    if not exif:
        return None
    b = bare(exif)
    if len(b) < 8 or b[:2] not in (b"II", b"MM"):
        return None
    e = "<" if b[:2] == b"II" else ">"
    off = struct.unpack_from(e + "I", b, 4)[0]
    n = struct.unpack_from(e + "H", b, off)[0] if off + 2 <= len(b) else 0
    for i in range(n):
        p = off + 2 + 12 * i
        if p + 12 <= len(b) and struct.unpack_from(e + "H", b, p)[0] == ORIENTATION:
            return struct.unpack_from(e + "H", b, p + 8)[0]
    return None


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def read_tiff_exif(data: bytes) -> bytes | None:
    """The EXIF of a TIFF file's bytes (see the module docstring), or None (none, or no Pillow)."""
    Image = _pillow()
    if Image is None:
        return None
    try:
        src = Image.open(io.BytesIO(data)).getexif()
        out = Image.Exif()
        for tag in _TIFF_KEEP:
            if tag in src:
                out[tag] = src[tag]
        for tag in _SUB_IFDS:
            sub = src.get_ifd(tag)
            if sub:
                out[tag] = dict(sub)
        return bare(out.tobytes()) if len(out) else None
    except Exception:  # unreadable metadata never stops an image from loading
        return None


def tiff_can_carry(img: np.ndarray) -> bool:
    """Whether :func:`encode_tiff_with_exif` can write ``img`` (grey 8/16-bit or RGB 8-bit, Pillow present)."""
    return _pillow() is not None and (img.ndim == 2 or img.dtype == np.uint8)


def encode_tiff_with_exif(img: np.ndarray, exif: bytes) -> bytes:
    """Encode (H, W) uint8/uint16 or (H, W, 3) uint8 RGB as an uncompressed TIFF holding ``exif``."""
    Image = _pillow()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="TIFF", exif=PREFIX + bare(exif))
    return buf.getvalue()


def is_tiff(path: Path) -> bool:
    return path.suffix.lower() in (".tif", ".tiff")
