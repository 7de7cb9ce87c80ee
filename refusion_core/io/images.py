"""Reading and writing images: grey or RGB, 8- or 16-bit, any path (non-ASCII included), atomic writes.

Conventions: arrays are (H, W) grey or (H, W, 3) **RGB**; dtype uint8 or uint16 as stored. Reading goes
through ``np.fromfile`` + ``cv2.imdecode`` so that paths with non-ASCII characters work on every
platform; EXIF orientation is applied (OpenCV does this for JPEG, PNG, WebP and TIFF with these flags;
tested in tests/refusion_core/io/test_exif.py); an alpha channel is dropped;
a 3-channel image whose channels are all equal is returned as grey; float TIFFs become uint16 (values
in [0, 1] are scaled by 65535, others are min-max stretched — documented lossy case).

Native libraries stay off the terminal: OpenCV's own log is set to silent when this module is imported (unless
``$OPENCV_LOG_LEVEL`` asks otherwise), and what the codecs print straight to the C stderr while a file is decoded
(libpng's "libpng warning: iCCP: known incorrect sRGB profile", libtiff's warnings) goes to the log file instead
(:func:`native_stderr_to_log`). A file they only warn about is read as usual; one they cannot read is an
InputError, as always.

EXIF (:mod:`refusion_core.io.exif`): :func:`read_image_exif` also returns the file's EXIF block;
``write_image(..., exif=block)`` stores it (Orientation reset to 1, the pixels being upright already) in
JPEG, PNG and WebP through OpenCV and in TIFF through Pillow; :func:`keeps_exif` says where that works.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from refusion_core.errors import InputError
from refusion_core.io import exif as _exif

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pgm", ".ppm", ".pnm")
EXIF_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")
_READ_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
_CV_METADATA = hasattr(cv2, "imdecodeWithMetadata") and hasattr(cv2, "imencodeWithMetadata")


def _quiet_opencv_log() -> None:
    """OpenCV's log ("[ WARN:0@0.1] global loadsave.cpp ...", and at ERROR level the decoder's own complaint about
    a file we then report in one line ourselves) is silenced; ``$OPENCV_LOG_LEVEL``, when set, is left to rule."""
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # builds without the utils module
        if hasattr(cv2, "setLogLevel"):
            cv2.setLogLevel(0)


_quiet_opencv_log()


class _NativeStderr:
    """File descriptor 2 pointed at a temporary file while at least one decode runs (a count, under a lock, so
    that decodes in several threads overlap freely and the first in / last out switch it), then put back; what
    was caught goes to the log at debug level."""

    def __init__(self):
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: int | None = None
        self.sink = None

    def enter(self) -> None:
        with self.lock:
            if self.depth == 0:
                self._redirect()
            self.depth += 1

    def leave(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                self._restore()

    def _redirect(self) -> None:
        try:
            sys.stderr.flush()  # Python's pending text goes to the terminal first
        except (AttributeError, OSError, ValueError):  # no sys.stderr (a GUI process), or a closed one
            pass
        try:
            self.sink = tempfile.TemporaryFile()
            self.saved = os.dup(2)
            os.dup2(self.sink.fileno(), 2)
        except OSError:  # no descriptor 2 at all (pythonw), or no temporary folder: decode unredirected
            self._close()

    def _restore(self) -> None:
        if self.saved is None:
            return
        try:
            os.dup2(self.saved, 2)
            self.sink.seek(0)
            caught = self.sink.read().decode("utf-8", "replace").strip()
        finally:
            self._close()
        if caught:
            logging.getLogger("refusion").debug("native libraries said while decoding: %s", caught)

    def _close(self) -> None:
        if self.saved is not None:
            os.close(self.saved)
        if self.sink is not None:
            self.sink.close()
        self.saved = self.sink = None


_NATIVE_STDERR = _NativeStderr()


@contextmanager
def native_stderr_to_log():
    """Around a decode: what C libraries print to stderr meanwhile (libpng's and libtiff's warnings, which no
    OpenCV setting reaches) goes to the log file, not to the terminal. Thread-safe; anything another thread
    writes to stderr during those milliseconds goes to the log as well."""
    _NATIVE_STDERR.enter()
    try:
        yield
    finally:
        _NATIVE_STDERR.leave()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file. Returns (H, W) or (H, W, 3) RGB, uint8 or uint16. Raises InputError."""
    path = Path(path)
    data = _file_bytes(path)
    img = _decode(path, lambda: cv2.imdecode(data, _READ_FLAGS))
    if img is None or img.size == 0:
        raise _undecodable(path)
    return _normalise(img)


def read_image_exif(path: str | os.PathLike) -> tuple[np.ndarray, bytes | None]:
    """Like :func:`read_image`, plus the file's EXIF block (bytes in TIFF layout) or None."""
    path = Path(path)
    data = _file_bytes(path)
    exif = None
    if _CV_METADATA:
        img, types, meta = _decode(path, lambda: cv2.imdecodeWithMetadata(data, _READ_FLAGS))
        found = [np.asarray(m).tobytes() for t, m in zip(np.ravel(types), meta) if t == cv2.IMAGE_METADATA_EXIF]
        exif = found[0] if found else None
    else:
        img = _decode(path, lambda: cv2.imdecode(data, _READ_FLAGS))
    if img is None or img.size == 0:
        raise _undecodable(path)
    if exif is None and _exif.is_tiff(path):
        exif = _exif.read_tiff_exif(data.tobytes())
    return _normalise(img), (_exif.bare(exif) if exif else None)


MAX_PIXELS = 200_000_000
"""The largest image read, in pixels (width × height), checked from the file's header before decoding: a
100-megapixel photograph passes, a 875 KB PNG that declares 30000 × 30000 (2 GB to decode) does not.
``$REFUSION_MAX_PIXELS`` changes it."""


def max_pixels() -> int:
    try:
        return int(os.environ.get("REFUSION_MAX_PIXELS", MAX_PIXELS))
    except ValueError:
        raise InputError("REFUSION_MAX_PIXELS must be a whole number of pixels") from None


def _decode(path: Path, decode):
    """Run an OpenCV decode: OpenCV's own refusals (cv2.error: its size limits, a damaged stream) and memory
    running out become the one-line InputError; the details, and the codecs' warnings, go to the log."""
    try:
        with native_stderr_to_log():
            return decode()
    except cv2.error as err:
        logging.getLogger("refusion").debug("OpenCV could not decode %s: %s", path, err)
        raise _undecodable(path) from None
    except MemoryError:
        raise InputError(f"Not enough memory to decode {path.name}") from None


def _file_bytes(path: Path) -> np.ndarray:
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if path.is_dir():
        raise InputError(f"Expected an image file but {path} is a folder")
    if not path.is_file():  # reading a named pipe or a device could block for ever or never end
        raise InputError(f"{path} is not a regular file (a pipe or a device?); give an image file")
    _check_declared_size(path)  # before the file is read into memory and decoded
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"Cannot read {path}: {err.strerror or err}") from None
    if data.size == 0:
        raise InputError(f"{path.name} is empty (0 bytes), not an image")
    _check_structure(path, data)  # what the header declares must fit in what the file holds
    return data


def _check_declared_size(path: Path) -> None:
    """Refuse an image whose header declares more than max_pixels() pixels, before any decoding (Pillow opens
    the file lazily and reads the header alone). Formats Pillow does not know are left to the decoder."""
    from PIL import Image

    limit, previous = max_pixels(), Image.MAX_IMAGE_PIXELS
    tiff = None
    try:
        Image.MAX_IMAGE_PIXELS = None  # the size is all we read here; the limit is ours
        with Image.open(path) as im:
            w, h = im.size
            if im.format == "TIFF":
                tiff = _tiff_layout(im)
    except Exception:  # not a format Pillow knows, or a damaged header: the decoder will say
        return
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    if w * h > limit:
        raise InputError(f"{path.name} declares {w} × {h} pixels ({w * h / 1e6:.0f} megapixels), above the "
                         f"limit of {limit / 1e6:.0f} megapixels (set REFUSION_MAX_PIXELS to raise it)")
    if max(w, h) > MAX_SIDE:
        raise InputError(f"{path.name} declares {w} × {h} pixels; sides longer than {MAX_SIDE} pixels are not "
                         "read (OpenCV's limit)")
    if tiff:
        _check_tiff(path.name, w, h, *tiff, path.stat().st_size)


def declared_pixels(path: str | os.PathLike) -> int | None:
    """Width × height as an image file's header declares it (Pillow reads the header alone, nothing is
    decoded), or None when the header cannot be read. For callers that decide where to read a file (the app
    reads large ones in a worker): a small file can declare a large image."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as im:
            w, h = im.size
        return int(w) * int(h)
    except Exception:  # not a format Pillow knows, a damaged header, a missing file: the reader will say
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


MAX_SIDE = 1 << 20
"""OpenCV's own limit on an image's width and height (CV_IO_MAX_IMAGE_WIDTH / _HEIGHT)."""
DEFLATE_MAX_RATIO = 1032
"""The most that deflate (PNG's compression) can expand: 258 bytes from 2 bits."""


def _sniff(data: bytes) -> str | None:
    """The format of an image file's bytes, among those read here (others are refused: no other decoder
    of OpenCV's is reachable through a renamed file)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) > 2 and data[0:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "pnm"
    return None


def _check_structure(path: Path, data: np.ndarray) -> None:
    """Refuse, before decoding, a file whose format is not one of ours, or whose header declares more than
    the file can hold: a PNG chunk longer than what follows it (OpenCV would allocate that length: a 1.6 KB
    palette PNG whose PLTE reads 2.69 GB cost 2.6 GB), or a size that the compressed data could not fill
    (a PNG, a Huffman-coded JPEG, an uncompressed BMP, a PNM; TIFF is checked with the header, in
    :func:`_check_declared_size`): such a file is truncated or damaged, and decoding it would allocate the
    whole declared image first."""
    kind = _sniff(data[:16].tobytes())
    if kind is None:
        raise _undecodable(path)
    check = {"png": _check_png, "jpeg": _check_jpeg, "bmp": _check_bmp, "pnm": _check_pnm}.get(kind)
    if check:
        check(path.name, memoryview(data))  # no copy of the file


def _too_small(name: str, w: int, h: int, size: int) -> InputError:
    return InputError(f"{name} is corrupt or truncated: it declares {w} × {h} pixels but its {size:,} bytes "
                      "cannot hold an image that large")


def _check_png(name: str, b: memoryview) -> None:
    p, n, idat, ihdr = 8, len(b), 0, None
    while p + 8 <= n:
        length, ctype = struct.unpack_from(">I4s", b, p)
        if length > 0x7FFFFFFF or p + 12 + length > n:
            what = f"'{ctype.decode()}'" if ctype.isalpha() else "a"
            raise InputError(f"{name} is corrupt or truncated: {what} chunk declares {length:,} bytes but only "
                             f"{max(n - p - 12, 0):,} follow")
        if ctype == b"IHDR" and length >= 13:
            ihdr = struct.unpack_from(">IIBB", b, p + 8)
        elif ctype in (b"IDAT", b"fdAT"):
            idat += length
        elif ctype == b"IEND":
            break
        p += 12 + length
    if ihdr:
        w, h, depth, colour = ihdr
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
        inflated = h * (1 + (w * channels * max(depth, 1) + 7) // 8)  # what the zlib stream must hold
        if inflated > DEFLATE_MAX_RATIO * idat + (1 << 16):
            raise _too_small(name, w, h, n)


_JPEG_HUFFMAN_SOF = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7)


def _check_jpeg(name: str, b: memoryview) -> None:
    """A Huffman-coded JPEG spends at least one bit on every 8 × 8 block of a component (its DC code), so a
    file of n bytes holds at most 8n blocks of its largest component. Arithmetic-coded JPEGs (rare) can go
    below a bit and are left to the pixel limit."""
    p, n = 2, len(b)
    while p + 4 <= n and b[p] == 0xFF:
        marker = b[p + 1]
        if marker == 0xFF:  # fill byte
            p += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            p += 2
            continue
        if marker in (0xDA, 0xD9):  # scan data or the end: the header is over
            return
        length = struct.unpack_from(">H", b, p + 2)[0]
        if marker in _JPEG_HUFFMAN_SOF and p + 10 <= n:
            h, w, ncomp = struct.unpack_from(">HHB", b, p + 5)
            factors = [(max(b[q] >> 4, 1), max(b[q] & 15, 1)) for q in range(p + 11, min(p + 11 + 3 * ncomp, n), 3)]
            factors = factors or [(1, 1)]
            hmax, vmax = max(f[0] for f in factors), max(f[1] for f in factors)
            blocks = max(_ceil(_ceil(w * hf, hmax), 8) * _ceil(_ceil(h * vf, vmax), 8) for hf, vf in factors)
            if blocks > 8 * n:
                raise _too_small(name, w, h, n)
            return
        p += 2 + length


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _check_bmp(name: str, b: memoryview) -> None:
    """An uncompressed BMP (BI_RGB, BI_BITFIELDS) holds every row; RLE-compressed ones are left to the limit."""
    if len(b) < 34:
        return
    _, header, w, h, _, bpp, compression = struct.unpack_from("<IIiiHHI", b, 10)
    if header >= 40 and compression in (0, 3, 6) and w > 0 and bpp > 0:  # not the OS/2 header (16-bit sizes)
        need = (w * bpp + 31) // 32 * 4 * abs(h)
        if need > len(b):
            raise _too_small(name, w, abs(h), len(b))


_TIFF_MAX_RATIO = {1: 1, 32773: 64, 5: 4096, 8: DEFLATE_MAX_RATIO, 32946: DEFLATE_MAX_RATIO}
"""How far each TIFF compression can expand its data at most, in bytes (none, PackBits, LZW, Deflate)."""
_TIFF_JPEG_PIXELS_PER_BYTE = 8 * 64 * 16
"""JPEG in TIFF: at least a bit per 8 × 8 block of its largest component, which may be subsampled up to
4 × 4 (counted in pixels: the bit depth and the number of samples do not matter). The other compressions
(CCITT fax: bilevel, at most a byte a pixel once decoded; LZMA, ZSTD ...) are left to the pixel limit."""


def _tiff_layout(im) -> tuple[int, int] | None:
    """(compression, bits per pixel) from an open Pillow TIFF's first directory, or None."""
    try:
        compression = int(im.tag_v2.get(259, 1))
        samples = int(im.tag_v2.get(277, 1))
        bps = im.tag_v2.get(258, (1,))
        bps = tuple(int(x) for x in bps) if isinstance(bps, tuple) else (int(bps),)
    except Exception:  # odd tag types: libtiff will say
        return None
    return compression, (sum(bps) if len(bps) == samples else bps[0] * samples)  # one value may stand for all


def _check_tiff(name: str, w: int, h: int, compression: int, bits: int, size: int) -> None:
    ratio = _TIFF_MAX_RATIO.get(compression)
    if ratio is not None and w * h * max(bits, 1) // 8 > ratio * size + (1 << 16):
        raise _too_small(name, w, h, size)
    if compression in (6, 7) and w * h > _TIFF_JPEG_PIXELS_PER_BYTE * size + (1 << 16):
        raise _too_small(name, w, h, size)


_PNM_SIZE = re.compile(rb"P[1-6](?:\s|#[^\r\n]*)+(\d+)(?:\s|#[^\r\n]*)+(\d+)")


def _check_pnm(name: str, data: memoryview) -> None:
    """PNM: at least a bit a pixel (P4; the others take more)."""
    m = _PNM_SIZE.match(data[:4096].tobytes())
    if m:
        w, h = int(m[1]), int(m[2])
        if w * h > 8 * len(data) + (1 << 16):
            raise _too_small(name, w, h, len(data))


def _undecodable(path: Path) -> InputError:
    kind = "is corrupt or in an unsupported format" if path.suffix.lower() in IMAGE_SUFFIXES \
        else "is not an image OpenCV can read"
    return InputError(f"{path.name} {kind} (supported: {', '.join(IMAGE_SUFFIXES)})")


def _normalise(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype not in (np.uint8, np.uint16):
        img = _to_uint16(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]):
            img = np.ascontiguousarray(img[..., 0])
    return img


def _to_uint16(img: np.ndarray) -> np.ndarray:
    """A float (or 32-bit integer) image -> uint16: [0, 1] data scaled by 65535, anything else stretched from its
    min to its max. NaN pixels take the minimum; an image with no finite value at all is refused."""
    x = img.astype(np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        raise InputError("The image has no finite pixel value (all NaN or infinite): nothing to fuse")
    if not finite.all():
        x = np.where(finite, x, np.nan)  # ±inf would make the stretch meaningless: treat them as missing
    if img.dtype.kind == "f" and np.nanmin(x) >= 0 and np.nanmax(x) <= 1:
        return np.round(np.nan_to_num(x) * 65535).astype(np.uint16)
    lo, hi = np.nanmin(x), np.nanmax(x)
    return np.round((np.nan_to_num(x, nan=lo) - lo) / max(hi - lo, 1e-12) * 65535).astype(np.uint16)


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float image -> float32 in [0, 1] (same shape)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def from_float(x: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """float in [0, 1] -> uint8 or uint16, rounded and clipped."""
    scale = 255.0 if np.dtype(dtype) == np.uint8 else 65535.0
    return np.round(np.clip(x, 0.0, 1.0) * scale).astype(dtype)


def write_image(path: str | os.PathLike, img: np.ndarray, bit_depth: int | None = None,
                exif: bytes | None = None) -> Path:
    """Write an image atomically (a temp file in the same folder, then rename).

    Args:
        img: (H, W) or (H, W, 3) RGB, uint8, uint16 or float in [0, 1].
        bit_depth: 8 or 16 to convert; None keeps uint8/uint16 and writes floats as 16-bit.
        exif: an EXIF block to store (Orientation is reset to 1); ignored where :func:`keeps_exif` is
            False (BMP, PNM, 16-bit RGB TIFF, TIFF without Pillow). A TIFF with EXIF is uncompressed.
    JPEG and BMP hold only 8 bits: 16-bit data is converted for them.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"Cannot write {path.name}: unknown image type (use .png or .tif)")
    img = _convert_depth(img, bit_depth, eight_bit_only=suffix in (".jpg", ".jpeg", ".bmp", ".webp"))
    if exif and keeps_exif(path, img):
        atomic_write_bytes(path, _encode_with_exif(path, img, _exif.reset_orientation(exif)))
        return path
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(suffix, bgr)
    if not ok:
        raise InputError(f"OpenCV could not encode {path.name}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def keeps_exif(path: str | os.PathLike, img: np.ndarray) -> bool:
    """Whether ``write_image(path, img, exif=...)`` stores the EXIF (depends on format, depth, libraries)."""
    suffix = Path(path).suffix.lower()
    if _exif.is_tiff(Path(path)):
        return _exif.tiff_can_carry(img)
    return suffix in EXIF_SUFFIXES and _CV_METADATA


def _encode_with_exif(path: Path, img: np.ndarray, exif: bytes) -> bytes:
    if _exif.is_tiff(path):
        return _exif.encode_tiff_with_exif(img, exif)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencodeWithMetadata(path.suffix.lower(), bgr, [cv2.IMAGE_METADATA_EXIF],
                                       [np.frombuffer(exif, np.uint8)])
    if not ok:
        raise InputError(f"OpenCV could not encode {path.name}")
    return buf.tobytes()


def _convert_depth(img: np.ndarray, bit_depth: int | None, eight_bit_only: bool) -> np.ndarray:
    if bit_depth not in (None, 8, 16):
        raise ValueError("bit_depth must be 8, 16 or None")
    if eight_bit_only:
        bit_depth = 8
    if bit_depth is None:
        return img if img.dtype in (np.uint8, np.uint16) else from_float(to_float(img), np.uint16)
    target = np.uint8 if bit_depth == 8 else np.uint16
    return img if img.dtype == target else from_float(to_float(img), target)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a result file should be readable like any other
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise InputError naming both sizes if two images differ in size."""
    if a.shape[:2] != b.shape[:2]:
        (ha, wa), (hb, wb) = a.shape[:2], b.shape[:2]
        raise InputError(f"{names[0]} is {wa}×{ha} but {names[1]} is {wb}×{hb}; the two images of a pair "
                         "must be registered and the same size")


def check_not_an_input(out: Path, inputs) -> None:
    """Refuse to write ``out`` when it is one of ``inputs``: the same file by any name (a symbolic or hard link,
    another case on a case-insensitive file system, a relative path), as the OS sees it (os.path.samefile).
    A source is never overwritten by a result."""
    out = Path(out)
    if not out.exists():
        return
    for src in inputs:
        try:
            same = os.path.samefile(out, src)
        except OSError:  # an input that does not exist (yet): reading it will say so
            continue
        if same:
            raise InputError(f"Writing {out} would overwrite the input {Path(src).name}; choose another output")
