"""Fuzzing the image readers (issue 17): mutated PNG / JPEG / TIFF / BMP / PNM / WebP files either read as a
well-formed image or raise a one-line InputError; hostile headers are refused from the header, under a memory
ceiling. Bounded in time (``REFUSION_FUZZ_SECONDS`` per reader, default 3 s); ``scripts/fuzz_readers.py``
runs the same cases for longer. A failure names the case; ``python scripts/fuzz_readers.py --repro CASE``
reproduces it."""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.io.images import read_image, read_image_exif, write_image



def _fuzzing():
    """tests/refusion_core/io/fuzzing.py, loaded by path (tests/ is no package); one module for all users."""
    name = "refusion_fuzz_fuzzing"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fuzzing.py"))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


fz = _fuzzing()

SEED = 17
SECONDS = float(os.environ.get("REFUSION_FUZZ_SECONDS", "3"))


def _report(failures) -> str:
    return "\n".join(f"{case.repro}\n    {outcome.detail}" for case, outcome in failures[:20])


@pytest.mark.parametrize("reader", fz.IMAGE_READERS)
def test_mutated_images_read_or_give_one_line(reader, tmp_path):
    counts, failures = fz.fuzz(reader, SEED, SECONDS, tmp_path)
    assert counts["ok"] + counts["InputError"] >= min(50, sum(counts.values())), counts
    assert not failures, f"{len(failures)} of {sum(counts.values())} cases failed:\n{_report(failures)}"


def test_hostile_image_headers_are_refused_under_a_memory_ceiling(tmp_path):
    names = [n for n, case in fz.HOSTILE.items() if case.reader in fz.IMAGE_READERS]
    results = fz.run_hostile(names, tmp_path)
    bad = {n: r for n, r in results.items() if r[0] != "InputError" or not re.search(fz.HOSTILE_MESSAGE, r[1])}
    assert not bad, bad


# --- the failures the fuzzing found, as plain regression tests ---------------------------------------------

FOUND = [  # scripts/fuzz_readers.py --repro CASE
    "read_image_exif:bmp_rgb:flip:1526574313",  # a BMP 4,194,320 pixels wide: cv2.error from OpenCV's limit
    "read_image:png_palette:png_plte_length:155306226",  # PLTE length: 3.3-10 s and GBs inside OpenCV
    "read_image_exif:png_palette:png_plte_length:1124882941",
]


@pytest.mark.parametrize("case", FOUND)
def test_what_the_fuzzing_found_stays_fixed(case, tmp_path):
    outcome = fz.run_case(fz.Case.parse(case), tmp_path)
    assert outcome.kind == "InputError" and outcome.cpu < 0.5, (outcome.kind, outcome.detail, outcome.cpu)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_palette_png_whose_plte_length_reads_2_69_gb_is_refused_from_the_header(tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(fz.m_hostile_png_plte(None, fz._palette_png()))
    for reader in (read_image, read_image_exif):
        with pytest.raises(InputError, match=r"'PLTE' chunk declares 2,694,881,440 bytes but only \d+ follow"):
            reader(path)


def test_sizes_the_file_cannot_hold_are_refused_before_decoding(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 14000, 14000, 8, 0, 0, 0, 0)  # 196 megapixels: under the pixel limit
    png = tmp_path / "big.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                    + _chunk(b"IEND", b""))
    with pytest.raises(InputError, match=r"declares 14000 × 14000 pixels but its \d+ bytes cannot hold"):
        read_image(png)
    bmp = tmp_path / "wide.bmp"  # found by the fuzzing: OpenCV's width limit raised cv2.error
    write_image(bmp, np.zeros((12, 16, 3), np.uint8))
    data = bytearray(bmp.read_bytes())
    struct.pack_into("<i", data, 18, 4194320)
    bmp.write_bytes(bytes(data))
    with pytest.raises(InputError, match="declares 4194320 × 12 pixels"):
        read_image_exif(bmp)
    ok = write_image(tmp_path / "ok.png", np.zeros((600, 800), np.uint8))  # all zeros: deflate at its best
    assert read_image(ok).shape == (600, 800)


def test_only_the_listed_formats_are_decoded(tmp_path):
    """A file of another format that OpenCV reads (GIF here), renamed .png, reaches no decoder."""
    import cv2
    from PIL import Image

    path = tmp_path / "renamed.png"
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(path, format="GIF")
    assert cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    with pytest.raises(InputError, match=r"corrupt or in an unsupported format \(supported: \.png"):
        read_image(path)


def test_the_header_checks_refuse_no_valid_file(tmp_path):
    """Plausible extremes pass: an all-zero PNG (deflate at its best), a uniform JPEG-in-TIFF, an OS/2 BMP
    (16-bit sizes in a 12-byte header)."""
    from PIL import Image

    assert read_image(write_image(tmp_path / "zeros.png", np.zeros((1500, 2000), np.uint8))).shape == (1500, 2000)
    Image.fromarray(np.full((600, 900, 3), 128, np.uint8)).save(tmp_path / "j.tif", compression="jpeg")
    assert read_image(tmp_path / "j.tif").shape == (600, 900)
    w, h = 5, 3
    pixels = bytes((w * 3 + 3) // 4 * 4 * h)
    os2 = tmp_path / "os2.bmp"
    os2.write_bytes(b"BM" + struct.pack("<IHHI", 26 + len(pixels), 0, 0, 26) + struct.pack("<IHHHH", 12, w, h, 1, 24)
                    + pixels)
    assert read_image(os2).shape == (3, 5)
