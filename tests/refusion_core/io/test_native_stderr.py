"""Native libraries stay off the terminal: libpng's warnings (written straight to the C stderr) and OpenCV's log.

The PNGs here carry chunks that libpng warns about and still decodes: an iCCP chunk whose profile is too short
(the same code path as the "known incorrect sRGB profile" warning, which needs the exact bytes of a 1998 HP
profile), and a tEXt chunk with a wrong CRC.
"""

import os
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

from refusion_core.io.images import read_image, read_image_exif, write_image
from tests.conftest import REPO, textured

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ENV.pop("OPENCV_LOG_LEVEL", None)


def _chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def warned_png(path: Path, img: np.ndarray) -> Path:
    """``img`` as a PNG that libpng warns about (a short iCCP profile, a tEXt chunk with a bad CRC)."""
    write_image(path, img)
    png = path.read_bytes()
    end_of_ihdr = 8 + 12 + 13
    extra = _chunk(b"iCCP", b"bad\0\0" + zlib.compress(b"\0" * 132)) + _chunk(b"tEXt", b"Comment\0hi", crc=1234)
    path.write_bytes(png[:end_of_ihdr] + extra + png[end_of_ihdr:])
    return path


def plain_opencv_warns(path: Path) -> bool:
    """Whether this platform's OpenCV prints libpng's warning for ``path`` when nothing silences it (else the
    tests below would pass without the fix and prove nothing)."""
    code = ("import cv2, sys; img = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); "
            "assert img is not None and img.size > 0")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    return "libpng warning" in done.stderr


@pytest.fixture(scope="module")
def warned(tmp_path_factory):
    root = tmp_path_factory.mktemp("warned")
    a = warned_png(root / "A" / "p0.png", (textured(40, 48, 0) * 255).astype(np.uint8))
    b = warned_png(root / "B" / "p0.png", (np.dstack([textured(40, 48, k) for k in (1, 2, 3)]) * 255).astype(np.uint8))
    if not plain_opencv_warns(a):
        pytest.skip("this OpenCV's libpng does not warn about the crafted chunks; nothing to silence here")
    return a, b


def test_reading_keeps_libpng_off_stderr_and_in_the_log(warned, capfd):
    import logging

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    logger, keep = logging.getLogger("refusion"), Keep()  # the CLI's setup_logging stops propagation: no caplog
    level = logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        img = read_image(warned[0])
        img_b, exif = read_image_exif(warned[1])
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
    assert img.shape == (40, 48) and img_b.shape == (40, 48, 3) and exif is None
    assert "libpng" not in capfd.readouterr().err
    assert any("libpng warning" in line for line in keep.lines)  # the log file keeps what was said


def test_stderr_is_given_back_after_reads_in_many_threads(warned, capfd):
    before = os.fstat(2)
    errors = []

    def read_some():
        try:
            for _ in range(10):
                read_image(warned[0])
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=read_some) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)  # fd 2 points where it did
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_refusion_fuse_prints_no_libpng_warning(warned, tmp_path):
    a, b = warned
    from refusion_core.models.checkpoint import new_bundle, save_model

    weights = save_model(tmp_path / "m.safetensors", new_bundle("ivif", seed=0))
    single = [sys.executable, "-m", "refusion_core", "fuse", str(a), str(b), "-o", str(tmp_path / "f.png"),
              "--weights", str(weights), "--device", "cpu"]
    batch = [sys.executable, "-m", "refusion_core", "fuse", "--pairs", str(a.parent), str(b.parent), "--out-dir",
             str(tmp_path / "out"), "--weights", str(weights), "--device", "cpu"]
    for argv in (single, batch):
        done = subprocess.run(argv, capture_output=True, text=True, env=ENV)
        assert done.returncode == 0, done.stderr
        assert "libpng" not in done.stderr and "WARN" not in done.stderr, done.stderr
    assert read_image(tmp_path / "f.png").shape == (40, 48, 3) and (tmp_path / "out" / "p0.png").is_file()
