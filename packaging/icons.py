"""The application icon for each platform, made from ``resources/icons/app.svg`` at build time.

    python packaging/icons.py OUT_DIR      ->  OUT_DIR/app.ico, app.icns, app.png (256 px)

The SVG is rendered with Qt (QtSvg, offscreen: no display needed) and the containers are written here,
so the build needs neither Pillow nor platform tools (iconutil, ImageMagick):

* ``.ico`` (Windows executable): PNG-compressed entries, 16 to 256 px (Windows Vista and later read them).
* ``.icns`` (macOS app bundle): PNG entries ``icp4`` ... ``ic10`` (16 to 1024 px, the @2x ones included).
* ``.png`` (Linux: the ``.desktop`` entry's icon; PyInstaller ignores icons on Linux).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512, b"ic10": 1024,
              b"ic11": 32, b"ic12": 64, b"ic13": 256, b"ic14": 512}


def render_png(svg: Path, size: int) -> bytes:
    """``svg`` rendered to a ``size`` x ``size`` RGBA PNG (transparent background)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _application()
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(data.data())


def _application():
    """The running QApplication, or one made here (offscreen unless a platform is set) and kept alive.

    A QApplication rather than a QGuiApplication, so that widgets can still be made later in the process.
    """
    global _APP
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _APP = QApplication([sys.argv[0]])
    return QApplication.instance()


_APP = None


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file holding one PNG per size (sizes up to 256)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    entries, blobs = b"", b""
    offset = len(header) + 16 * len(pngs)
    for size, png in sorted(pngs.items()):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(blobs))
        blobs += png
    return header + entries + blobs


def icns_bytes(pngs: dict[bytes, bytes]) -> bytes:
    """An ICNS file from ``{type: png}`` (types as in :data:`ICNS_TYPES`)."""
    body = b"".join(kind + struct.pack(">I", 8 + len(png)) + png for kind, png in pngs.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def make_icons(svg: Path, out_dir: Path) -> dict[str, Path]:
    """Write app.ico, app.icns and app.png into ``out_dir``; returns them by suffix."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = {s: render_png(svg, s) for s in sorted(set(ICO_SIZES) | set(ICNS_TYPES.values()))}
    paths = {"ico": out_dir / "app.ico", "icns": out_dir / "app.icns", "png": out_dir / "app.png"}
    paths["ico"].write_bytes(ico_bytes({s: cache[s] for s in ICO_SIZES}))
    paths["icns"].write_bytes(icns_bytes({k: cache[s] for k, s in ICNS_TYPES.items()}))
    paths["png"].write_bytes(cache[256])
    return paths


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for p in make_icons(root / "resources" / "icons" / "app.svg", Path(sys.argv[1])).values():
        print(p)
