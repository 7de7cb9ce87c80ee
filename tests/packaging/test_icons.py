"""The platform icons made from resources/icons/app.svg (packaging/icons.py)."""

from __future__ import annotations

import struct
from pathlib import Path

APP_SVG = Path(__file__).resolve().parents[2] / "resources" / "icons" / "app.svg"


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_render_png_has_the_size_asked(icons):
    assert _png_size(icons.render_png(APP_SVG, 48)) == (48, 48)


def test_ico_directory_points_at_each_png(icons):
    pngs = {s: icons.render_png(APP_SVG, s) for s in (16, 256)}
    data = icons.ico_bytes(pngs)
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, 2)
    for i, size in enumerate((16, 256)):
        w, h, _, _, planes, bpp, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i: 22 + 16 * i])
        assert (w, h) == ((size, size) if size < 256 else (0, 0)) and (planes, bpp) == (1, 32)
        assert data[offset: offset + length] == pngs[size]


def test_icns_chunks_cover_the_file(icons):
    pngs = {b"ic07": icons.render_png(APP_SVG, 128), b"icp4": icons.render_png(APP_SVG, 16)}
    data = icons.icns_bytes(pngs)
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    pos, seen = 8, {}
    while pos < len(data):
        kind, length = data[pos: pos + 4], struct.unpack(">I", data[pos + 4: pos + 8])[0]
        seen[kind] = data[pos + 8: pos + length]
        pos += length
    assert pos == len(data) and seen == pngs


def test_make_icons_writes_files_qt_can_read(icons, tmp_path):
    from PySide6.QtGui import QImageReader

    paths = icons.make_icons(APP_SVG, tmp_path)
    assert _png_size(paths["png"].read_bytes()) == (256, 256)
    reader = QImageReader(str(paths["ico"]))
    assert reader.canRead() and reader.imageCount() == len(icons.ICO_SIZES)
    assert paths["icns"].read_bytes()[:4] == b"icns"
