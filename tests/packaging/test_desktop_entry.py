"""Opening files with the packaged app from the desktop: the freedesktop entry (Linux), the document types of
the macOS bundle, and the launcher passing FILES on to the app."""

from __future__ import annotations

import configparser
import mimetypes
import shlex
import struct
from pathlib import Path

import pytest

from app.core import engine
from app.widgets.pair_list import VOLUME_SUFFIXES

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
# Python's own table (not /etc/mime.types, which differs between systems), then what it lacks
MIME = mimetypes.MimeTypes()
MISSING_FROM_PYTHON = {".dcm": "application/dicom", ".webp": "image/webp"}
UTI_SUFFIXES = {"public.png": {".png"}, "public.jpeg": {".jpg", ".jpeg"}, "public.tiff": {".tif", ".tiff"},
                "com.microsoft.bmp": {".bmp"}, "org.webmproject.webp": {".webp"}}


def mime_type(suffix: str) -> str:
    return MIME.guess_type(f"x{suffix}", strict=False)[0] or MISSING_FROM_PYTHON[suffix]


@pytest.fixture(scope="module")
def entry(cfg) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / cfg.DESKTOP_ENTRY, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_opens_files_with_the_app(entry, cfg):
    assert entry["Type"] == "Application" and entry["Name"] == "ReFusion Studio" and entry["Terminal"] == "false"
    command = shlex.split(entry["Exec"])
    assert command == ["refusion-studio", "%F"]  # %F: any number of local files and folders, as arguments
    assert entry["TryExec"] == "refusion-studio" and entry["Icon"] == Path(cfg.DESKTOP_ICON).stem
    assert entry["Categories"].endswith(";")
    assert {"Graphics", "Science", "MedicalSoftware"} <= set(entry["Categories"].split(";"))


def test_desktop_entry_lists_every_type_the_app_reads(entry):
    assert entry["MimeType"].endswith(";")
    listed = set(entry["MimeType"].split(";")) - {""}
    # volumes: DICOM; NIfTI has no MIME type in freedesktop's shared-mime-info, so no entry can name it
    suffixes = engine.image_suffixes() | {s for s in VOLUME_SUFFIXES if not s.startswith(".nii")}
    needed = {mime_type(s) for s in suffixes}
    assert needed <= listed, f"the desktop entry misses {sorted(needed - listed)}"
    assert {"image/png", "image/jpeg", "image/tiff", "application/dicom"} <= listed


def test_desktop_entry_matches_the_app_s_desktop_file_name(cfg):
    from app.main import DESKTOP_FILE_NAME

    assert cfg.DESKTOP_ENTRY == f"{DESKTOP_FILE_NAME}.desktop"


def test_linux_build_puts_the_entry_and_its_icon_beside_the_executable(build, cfg, tmp_path):
    written = build.desktop_entry(tmp_path)
    assert [p.name for p in written] == [cfg.DESKTOP_ENTRY, cfg.DESKTOP_ICON]
    assert (tmp_path / cfg.DESKTOP_ENTRY).read_bytes() == (PACKAGING / cfg.DESKTOP_ENTRY).read_bytes()
    png = (tmp_path / cfg.DESKTOP_ICON).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (256, 256)


def test_macos_bundle_declares_every_type_the_app_reads(cfg):
    covered = set()
    for kind in cfg.DOCUMENT_TYPES:
        assert kind["CFBundleTypeRole"] == "Viewer" and kind["LSHandlerRank"] == "Alternate"
        covered |= {f".{e}" for e in kind.get("CFBundleTypeExtensions", ())}
        for uti in kind.get("LSItemContentTypes", ()):
            covered |= UTI_SUFFIXES.get(uti, set())
    assert engine.image_suffixes() | {".nii", ".dcm"} <= covered
    assert any("public.folder" in kind.get("LSItemContentTypes", ()) for kind in cfg.DOCUMENT_TYPES)
    spec = (PACKAGING / "ReFusionStudio.spec").read_text(encoding="utf-8")
    assert '"CFBundleDocumentTypes": cfg.DOCUMENT_TYPES' in spec


def test_launcher_passes_files_to_the_app(launcher, monkeypatch):
    import app.main

    seen = []
    monkeypatch.setattr(app.main, "main", lambda argv=None: seen.append(argv) or 0)
    assert launcher.main(["/data/ir.png", "/data/vis.png"]) == 0
    assert seen == [["/data/ir.png", "/data/vis.png"]]
