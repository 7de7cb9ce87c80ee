"""Mutation fuzzing of the engine's readers (issue 17): seeds, mutations and one oracle.

Shared by ``tests/refusion_core/io/test_fuzz_images.py``, ``tests/refusion_core/medical/test_fuzz_volumes.py``
(bounded runs in CI) and ``scripts/fuzz_readers.py`` (long runs). Not a test module itself (no ``test_``
prefix); the tests and the script load it by path as ``refusion_fuzz_fuzzing``, ``tests/`` being no package.

A **case** is ``(reader, seed, mutation, n)``: ``n`` seeds the random generator of that one mutation, so
:func:`materialise` writes the very same file(s) every time and a failure is reproduced by
``python scripts/fuzz_readers.py --repro reader:seed:mutation:n``.

**Seeds** are small valid files built here (PNG grey / RGB / RGBA / 16-bit / palette, JPEG baseline and
progressive, TIFF uint16 / float32 / RGB, BMP, PGM, WebP; NIfTI float32 / int16 with scaling, plain and
gzipped; DICOM single-frame series and multi-frame files) plus the repository's ``resources/samples/*.png``
and ``resources/samples/volumes/*.nii.gz``.

**Mutations**: byte-level (bit flips, random byte runs, "interesting" integers at header offsets,
truncation, deletion, insertion, duplication) on any file, and format-aware ones at known offsets: PNG
chunk lengths (the PLTE length among them) and IHDR fields (CRC recomputed so that libpng gets past it),
chunk data with a valid CRC; JPEG SOF sizes and segment lengths; TIFF IFD0 entries; BMP header fields;
NIfTI header fields (``dim[]``, datatype, bitpix, vox_offset, pixdim, scl_slope/inter, q/sform) and NaN /
inf voxels; DICOM attributes edited with pydicom before writing (Rows, Columns, BitsAllocated, BitsStored,
PixelRepresentation, SamplesPerPixel, NumberOfFrames, ImagePositionPatient, PixelSpacing, RescaleSlope,
transfer syntax, pixel data length, ...) and series-level edits (slices sharing one position, mixed
sizes, a second series).

**Oracle** (:func:`run_case`): each read must either return a well-formed result or raise
:class:`refusion_core.errors.InputError` with a one-line message. Well-formed: an image is a non-empty
``(H, W)`` or ``(H, W, 3)`` uint8/uint16 array within the pixel limit; a volume is float32 ``(S, H, W)``
with only finite values, finite spacing and affine, and windows (:func:`refusion_core.medical.windowing.window`)
to finite values in [0, 1]. Anything else - another exception type, a multi-line message, a non-finite value,
a read slower than :data:`SLOW_S` - is a failure.
"""

from __future__ import annotations

import copy
import gzip
import io
import math
import struct
import sys
import time
import traceback
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "resources" / "samples"
SLOW_S = 5.0
"""A single read taking more CPU time than this (seconds), or six times as long on the clock (a loaded CI
machine stalls), counts as a hang."""

IMAGE_READERS = ("read_image", "read_image_exif")
VOLUME_READERS = ("read_volume",)
READERS = IMAGE_READERS + VOLUME_READERS


# --- seeds ------------------------------------------------------------------------------------------------

@dataclass
class Seed:
    """``kind``: png, jpeg, tiff, bmp, pnm, webp, nii, niigz, dicom (one file), series (a folder).
    ``data``: file bytes (for niigz: the *uncompressed* NIfTI bytes), or a list of pydicom Datasets."""
    name: str
    kind: str
    suffix: str
    data: object


def _ramp(h: int, w: int, channels: int = 0, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    shape = (h, w, channels) if channels else (h, w)
    base = np.linspace(0, top, h * w).reshape(h, w)
    if channels:
        base = np.dstack([np.roll(base, 3 * k, axis=1) for k in range(channels)])
    noise = rng.integers(0, max(top // 16, 1), size=shape)
    return np.clip(base + noise, 0, top).astype(dtype)


def _cv_encode(suffix: str, img: np.ndarray, params=()) -> bytes:
    import cv2

    ok, buf = cv2.imencode(suffix, img, list(params))
    assert ok, suffix
    return buf.tobytes()


def _pil_encode(fmt: str, img, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _palette_png() -> bytes:
    from PIL import Image

    im = Image.fromarray(_ramp(12, 16) // 32).convert("P")
    im.putpalette([v for i in range(8) for v in (i * 32, 255 - i * 32, (i * 80) % 256)])
    return _pil_encode("PNG", im)


def _float_tiff(specials: np.ndarray | None = None) -> bytes:
    x = _ramp(12, 16, dtype=np.uint16).astype(np.float32) / 65535 * 3.0 - 1.0  # not in [0, 1]: stretched
    return _cv_encode(".tiff", x if specials is None else specials)


def _with_exif_png() -> bytes:
    import cv2

    exif = b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00"
    if hasattr(cv2, "imencodeWithMetadata"):
        ok, buf = cv2.imencodeWithMetadata(".png", _ramp(12, 16), [cv2.IMAGE_METADATA_EXIF],
                                           [np.frombuffer(exif, np.uint8)])
        if ok:
            return buf.tobytes()
    return _cv_encode(".png", _ramp(12, 16))


def image_seeds() -> list[Seed]:
    import cv2
    from PIL import Image

    seeds = [
        Seed("png_grey", "png", ".png", _cv_encode(".png", _ramp(12, 16))),
        Seed("png_rgb", "png", ".png", _cv_encode(".png", _ramp(12, 16, 3))),
        Seed("png_rgba", "png", ".png", _cv_encode(".png", _ramp(10, 14, 4))),
        Seed("png_16bit", "png", ".png", _cv_encode(".png", _ramp(12, 16, dtype=np.uint16))),
        Seed("png_16bit_rgb", "png", ".png", _cv_encode(".png", _ramp(9, 11, 3, dtype=np.uint16))),
        Seed("png_palette", "png", ".png", _palette_png()),
        Seed("png_exif", "png", ".png", _with_exif_png()),
        Seed("jpeg_grey", "jpeg", ".jpg", _cv_encode(".jpg", _ramp(16, 24))),
        Seed("jpeg_rgb", "jpeg", ".jpg", _cv_encode(".jpg", _ramp(16, 24, 3))),
        Seed("jpeg_progressive", "jpeg", ".jpg",
             _cv_encode(".jpg", _ramp(16, 24, 3), (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))),
        Seed("tiff_uint16", "tiff", ".tif", _pil_encode("TIFF", Image.fromarray(_ramp(12, 16, dtype=np.uint16)))),
        Seed("tiff_float32", "tiff", ".tif", _float_tiff()),
        Seed("tiff_rgb_lzw", "tiff", ".tif", _pil_encode("TIFF", Image.fromarray(_ramp(12, 16, 3)),
                                                         compression="tiff_lzw")),
        Seed("bmp_rgb", "bmp", ".bmp", _cv_encode(".bmp", _ramp(12, 16, 3))),
        Seed("bmp_palette", "bmp", ".bmp", _pil_encode("BMP", Image.fromarray(_ramp(12, 16) // 32).convert("P"))),
        Seed("pgm", "pnm", ".pgm", _cv_encode(".pgm", _ramp(12, 16))),
        Seed("webp", "webp", ".webp", _cv_encode(".webp", _ramp(12, 16, 3))),
    ]
    for p in sorted(SAMPLES.glob("*.png")):
        if p.stat().st_size <= 300_000:  # the big ones cost decode time and add nothing the others lack
            seeds.append(Seed(f"sample_{p.stem}", "png", ".png", p.read_bytes()))
    return seeds


def _nifti_bytes(data_srw: np.ndarray, slope: float | None = None, descrip: bytes = b"MR") -> bytes:
    import nibabel as nib

    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    affine[:3, 3] = (-10, 20, 5)
    img = nib.Nifti1Image(np.ascontiguousarray(data_srw.transpose(2, 1, 0)), affine)
    img.header["descrip"] = descrip
    if slope is not None:
        img.header.set_slope_inter(slope, -1024.0)
    return img.to_bytes()


def _volume_array(dtype=np.float32) -> np.ndarray:
    x = np.arange(4 * 6 * 5, dtype=np.float64).reshape(4, 6, 5) * 10 - 100
    return x.astype(dtype)


DICOM_SERIES = "1.2.826.0.1.3680043.8.498.1"


def dicom_dataset(pixels: np.ndarray, z: float, number: int, series: str = DICOM_SERIES, frames: int = 1,
                  signed: bool = False, bits: int = 16):
    """A CT DICOM dataset (pydicom) with fixed UIDs, so that a seed is the same on every run."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    uid = f"{series}.{number}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("seed", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, uid
    ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = "CT", series, number
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-10.0, -20.0, z]
    ds.PixelSpacing, ds.SliceThickness = [0.9, 0.8], 2.5
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = int(signed)
    if frames > 1:
        ds.NumberOfFrames = frames
    dtype = {(16, False): np.uint16, (16, True): np.int16, (8, False): np.uint8, (8, True): np.int8}[bits, signed]
    ds.PixelData = pixels.astype(dtype).tobytes()
    return ds


def volume_seeds() -> list[Seed]:
    raw = (np.arange(3 * 6 * 5).reshape(3, 6, 5) * 7 + 100)
    seeds = [
        Seed("nii_float32", "nii", ".nii", _nifti_bytes(_volume_array())),
        Seed("nii_int16_scaled", "nii", ".nii", _nifti_bytes(_volume_array(np.int16) + 200, slope=2.0)),
        Seed("niigz_float32", "niigz", ".nii.gz", _nifti_bytes(_volume_array() * 3 + 1000, descrip=b"PT")),
        Seed("dicom_series", "series", "", [dicom_dataset(raw[i], 5.0 + 2.5 * i, i + 1) for i in range(3)]),
        Seed("dicom_series_signed8", "series", "",
             [dicom_dataset(raw[i] % 100 - 50, 2.0 * i, i + 1, signed=True, bits=8) for i in range(3)]),
        Seed("dicom_multiframe", "dicom", ".dcm", [dicom_dataset(raw, 0.0, 1, frames=3)]),
    ]
    for p in sorted((SAMPLES / "volumes").glob("*.nii.gz")):
        seeds.append(Seed(f"sample_{p.name.split('.')[0]}", "niigz", ".nii.gz", gzip.decompress(p.read_bytes())))
    return seeds


_SEEDS: dict[str, dict[str, Seed]] = {}


def seeds_for(reader: str) -> list[Seed]:
    """The seeds of a reader, built once (image seeds and volume seeds separately)."""
    family = "volume" if reader in VOLUME_READERS else "image"
    if family not in _SEEDS:
        _SEEDS[family] = {s.name: s for s in (volume_seeds() if family == "volume" else image_seeds())}
    return list(_SEEDS[family].values())


# --- mutations --------------------------------------------------------------------------------------------

INT32 = [0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 14000, 30000, 0x7FFFFFFF,
         0x80000000, 0xA0000000, 0xFFFFFFFF, 0xFFFFFFFE]
INT16 = [0, 1, 2, 3, 4, 7, 8, 12, 16, 32, 64, 255, 256, 1000, 0x7FFF, 0x8000, 0xFFFF, 0xFFFE]
FLOATS = [0.0, -0.0, -1.0, 1e-30, 1e30, 3.4e38, -3.4e38, float("nan"), float("inf"), float("-inf"), 1e5]


def _offset(rng, n: int, head: int = 512) -> int:
    """A position in ``n`` bytes, half the time within the first ``head`` bytes (where headers live)."""
    if n <= 1:
        return 0
    return int(rng.integers(0, min(n, head))) if rng.random() < 0.5 else int(rng.integers(0, n))


def m_flip(rng, b: bytes) -> bytes:
    b = bytearray(b)
    for _ in range(int(rng.integers(1, 9))):
        i = _offset(rng, len(b))
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def m_overwrite(rng, b: bytes) -> bytes:
    b = bytearray(b)
    i = _offset(rng, len(b))
    run = rng.integers(0, 256, size=int(rng.integers(1, 33)), dtype=np.uint8).tobytes()
    b[i:i + len(run)] = run
    return bytes(b)


def m_interesting(rng, b: bytes) -> bytes:
    b = bytearray(b)
    width = int(rng.choice([1, 2, 4]))
    value = int(rng.choice(INT32)) & ((1 << (8 * width)) - 1)
    i = _offset(rng, max(len(b) - width, 1))
    b[i:i + width] = value.to_bytes(width, "little" if rng.random() < 0.5 else "big")
    return bytes(b)


def m_truncate(rng, b: bytes) -> bytes:
    return b[:_offset(rng, len(b))]


def m_delete(rng, b: bytes) -> bytes:
    i = _offset(rng, len(b))
    return b[:i] + b[i + int(rng.integers(1, 65)):]


def m_insert(rng, b: bytes) -> bytes:
    i = _offset(rng, len(b))
    return b[:i] + rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8).tobytes() + b[i:]


def m_duplicate(rng, b: bytes) -> bytes:
    i, j = sorted(int(x) for x in rng.integers(0, max(len(b), 1), size=2))
    k = _offset(rng, len(b))
    return b[:k] + b[i:j][:4096] + b[k:]


BYTE_MUTATIONS: dict[str, Callable] = {"flip": m_flip, "overwrite": m_overwrite, "interesting": m_interesting,
                                        "truncate": m_truncate, "delete": m_delete, "insert": m_insert,
                                        "duplicate": m_duplicate}


def png_chunks(b: bytes) -> list[tuple[int, int, bytes]]:
    """(offset of the length field, length, type) of each chunk, as far as the file can be walked."""
    out, p = [], 8
    while p + 8 <= len(b):
        length, ctype = struct.unpack(">I4s", b[p:p + 8])
        out.append((p, length, ctype))
        p += 12 + length
    return out


def m_png_chunk_length(rng, b: bytes) -> bytes:
    chunks = png_chunks(b)
    if not chunks:
        return m_interesting(rng, b)
    p, length, _ = chunks[int(rng.integers(0, len(chunks)))]
    new = int(rng.choice(INT32)) if rng.random() < 0.7 else length + int(rng.integers(-16, 17))
    return b[:p] + struct.pack(">I", new & 0xFFFFFFFF) + b[p + 4:]


def m_png_plte_length(rng, b: bytes) -> bytes:
    """The issue's hostile palette PNG: PLTE's length field reads ~2.69 GB (or another large value)."""
    for p, _, ctype in png_chunks(b):
        if ctype == b"PLTE":
            new = 0xA0A0A0A0 if rng.random() < 0.5 else int(rng.integers(769, 0x100000000))
            return b[:p] + struct.pack(">I", new) + b[p + 4:]
    return m_png_chunk_length(rng, b)


def _png_with_data(b: bytes, p: int, data: bytes) -> bytes:
    """Replace the data of the chunk whose length field is at ``p``, with length and CRC made valid."""
    length, ctype = struct.unpack(">I4s", b[p:p + 8])
    crc = struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)
    return b[:p] + struct.pack(">I", len(data)) + ctype + data + crc + b[p + 12 + length:]


def m_png_ihdr(rng, b: bytes) -> bytes:
    chunks = png_chunks(b)
    if not chunks or chunks[0][2] != b"IHDR" or chunks[0][1] != 13:
        return m_interesting(rng, b)
    p = chunks[0][0]
    w, h, depth, colour, comp, filt, lace = struct.unpack(">IIBBBBB", b[p + 8:p + 21])
    field = rng.integers(0, 7)
    if field == 0:
        w = int(rng.choice(INT32))
    elif field == 1:
        h = int(rng.choice(INT32))
    elif field == 2:
        w, h = int(rng.choice([14000, 30000, 65535, 100000])), int(rng.choice([14000, 30000, 65535]))
    elif field == 3:
        depth = int(rng.choice([0, 1, 2, 4, 8, 16, 3, 32, 255]))
    elif field == 4:
        colour = int(rng.choice([0, 2, 3, 4, 6, 1, 5, 7, 255]))
    elif field == 5:
        comp, filt = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    else:
        lace = int(rng.integers(0, 3))
    data = struct.pack(">IIBBBBB", w & 0xFFFFFFFF, h & 0xFFFFFFFF, depth, colour, comp, filt, lace)
    return _png_with_data(b, p, data)


def m_png_chunk_data(rng, b: bytes) -> bytes:
    """Mutate one chunk's data and give it a valid CRC (libpng would stop at a bad CRC otherwise)."""
    chunks = [c for c in png_chunks(b) if c[0] + 12 + c[1] <= len(b)]
    if not chunks:
        return m_flip(rng, b)
    p, length, _ = chunks[int(rng.integers(0, len(chunks)))]
    data = b[p + 8:p + 8 + length]
    op = rng.choice(["flip", "overwrite", "truncate", "insert", "interesting"])
    data = BYTE_MUTATIONS[str(op)](rng, data) if data else rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    return _png_with_data(b, p, data)


def m_png_idat_bomb(rng, b: bytes) -> bytes:
    """IHDR declares a large image (still under the pixel limit) while the file stays small."""
    chunks = png_chunks(b)
    if not chunks or chunks[0][2] != b"IHDR":
        return m_interesting(rng, b)
    p = chunks[0][0]
    rest = bytearray(b[p + 8:p + 21])
    side = int(rng.choice([4000, 8000, 12000, 14000]))
    rest[0:8] = struct.pack(">II", side, side)
    return _png_with_data(b, p, bytes(rest))


def m_hostile_png_plte(rng, b: bytes) -> bytes:
    """Exactly the issue's palette PNG: PLTE's length field reads 0xA0A0A0A0 = 2,694,881,440 bytes."""
    for p, _, ctype in png_chunks(b):
        if ctype == b"PLTE":
            return b[:p] + struct.pack(">I", 0xA0A0A0A0) + b[p + 4:]
    return b


def m_hostile_png_size(rng, b: bytes) -> bytes:
    """IHDR says 14000 × 14000 (under the pixel limit), valid CRC, over a few hundred bytes of data."""
    p = png_chunks(b)[0][0]
    return _png_with_data(b, p, struct.pack(">II", 14000, 14000) + b[p + 16:p + 21])


def _jpeg_segments(b: bytes) -> list[tuple[int, int]]:
    """(offset of the marker, marker byte) of each segment before the scan data."""
    out, p = [], 2
    while p + 4 <= len(b) and b[p] == 0xFF:
        marker = b[p + 1]
        out.append((p, marker))
        if marker == 0xDA:
            break
        p += 2 + struct.unpack(">H", b[p + 2:p + 4])[0]
    return out


def m_jpeg_sof(rng, b: bytes) -> bytes:
    for p, marker in _jpeg_segments(b):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            b = bytearray(b)
            field = rng.integers(0, 4)
            if field == 0:
                b[p + 5:p + 7] = struct.pack(">H", int(rng.choice(INT16)))  # height
            elif field == 1:
                b[p + 7:p + 9] = struct.pack(">H", int(rng.choice(INT16)))  # width
            elif field == 2:
                b[p + 5:p + 9] = struct.pack(">HH", 0xFFFF, 0xFFFF)
            else:
                b[p + 4] = int(rng.choice([0, 1, 2, 8, 12, 16, 255]))  # precision
            return bytes(b)
    return m_interesting(rng, b)


def m_hostile_jpeg_size(rng, b: bytes) -> bytes:
    """SOF says 14000 × 14000 (under the pixel limit) over a few hundred bytes of scan data."""
    for p, marker in _jpeg_segments(b):
        if marker in (0xC0, 0xC2):
            return b[:p + 5] + struct.pack(">HH", 14000, 14000) + b[p + 9:]
    return b


def m_jpeg_segment_length(rng, b: bytes) -> bytes:
    segs = _jpeg_segments(b)
    if not segs:
        return m_interesting(rng, b)
    p, _ = segs[int(rng.integers(0, len(segs)))]
    return b[:p + 2] + struct.pack(">H", int(rng.choice(INT16))) + b[p + 4:]


def m_tiff_tag(rng, b: bytes) -> bytes:
    if len(b) < 8 or b[:2] not in (b"II", b"MM"):
        return m_interesting(rng, b)
    e = "<" if b[:2] == b"II" else ">"
    off = struct.unpack_from(e + "I", b, 4)[0]
    if off + 2 > len(b):
        return m_interesting(rng, b)
    n = struct.unpack_from(e + "H", b, off)[0]
    entries = [off + 2 + 12 * i for i in range(n) if off + 14 + 12 * i <= len(b)]
    if not entries:
        return m_interesting(rng, b)
    b = bytearray(b)
    p = entries[int(rng.integers(0, len(entries)))]
    what = rng.integers(0, 4)
    if what == 0:  # the value (first 4 bytes of the value field)
        struct.pack_into(e + "I", b, p + 8, int(rng.choice(INT32)))
    elif what == 1:  # a SHORT value
        struct.pack_into(e + "H", b, p + 8, int(rng.choice(INT16)))
    elif what == 2:  # the count
        struct.pack_into(e + "I", b, p + 4, int(rng.choice(INT32)))
    else:  # the type
        struct.pack_into(e + "H", b, p + 2, int(rng.integers(0, 20)))
    return bytes(b)


def _tiff_set(b: bytes, values: dict[int, int]) -> bytes:
    """Set the (SHORT or LONG) values of IFD0 entries by tag."""
    e = "<" if b[:2] == b"II" else ">"
    off = struct.unpack_from(e + "I", b, 4)[0]
    b = bytearray(b)
    for i in range(struct.unpack_from(e + "H", b, off)[0]):
        p = off + 2 + 12 * i
        tag, typ = struct.unpack_from(e + "HH", b, p)
        if tag in values:
            struct.pack_into(e + ("H" if typ == 3 else "I"), b, p + 8, values[tag])
    return bytes(b)


def m_hostile_tiff_size(rng, b: bytes) -> bytes:
    """ImageWidth and ImageLength say 14000 × 14000 in a small uncompressed TIFF."""
    return _tiff_set(b, {256: 14000, 257: 14000})


def m_hostile_bmp_size(rng, b: bytes) -> bytes:
    """An uncompressed BMP whose header says 14000 × 14000."""
    return b[:18] + struct.pack("<ii", 14000, 14000) + b[26:]


def m_bmp_header(rng, b: bytes) -> bytes:
    if len(b) < 54:
        return m_interesting(rng, b)
    b = bytearray(b)
    field = rng.choice(["offset", "width", "height", "bpp", "compression", "colours", "size"])
    if field == "offset":
        struct.pack_into("<I", b, 10, int(rng.choice(INT32)))
    elif field == "width":
        struct.pack_into("<I", b, 18, int(rng.choice(INT32)))
    elif field == "height":
        struct.pack_into("<I", b, 22, int(rng.choice(INT32)))
    elif field == "bpp":
        struct.pack_into("<H", b, 28, int(rng.choice([0, 1, 2, 4, 8, 15, 16, 24, 32, 64, 0xFFFF])))
    elif field == "compression":
        struct.pack_into("<I", b, 30, int(rng.integers(0, 8)))
    elif field == "colours":
        struct.pack_into("<I", b, 46, int(rng.choice(INT32)))
    else:
        struct.pack_into("<I", b, 14, int(rng.choice([0, 12, 40, 56, 108, 124, 0xFFFFFFFF])))
    return bytes(b)


def m_float_specials(rng, b: bytes) -> bytes:
    """Rebuild the float TIFF with NaN / inf pixels (some, a whole row, or all)."""
    x = _ramp(12, 16, dtype=np.uint16).astype(np.float32) / 65535 * 3.0 - 1.0
    how = rng.integers(0, 4)
    special = np.float32(rng.choice([np.nan, np.inf, -np.inf]))
    if how == 0:
        x.flat[rng.integers(0, x.size, size=int(rng.integers(1, 10)))] = special
    elif how == 1:
        x[int(rng.integers(0, x.shape[0]))] = special
    elif how == 2:
        x[:] = special
    else:
        x[::2] = np.nan
        x[1::2] = np.inf
    return _float_tiff(x)


# NIfTI-1 header fields: (offset, struct format)
NIFTI_FIELDS = {
    "sizeof_hdr": (0, "i"), "dim0": (40, "h"), "dim1": (42, "h"), "dim2": (44, "h"), "dim3": (46, "h"),
    "dim4": (48, "h"), "dim5": (50, "h"), "datatype": (70, "h"), "bitpix": (72, "h"),
    "pixdim0": (76, "f"), "pixdim1": (80, "f"), "pixdim2": (84, "f"), "pixdim3": (88, "f"),
    "vox_offset": (108, "f"), "scl_slope": (112, "f"), "scl_inter": (116, "f"), "qform_code": (252, "h"),
    "sform_code": (254, "h"), "quatern_b": (256, "f"), "quatern_c": (260, "f"), "qoffset_x": (268, "f"),
    "srow_x0": (280, "f"), "srow_y1": (300, "f"), "srow_z3": (324, "f"), "magic": (344, "4s"),
}
NIFTI_DTYPES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 3, 255]


def m_nifti_field(rng, b: bytes) -> bytes:
    if len(b) < 348:
        return m_interesting(rng, b)
    name = str(rng.choice(list(NIFTI_FIELDS)))
    off, fmt = NIFTI_FIELDS[name]
    b = bytearray(b)
    if fmt == "h":
        if name == "datatype":
            v = int(rng.choice(NIFTI_DTYPES))
        elif name == "bitpix":
            v = int(rng.choice([0, 1, 8, 16, 24, 32, 64, 128, 7, -8]))
        else:
            v = int(rng.choice([0, 1, 2, 3, 4, 5, 7, 8, -1, -32768, 32767, 16000, 1000]))
        struct.pack_into("<h", b, off, v)
    elif fmt == "i":
        struct.pack_into("<i", b, off, int(rng.choice([0, 348, 540, -1, 0x7FFFFFFF])))
    elif fmt == "f":
        struct.pack_into("<f", b, off, float(rng.choice(FLOATS + [352.0, 348.0, 4096.0, 1e9])))
    else:
        b[off:off + 4] = bytes(rng.choice([b"n+1\0", b"ni1\0", b"n+2\0", b"\0\0\0\0", b"xxxx"]))
    return bytes(b)


def m_nifti_huge(rng, b: bytes) -> bytes:
    """The issue's hostile NIfTI: dims that declare a huge volume in a small file."""
    if len(b) < 348:
        return m_interesting(rng, b)
    b = bytearray(b)
    dims = [int(rng.choice([1000, 10000, 16000, 32767])) for _ in range(3)]
    struct.pack_into("<hhhh", b, 40, int(rng.choice([3, 4, 7])), *dims)
    if rng.random() < 0.5:
        struct.pack_into("<hhhh", b, 48, *(int(rng.choice([1, 2, 32767])) for _ in range(4)))
    return bytes(b)


def _nifti_dims(b: bytes, side: int) -> bytes:
    b = bytearray(b)
    struct.pack_into("<hhhh", b, 40, 3, side, side, side)
    return bytes(b)


def m_hostile_nifti_size(rng, b: bytes) -> bytes:
    """dim[] says 32767 × 32767 × 32767 voxels (35 T)."""
    return _nifti_dims(b, 32767)


def m_hostile_nifti_600(rng, b: bytes) -> bytes:
    """dim[] says 600 × 600 × 600 voxels (216 M, under the voxel limit: refused by the file's size)."""
    return _nifti_dims(b, 600)


def m_nifti_specials(rng, b: bytes) -> bytes:
    """NaN / inf voxels in a float32 NIfTI (a NaN slice like the issue's, scattered ones, or all)."""
    if len(b) < 352 or struct.unpack_from("<h", b, 70)[0] != 16:  # only float32 seeds carry them
        return m_nifti_field(rng, b)
    start = int(struct.unpack_from("<f", b, 108)[0])
    x = np.frombuffer(b, np.float32, offset=start).copy()
    dims = struct.unpack_from("<hhh", b, 42)
    how = rng.integers(0, 4)
    special = np.float32(rng.choice([np.nan, np.inf, -np.inf]))
    if how == 0:  # one slice (k) of the (i, j, k) array, stored Fortran order: a contiguous block
        per = dims[0] * dims[1]
        k = int(rng.integers(0, max(dims[2], 1)))
        x[k * per:(k + 1) * per] = np.nan
    elif how == 1:
        x[rng.integers(0, x.size, size=int(rng.integers(1, 20)))] = special
    elif how == 2:
        x[:] = special
    else:
        x[::2] = np.nan
    return b[:start] + x.tobytes()


def _dicom_set(ds, keyword: str, value) -> None:
    """Set (None: delete) an attribute; a value pydicom refuses to convert (``"abc"`` for an IS) is stored as
    raw bytes, the way a damaged file would carry it."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    if value is None:
        if keyword in ds:
            delattr(ds, keyword)
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            setattr(ds, keyword, value)
    except Exception:  # noqa: BLE001
        tag = Tag(tag_for_keyword(keyword))
        raw = "\\".join(str(v) for v in value) if isinstance(value, list) else str(value)
        raw = raw.encode() + (b" " if len(raw) % 2 else b"")
        ds._dict[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)


DICOM_EDITS = {
    "Rows": [None, 0, 1, 2, 5, 7, 255, 256, 4096, 65535],
    "Columns": [None, 0, 1, 4, 6, 255, 4096, 65535],
    "BitsAllocated": [None, 0, 1, 8, 12, 16, 24, 32, 64, 65535],
    "BitsStored": [None, 0, 1, 8, 12, 15, 16, 17, 32, 65535],
    "HighBit": [None, 0, 7, 11, 15, 16, 31, 65535],
    "PixelRepresentation": [None, 0, 1, 2, 65535],
    "SamplesPerPixel": [None, 0, 1, 2, 3, 4, 65535],
    "PhotometricInterpretation": [None, "MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422", "XYZ"],
    "PlanarConfiguration": [None, 0, 1, 7],
    "NumberOfFrames": [None, 0, 1, 2, 3, 4, 100, 100000, 2147483647, -1, "abc"],
    "ImagePositionPatient": [None, [0.0, 0.0, 0.0], [1.0, 2.0], [float("nan")] * 3, [1e308, 0, -1e308], ["x", 1, 2]],
    "ImageOrientationPatient": [None, [0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0], [float("nan")] * 6, [1, 0, 0],
                                [1e308] * 6],
    "PixelSpacing": [None, [0, 0], [-1, 1], [float("nan"), 1], [1.0], [1e308, 1e308], ["a", "b"]],
    "SliceThickness": [None, 0, -2.5, float("nan"), 1e308],
    "SpacingBetweenSlices": [None, 0, float("inf"), -1],
    "RescaleSlope": [None, 0, -1, float("nan"), float("inf"), 1e38, 1e308, "x"],
    "RescaleIntercept": [None, float("nan"), float("-inf"), 1e38, 1e308],
    "InstanceNumber": [None, -1, 0, 2147483647, "x"],
    "SeriesInstanceUID": [None, "", "9.9.9"],
    "Modality": [None, "", "MR", "PT", "X" * 64],
    "PixelData": ["truncate", "extend", "empty", None, "odd"],
    "TransferSyntaxUID": ["1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
                          "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.80",
                          "1.2.840.10008.1.2.4.90", "1.2.3.4", None],
}


def _dicom_edit(rng, ds) -> None:
    keyword = str(rng.choice(list(DICOM_EDITS)))
    values = DICOM_EDITS[keyword]
    value = values[int(rng.integers(0, len(values)))]
    if keyword == "TransferSyntaxUID":
        if value is None:
            del ds.file_meta.TransferSyntaxUID
        else:
            ds.file_meta.TransferSyntaxUID = value
        return
    if keyword == "PixelData" and value is not None:
        px = bytes(ds.PixelData)
        ds.PixelData = {"truncate": px[:len(px) // 2], "extend": px + px, "empty": b"", "odd": px[:-1]}[value]
        return
    _dicom_set(ds, keyword, value)


def m_dicom_field(rng, sets: list) -> list:
    """Edit 1-3 attributes of one dataset (or of all, for a series, half the time)."""
    sets = copy.deepcopy(sets)
    targets = sets if rng.random() < 0.5 else [sets[int(rng.integers(0, len(sets)))]]
    for _ in range(int(rng.integers(1, 4))):
        state = int(rng.integers(0, 2**31))
        for ds in targets:
            _dicom_edit(np.random.default_rng(state), ds)
    return sets


def m_dicom_huge(rng, sets: list) -> list:
    """Rows, Columns and NumberOfFrames that declare a huge volume over a few bytes of pixel data."""
    sets = copy.deepcopy(sets)
    for ds in sets:
        ds.Rows, ds.Columns = int(rng.choice([4096, 30000, 65535])), int(rng.choice([4096, 30000, 65535]))
        if rng.random() < 0.5 or "NumberOfFrames" in ds:
            ds.NumberOfFrames = int(rng.choice([2, 1000, 100000, 2147483647]))
    return sets


def m_hostile_dicom_size(rng, sets: list) -> list:
    """Rows = Columns = 65535 and NumberOfFrames = 100000 over a few hundred bytes of pixel data."""
    sets = copy.deepcopy(sets)
    for ds in sets:
        ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 100000
    return sets


def m_hostile_dicom_rows(rng, sets: list) -> list:
    """Rows = Columns = 4096 in every slice of a series (16 M pixels each, under the limit) over a few
    hundred bytes of pixel data."""
    sets = copy.deepcopy(sets)
    for ds in sets:
        ds.Rows, ds.Columns = 4096, 4096
    return sets


def m_dicom_series(rng, sets: list) -> list:
    """Series-level damage: slices sharing a position, a slice of another size, a duplicated slice ..."""
    sets = copy.deepcopy(sets)
    how = str(rng.choice(["same_position", "one_position_missing", "other_size", "duplicate", "same_z",
                          "other_orientation", "nan_position"]))
    if how == "same_position":
        for ds in sets:
            ds.ImagePositionPatient = [-10.0, -20.0, 5.0]
    elif how == "one_position_missing":
        del sets[int(rng.integers(0, len(sets)))].ImagePositionPatient
    elif how == "other_size":
        ds = sets[int(rng.integers(0, len(sets)))]
        ds.Rows, ds.Columns = 3, 10
    elif how == "duplicate":
        dup = copy.deepcopy(sets[0])
        dup.SOPInstanceUID = dup.SOPInstanceUID + ".9"
        sets.append(dup)
    elif how == "same_z":
        sets[-1].ImagePositionPatient = list(sets[0].ImagePositionPatient)
    elif how == "other_orientation":
        sets[-1].ImageOrientationPatient = [0, 1, 0, 0, 0, 1]
    else:
        sets[int(rng.integers(0, len(sets)))].ImagePositionPatient = [0.0, 0.0, float("nan")]
    return sets


def dicom_bytes(ds) -> bytes:
    """Serialise a dataset as written on disk; values pydicom cannot encode make the case unbuildable."""
    import pydicom
    from pydicom import config

    buf = io.BytesIO()
    previous = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pydicom.dcmwrite(buf, ds, enforce_file_format=True)
            except TypeError:  # pydicom 2.4
                pydicom.dcmwrite(buf, ds, write_like_original=False)
    except Exception as err:
        raise Unbuildable(f"pydicom cannot write the mutated dataset: {type(err).__name__}: {err}") from None
    finally:
        config.settings.writing_validation_mode = previous
    return buf.getvalue()


class Unbuildable(Exception):
    """The mutation produced something the seed's writer cannot serialise (not a reader failure)."""


@dataclass(frozen=True)
class Mutation:
    name: str
    kinds: tuple[str, ...]
    level: str  # "bytes": on the file's bytes; "inner": on a .nii.gz's uncompressed bytes; "dicom": on datasets
    fn: Callable


ALL = ("png", "jpeg", "tiff", "bmp", "pnm", "webp", "nii", "niigz", "dicom", "series")
MUTATIONS: dict[str, Mutation] = {m.name: m for m in [
    *(Mutation(k, ALL, "bytes", f) for k, f in BYTE_MUTATIONS.items()),
    *(Mutation(f"inner_{k}", ("niigz",), "inner", f) for k, f in BYTE_MUTATIONS.items()),
    Mutation("png_chunk_length", ("png",), "bytes", m_png_chunk_length),
    Mutation("png_plte_length", ("png",), "bytes", m_png_plte_length),
    Mutation("png_ihdr", ("png",), "bytes", m_png_ihdr),
    Mutation("png_chunk_data", ("png",), "bytes", m_png_chunk_data),
    Mutation("png_idat_bomb", ("png",), "bytes", m_png_idat_bomb),
    Mutation("hostile_png_plte", ("png",), "bytes", m_hostile_png_plte),
    Mutation("hostile_png_size", ("png",), "bytes", m_hostile_png_size),
    Mutation("hostile_jpeg_size", ("jpeg",), "bytes", m_hostile_jpeg_size),
    Mutation("hostile_tiff_size", ("tiff",), "bytes", m_hostile_tiff_size),
    Mutation("hostile_bmp_size", ("bmp",), "bytes", m_hostile_bmp_size),
    Mutation("hostile_nifti_size", ("nii", "niigz"), "inner", m_hostile_nifti_size),
    Mutation("hostile_nifti_600", ("nii", "niigz"), "inner", m_hostile_nifti_600),
    Mutation("hostile_dicom_size", ("dicom", "series"), "dicom", m_hostile_dicom_size),
    Mutation("hostile_dicom_rows", ("series",), "dicom", m_hostile_dicom_rows),
    Mutation("jpeg_sof", ("jpeg",), "bytes", m_jpeg_sof),
    Mutation("jpeg_segment_length", ("jpeg",), "bytes", m_jpeg_segment_length),
    Mutation("tiff_tag", ("tiff",), "bytes", m_tiff_tag),
    Mutation("float_specials", ("tiff",), "bytes", m_float_specials),
    Mutation("bmp_header", ("bmp",), "bytes", m_bmp_header),
    Mutation("nifti_field", ("nii", "niigz"), "inner", m_nifti_field),
    Mutation("nifti_huge", ("nii", "niigz"), "inner", m_nifti_huge),
    Mutation("nifti_specials", ("nii", "niigz"), "inner", m_nifti_specials),
    Mutation("dicom_field", ("dicom", "series"), "dicom", m_dicom_field),
    Mutation("dicom_huge", ("dicom", "series"), "dicom", m_dicom_huge),
    Mutation("dicom_series", ("series",), "dicom", m_dicom_series),
]}
WEIGHTS = {"hostile_png_plte": 0.2, "hostile_png_size": 0.2, "hostile_jpeg_size": 0.2, "hostile_tiff_size": 0.2,
           "hostile_bmp_size": 0.2, "hostile_nifti_size": 0.3, "hostile_nifti_600": 0.3, "hostile_dicom_size": 0.3,
           "hostile_dicom_rows": 0.3, "png_plte_length": 0.5, "float_specials": 2.0, "nifti_field": 3.0, "nifti_specials": 1.5,
           "dicom_field": 4.0, "dicom_series": 1.5, "tiff_tag": 2.0, "png_ihdr": 1.5, "png_chunk_data": 1.5}


def mutations_for(seed: Seed) -> list[Mutation]:
    out = [m for m in MUTATIONS.values() if seed.kind in m.kinds]
    if seed.name != "tiff_float32":
        out = [m for m in out if m.name != "float_specials"]
    return out


# --- cases ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    reader: str
    seed: str
    mutation: str
    n: int

    def __str__(self) -> str:
        return f"{self.reader}:{self.seed}:{self.mutation}:{self.n}"

    @property
    def repro(self) -> str:
        return f"python scripts/fuzz_readers.py --repro {self}"

    @classmethod
    def parse(cls, text: str) -> "Case":
        reader, seed, mutation, n = text.split(":")
        return cls(reader, seed, mutation, int(n))


def cases(reader: str, master_seed: int):
    """An endless, deterministic sequence of cases for ``reader``."""
    seeds = seeds_for(reader)
    rng = np.random.default_rng([master_seed, READERS.index(reader)])
    while True:
        seed = seeds[int(rng.integers(0, len(seeds)))]
        muts = mutations_for(seed)
        w = np.array([WEIGHTS.get(m.name, 1.0) for m in muts])
        mut = muts[int(rng.choice(len(muts), p=w / w.sum()))]
        yield Case(reader, seed.name, mut.name, int(rng.integers(0, 2**31)))


def materialise(case: Case, folder: Path) -> Path:
    """Write the case's file (or DICOM folder) under ``folder``; returns the path to read."""
    seed, mut = {s.name: s for s in seeds_for(case.reader)}[case.seed], MUTATIONS[case.mutation]
    rng = np.random.default_rng(case.n)
    folder.mkdir(parents=True, exist_ok=True)
    if seed.kind in ("dicom", "series"):
        try:
            sets = mut.fn(rng, seed.data) if mut.level == "dicom" else seed.data
        except Exception as err:  # noqa: BLE001 (pydicom refused the edit itself)
            raise Unbuildable(f"pydicom refuses the edit: {type(err).__name__}: {err}") from None
        blobs = [dicom_bytes(ds) for ds in sets]
        if mut.level == "bytes":
            i = int(rng.integers(0, len(blobs)))
            blobs[i] = mut.fn(rng, blobs[i])
        if seed.kind == "dicom":
            path = folder / f"case{seed.suffix}"
            path.write_bytes(blobs[0])
            return path
        path = folder / "series"
        path.mkdir()
        for i, blob in enumerate(blobs):
            (path / f"IM{i:04d}").write_bytes(blob)
        return path
    data = seed.data
    if seed.kind == "niigz":
        if mut.level == "inner":
            data = mut.fn(rng, data)
        data = gzip.compress(data, 6, mtime=0)
        if mut.level == "bytes":
            data = mut.fn(rng, data)
    else:
        data = mut.fn(rng, data)
    path = folder / f"case{seed.suffix}"
    path.write_bytes(data)
    return path


# --- the oracle ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str  # "ok", "InputError", "unbuildable" or "other" (a failure)
    detail: str
    seconds: float
    cpu: float = 0.0

    @property
    def failed(self) -> bool:
        return self.kind == "other"


def read(reader: str, path: Path):
    if reader == "read_image":
        from refusion_core.io.images import read_image

        return read_image(path)
    if reader == "read_image_exif":
        from refusion_core.io.images import read_image_exif

        return read_image_exif(path)
    from refusion_core.medical.volumes import read_volume

    return read_volume(path)


def check_result(reader: str, result) -> str | None:
    """None when ``result`` is well-formed for ``reader``, else what is wrong with it."""
    if reader == "read_image_exif":
        if not (isinstance(result, tuple) and len(result) == 2):
            return f"returned {type(result).__name__}, not (image, exif)"
        result, exif = result
        if exif is not None and not isinstance(exif, bytes):
            return f"EXIF is {type(exif).__name__}, not bytes"
    if reader in IMAGE_READERS:
        from refusion_core.io.images import max_pixels

        if not isinstance(result, np.ndarray):
            return f"returned {type(result).__name__}"
        if result.dtype not in (np.uint8, np.uint16):
            return f"dtype {result.dtype}"
        if not (result.ndim == 2 or (result.ndim == 3 and result.shape[2] == 3)):
            return f"shape {result.shape}"
        if min(result.shape[:2]) < 1 or result.shape[0] * result.shape[1] > max_pixels():
            return f"shape {result.shape}"
        return None
    from refusion_core.medical.volumes import Volume
    from refusion_core.medical.windowing import window

    if not isinstance(result, Volume):
        return f"returned {type(result).__name__}"
    d = result.data
    if not isinstance(d, np.ndarray) or d.dtype != np.float32 or d.ndim != 3 or min(d.shape) < 1:
        return f"data {getattr(d, 'dtype', type(d))} {getattr(d, 'shape', '')}"
    if not np.isfinite(d).all():
        return f"{int((~np.isfinite(d)).sum())} non-finite voxels in the data"
    if len(result.spacing) != 3 or not all(math.isfinite(float(s)) for s in result.spacing):
        return f"spacing {result.spacing}"
    if np.shape(result.affine) != (4, 4) or not np.isfinite(result.affine).all():
        return f"affine not finite: {np.asarray(result.affine).tolist()}"
    try:
        result.orientation  # noqa: B018 (must not raise)
        w, _ = window(d, None, result.modality)
    except Exception as err:  # an InputError from windowing is fine (it is one line for the user)
        from refusion_core.errors import InputError

        if isinstance(err, InputError):
            return None
        return f"windowing raised {type(err).__name__}: {err}"
    if not (np.isfinite(w).all() and w.min() >= 0 and w.max() <= 1):
        return "windowed values outside [0, 1] or not finite"
    return None


def run_case(case: Case, folder: Path) -> Outcome:
    """Build and read one case; classify what happened (see the module docstring)."""
    from refusion_core.errors import InputError

    try:
        path = materialise(case, folder)
    except Unbuildable as err:
        return Outcome("unbuildable", str(err), 0.0)
    t0, c0 = time.perf_counter(), time.process_time()

    def took() -> tuple[float, float]:
        return time.perf_counter() - t0, time.process_time() - c0

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = read(case.reader, path)
    except InputError as err:
        msg = str(err)
        if not msg.strip() or "\n" in msg:
            return Outcome("other", f"InputError message is not one line: {msg!r}", *took())
        return _timed(Outcome("InputError", msg, *took()))
    except Exception as err:  # noqa: BLE001 (the point: anything else is a failure)
        tb = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{Path(tb.filename).name}:{tb.lineno}"
        return Outcome("other", f"{type(err).__name__} at {where}: {str(err)[:300]}", *took())
    dt = took()
    problem = check_result(case.reader, result)
    if problem:
        return Outcome("other", f"bad result: {problem}", *dt)
    return _timed(Outcome("ok", "", *dt))


def _timed(outcome: Outcome) -> Outcome:
    if outcome.cpu > SLOW_S or outcome.seconds > 6 * SLOW_S:
        return Outcome("other", f"took {outcome.seconds:.1f} s ({outcome.cpu:.1f} s CPU; a hang?): "
                       f"{outcome.detail}", outcome.seconds, outcome.cpu)
    return outcome


def fuzz(reader: str, master_seed: int, budget_s: float, folder: Path, max_cases: int | None = None,
         on_case: Callable[[Case, Outcome], None] | None = None) -> tuple[dict[str, int], list[tuple[Case, Outcome]]]:
    """Run cases for ``reader`` until ``budget_s`` seconds or ``max_cases``. Returns (counts per outcome
    kind, the failures)."""
    import shutil

    counts = {"ok": 0, "InputError": 0, "other": 0, "unbuildable": 0}
    failures = []
    t_end = time.monotonic() + budget_s
    for i, case in enumerate(cases(reader, master_seed)):
        if time.monotonic() >= t_end or (max_cases is not None and i >= max_cases):
            break
        where = folder / f"c{i % 4}"
        shutil.rmtree(where, ignore_errors=True)
        outcome = run_case(case, where)
        counts[outcome.kind] += 1
        if outcome.failed:
            failures.append((case, outcome))
        if on_case:
            on_case(case, outcome)
    shutil.rmtree(folder, ignore_errors=True)
    return counts, failures


# --- hostile headers under a memory ceiling ------------------------------------------------------------------

HOSTILE = {
    # name: the case (whose file is under 2 KB); its one line must say that the header declares too much
    "png_plte_2.69GB": Case("read_image", "png_palette", "hostile_png_plte", 0),
    "png_exif_plte_2.69GB": Case("read_image_exif", "png_palette", "hostile_png_plte", 0),
    "png_14000x14000": Case("read_image", "png_grey", "hostile_png_size", 0),
    "jpeg_14000x14000": Case("read_image", "jpeg_rgb", "hostile_jpeg_size", 0),
    "tiff_14000x14000": Case("read_image", "tiff_uint16", "hostile_tiff_size", 0),
    "bmp_14000x14000": Case("read_image_exif", "bmp_rgb", "hostile_bmp_size", 0),
    "nii_32767^3": Case("read_volume", "nii_float32", "hostile_nifti_size", 0),
    "nii_600^3": Case("read_volume", "nii_float32", "hostile_nifti_600", 0),
    "niigz_32767^3": Case("read_volume", "niigz_float32", "hostile_nifti_size", 0),
    "niigz_600^3": Case("read_volume", "niigz_float32", "hostile_nifti_600", 0),
    "dicom_65535^2x100000": Case("read_volume", "dicom_multiframe", "hostile_dicom_size", 0),
    "dicom_series_65535^2": Case("read_volume", "dicom_series", "hostile_dicom_size", 0),
    "dicom_series_4096^2": Case("read_volume", "dicom_series", "hostile_dicom_rows", 0),
}
HOSTILE_MESSAGE = r"declares|corrupt or truncated|truncated"
"""What the one line for a hostile header must say (refused from the header, not after a failed decode)."""
CEILING_MB = 400
"""Address space a hostile-header read may add on top of the process's, in MB."""


def hostile_main(names: list[str], folder: str) -> int:
    """Run in a child process: read each named hostile case under an address-space ceiling (RLIMIT_AS) of
    the current size + :data:`CEILING_MB`. Prints one line per case: ``name<TAB>kind<TAB>detail``."""
    import resource

    built = {}
    for name in names:  # imports and seeds count in the baseline, not in the reads
        case = HOSTILE[name]
        built[name] = (case, materialise(case, Path(folder) / name))
    for reader in {case.reader for case, _ in built.values()}:  # warm the decoders: one-off allocations
        seed = seeds_for(reader)[0]
        try:
            read(reader, materialise(Case(reader, seed.name, "flip", 0), Path(folder) / f"warm_{reader}"))
        except Exception:  # noqa: BLE001
            pass
    vm = _vm_bytes()
    limit = vm + CEILING_MB * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from refusion_core.errors import InputError

    for name, (case, path) in built.items():
        print(f"{name}\tstart\t", flush=True)
        size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read(case.reader, path)
            kind, detail = "ok", ""
        except InputError as err:
            kind, detail = "InputError", str(err)
        except BaseException as err:  # noqa: BLE001
            kind, detail = "other", f"{type(err).__name__}: {str(err)[:300]!r}"
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        note = f"[{size:,} bytes; {time.perf_counter() - t0:.2f} s; peak memory +{grew:.0f} MB]"
        print(f"{name}\t{kind}\t{detail} {note}", flush=True)
    return 0


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def run_hostile(names: list[str], folder: Path, timeout_s: float = 60.0) -> dict[str, tuple[str, str]]:
    """Run :func:`hostile_main` in a child process; returns name -> (kind, detail). A case the child never
    finished reads ``("other", "killed or timed out ...")``."""
    import subprocess

    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            f"from importlib.util import spec_from_file_location as s, module_from_spec as m; "
            f"sp = s('fz', {str(Path(__file__))!r}); mod = m(sp); sys.modules['fz'] = mod; "
            f"sp.loader.exec_module(mod); sys.exit(mod.hostile_main({names!r}, {str(folder)!r}))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, rc = f"timed out after {timeout_s:.0f} s", None
    results: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0] in HOSTILE:
            results[parts[0]] = (parts[1], parts[2])
    for name in names:
        if results.get(name, ("start",))[0] == "start":
            results[name] = ("other", f"child process died or hung here (rc {rc}): {err.strip()[-500:]}")
    return results
