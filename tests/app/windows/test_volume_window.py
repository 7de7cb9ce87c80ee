"""The volume slice browser: NIfTI and DICOM volumes open in a worker, slices browse in step, windows and
colour maps per view, slice-by-slice fusion with the shipped mif model, export of the raw fused values,
mismatched grids, the research-use note. Volumes are tiny (3–4 slices of 32×32), built here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.core.catalog import ModelCatalog
from app.core.methods import DEFAULT
from app.core.volumes import display_flips, export_paths, oriented
from app.qt.errors import ErrorHandler
from app.qt.preferences import Preferences
from app.windows.volume_window import VolumeWindow

nib = pytest.importorskip("nibabel")
S, H, W = 4, 32, 32
REPO = Path(__file__).resolve().parents[3]


def write_nifti(path: Path, data_srw: np.ndarray, descrip: bytes, zooms=(1.0, 1.0, 2.0)) -> Path:
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = (-16, -16, 10)
    img = nib.Nifti1Image(np.ascontiguousarray(data_srw.transpose(2, 1, 0)).astype(np.float32), affine)
    img.header["descrip"] = descrip
    nib.save(img, str(path))
    return path


def phantom(seed: int, slices: int = S) -> np.ndarray:
    """A blob that grows with the slice index, plus noise: slices differ, values are positive."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    out = np.stack([np.exp(-((yy - 14) ** 2 + (xx - 18) ** 2) / (20.0 + 15 * s)) for s in range(slices)])
    return (out * 1000 + rng.random(out.shape) * 50).astype(np.float32)


@pytest.fixture
def volumes(tmp_path) -> dict[str, Path]:
    """MR + PET pair (same grid), a 3-slice volume (other grid), a SPECT and a broken file."""
    # descrip names the modality as a word followed by more text: a bare b"MR" is not recognised by
    # refusion_core.medical.volumes, which does not strip the field's NUL padding before splitting it
    return {"mr": write_nifti(tmp_path / "mr.nii.gz", phantom(1), b"MR phantom"),
            "pet": write_nifti(tmp_path / "pet.nii", phantom(2) / 100, b"PT phantom"),
            "spect": write_nifti(tmp_path / "spect.nii", phantom(3), b"NM phantom"),
            "short": write_nifti(tmp_path / "short.nii.gz", phantom(4, 3), b"CT phantom"),
            "broken": tmp_path / "broken.nii"}


def dicom_series(folder: Path, stored: np.ndarray) -> Path:
    """A CT series: one file per slice, RescaleSlope 2, RescaleIntercept -1024, positions 2.5 mm apart,
    written in reverse order so that reading must sort by ImagePositionPatient."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    for i in reversed(range(len(stored))):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{i}"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = "CT", "1.2.826.0.1.3", i + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-16.0, -16.0, 10.0 + 2.5 * i]
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 2.5
        ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
        ds.Rows, ds.Columns = stored.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = stored[i].astype(np.uint16).tobytes()
        try:
            pydicom.dcmwrite(str(folder / f"IM{i}"), ds, enforce_file_format=True)
        except TypeError:  # pydicom 2.4
            pydicom.dcmwrite(str(folder / f"IM{i}"), ds, write_like_original=False)
    return folder


@pytest.fixture
def win(qtbot):
    preferences = Preferences()
    errors = ErrorHandler()
    w = VolumeWindow(ModelCatalog(preferences), preferences, errors, device="cpu")
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # qtbot closes it; the test still reads it
    qtbot.addWidget(w)
    yield w
    w.cancel()
    w.wait()


def open_and_wait(qtbot, w: VolumeWindow, a, b=None) -> None:
    assert w.open_paths(a, b)
    qtbot.waitUntil(lambda: not w.busy, timeout=30000)


def fuse_and_wait(qtbot, w: VolumeWindow) -> None:
    assert w.fuse()
    qtbot.waitUntil(lambda: not w.busy, timeout=120000)
    assert w.fused is not None, w.errors.history


def test_opens_inside_the_screen_that_holds_its_parent(qtbot, cornered_parent):
    """The main window sits partly past the bottom-right corner; the browser (980 × 620 asked, wider than the
    800 × 800 offscreen screen) opens whole inside the available area, shrunk only where it did not fit."""
    parent = cornered_parent
    area = parent.screen().availableGeometry()
    preferences = Preferences()
    w = VolumeWindow(ModelCatalog(preferences), preferences, ErrorHandler(), parent=parent, device="cpu")
    w.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(w)
    w.show()
    assert area.contains(w.frameGeometry()), (w.frameGeometry(), area)
    assert w.height() == 620 and w.width() < 980
    assert w.frameGeometry().bottom() == area.bottom()  # as near its parent as the screen allows
    qtbot.wait(20)  # checked again once shown, with its own frame
    assert area.contains(w.frameGeometry())


def test_opens_inside_the_primary_screen_without_a_parent(win, qtbot):
    win.resize(2000, 1500)
    win.show()
    qtbot.wait(20)
    assert QApplication.primaryScreen().availableGeometry().contains(win.frameGeometry())


def test_window_builds_without_torch_and_shows_the_note(tmp_path):
    code = ("import sys\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from app.core.catalog import ModelCatalog\nfrom app.qt.errors import ErrorHandler\n"
            "from app.qt.preferences import Preferences\nfrom app.windows.volume_window import VolumeWindow\n"
            "s = Preferences(); w = VolumeWindow(ModelCatalog(s), s, ErrorHandler()); w.show(); app.processEvents()\n"
            "print('torch' in sys.modules, w.note.isVisible(), 'research use' in w.note.text())\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REFUSION_USER_DATA=str(tmp_path / "ud"),
               XDG_CONFIG_HOME=str(tmp_path / "cfg"), HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["False", "True", "True"]


def test_empty_window_cannot_fuse_or_export(win):
    win.show()
    assert win.note.isVisible() and "not for clinical diagnosis" in win.note.text()
    assert not win.fuse_button.isEnabled() and not win.export_button.isEnabled() and not win.open_b.isEnabled()
    assert not win.fuse() and win.model_box.current_method() == DEFAULT


def test_nifti_pair_opens_and_slices_browse_together(qtbot, win, volumes):
    open_and_wait(qtbot, win, volumes["mr"], volumes["pet"])
    a, b = win.a.volume, win.b.volume
    assert (a.modality, b.modality) == ("MR", "PT")
    assert win.slices.slider.maximum() - win.slices.slider.minimum() + 1 == S and win.slices.slice_box.maximum() == S
    assert win.fuse_button.isEnabled() and not win.export_button.isEnabled()
    flips = win.views["A"].flips
    assert flips == (True, True)  # a RAS-stored NIfTI: anterior up, patient right on the left
    win.set_slice(0)
    first = win.views["A"].displayed().copy()
    win.slices.slice_box.setValue(3)  # 1-based in the spin box
    assert win.slices.slider.value() == 2
    np.testing.assert_array_equal(win.views["A"].displayed(), oriented(a.data[2], flips))
    np.testing.assert_array_equal(win.views["B"].displayed(), oriented(b.data[2], flips))
    assert not np.array_equal(win.views["A"].displayed(), first)
    assert "3 of 4" in win.slices.slice_label.text() and "z 14.0 mm" in win.slices.slice_label.text()
    # MR: grey, auto window; PET: heat map (not grey)
    assert win.views["A"].colormap_label == "Grey" and win.views["A"].mode == "auto"
    lut = win.views["B"].item.lut
    assert win.views["B"].colormap_label == "Heat" and np.ptp(lut[:, :3].astype(int), axis=1).max() > 50
    # the cursor reads raw values of every view at the same voxel
    win.slices._on_hover(5, 7)
    r, c = H - 1 - 7, W - 1 - 5
    assert f"row {r}" in win.slices.readout.text() and f"{a.data[2, r, c]:.0f}" in win.slices.readout.text()


def test_spect_gets_a_rainbow_and_colour_maps_change_per_view(qtbot, win, volumes):
    open_and_wait(qtbot, win, volumes["mr"], volumes["spect"])
    assert win.views["B"].colormap_label == "Rainbow"
    grey = win.views["A"].item.lut.copy()
    win.views["A"].set_colormap("Inferno")
    assert not np.array_equal(win.views["A"].item.lut, grey) and win.views["B"].colormap_label == "Rainbow"


def test_wheel_and_arrow_keys_change_the_slice(qtbot, win, volumes):
    open_and_wait(qtbot, win, volumes["mr"])
    win.set_slice(1)
    graphics = win.views["A"].graphics
    qtbot.keyClick(graphics, Qt.Key.Key_Up)
    assert win.slices.slider.value() == 2
    qtbot.keyClick(graphics, Qt.Key.Key_PageDown)
    assert win.slices.slider.value() == 0  # clamped
    wheel = QWheelEvent(QPointF(10, 10), QPointF(10, 10), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(graphics.viewport(), wheel)
    assert win.slices.slider.value() == 1


def test_dicom_ct_opens_in_hu_with_bone_window_and_presets_set_levels(qtbot, win, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    stored = (np.arange(3 * H * W).reshape(3, H, W) % 1500 + 100).astype(np.uint16)
    folder = dicom_series(tmp_path / "CT series", stored)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    win._browse("A", folder=True)  # Open A > DICOM series folder…
    qtbot.waitUntil(lambda: not win.busy, timeout=30000)
    assert win.preferences.folder("volumes") == str(folder)
    view, vol = win.views["A"], win.a.volume
    np.testing.assert_array_equal(vol.data, stored.astype(np.float32) * 2 - 1024)
    assert vol.modality == "CT" and vol.units == "HU" and win.slices.slider.maximum() == 2
    assert view.flips == (False, False)  # DICOM axial: stored as displayed
    assert view.mode == "bone" and view.window == (400.0, 1800.0)
    assert view.item.getLevels() == pytest.approx((-500.0, 1300.0))
    view.set_mode("brain")
    assert view.item.getLevels() == pytest.approx((0.0, 80.0))
    assert (view.center_box.value(), view.width_box.value()) == (40.0, 80.0)
    view.width_box.setValue(200.0)  # manual
    assert view.mode == "manual" and view.item.getLevels() == pytest.approx((-60.0, 140.0))
    assert [view.mode_box.itemData(i) for i in range(view.mode_box.count())] == \
        ["auto", "brain", "soft-tissue", "bone", "lung", "manual"]
    assert "z 12.5 mm" in win.slices.slice_label.text()  # the middle of 10, 12.5, 15
    win.slices._on_hover(0, 0)
    assert "HU" in win.slices.readout.text()


def test_mismatched_grids_one_message_and_the_window_stays_usable(qtbot, win, volumes, dialogs):
    open_and_wait(qtbot, win, volumes["mr"], volumes["short"])
    assert len(dialogs.shown) == 1, dialogs.shown
    title, text = dialogs.shown[0]
    assert title == "The volumes do not match"
    assert "mr.nii.gz is 4×32×32" in text and "short.nii.gz is 3×32×32" in text and "not opened" in text
    assert "Traceback" not in text
    assert win.a is not None and win.b is None and not win.fuse_button.isEnabled()
    open_and_wait(qtbot, win, None, volumes["pet"])  # a matching B is still taken
    assert win.b is not None and win.fuse_button.isEnabled() and len(dialogs.shown) == 1


def test_unreadable_file_says_so(qtbot, win, volumes, dialogs):
    volumes["broken"].write_bytes(b"not a NIfTI file at all" * 20)
    open_and_wait(qtbot, win, volumes["broken"])
    assert len(dialogs.shown) == 1 and "broken.nii" in dialogs.shown[0][1]
    assert win.a is None and win.open_a.isEnabled()


def test_fuse_uses_the_views_windows_and_export_writes_raw_values(qtbot, win, volumes, tmp_path):
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.medical.volumes import fuse_volumes
    from refusion_core.models.checkpoint import load_model

    open_and_wait(qtbot, win, volumes["mr"], volumes["pet"])
    win.views["A"].set_window(300.0, 600.0)
    fuse_and_wait(qtbot, win)
    fused = win.fused.opened.volume
    a, b = win.a.volume, win.b.volume
    assert fused.data.shape == (S, H, W) and fused.data.dtype == np.float32
    assert 0.0 <= fused.data.min() and fused.data.max() <= 1.0 and np.ptp(fused.data) > 0.05
    assert win.fused.window_a == (300.0, 600.0) and win.fused.window_b == win.views["B"].window
    expected, _ = fuse_volumes(Fuser(load_model(None, "mif"), "cpu"), a, b, (300.0, 600.0), win.views["B"].window)
    np.testing.assert_allclose(fused.data, expected.data, atol=1e-5)
    np.testing.assert_allclose(fused.affine, a.affine)
    k = win.slices.slider.value()
    np.testing.assert_array_equal(win.views["Fused"].displayed(), oriented(fused.data[k], win.views["Fused"].flips))
    assert win.views["Fused"].item.getLevels() == pytest.approx((0.0, 1.0)) and win.export_button.isEnabled()
    # a window changed after fusing is flagged
    win.views["B"].set_mode("manual")
    win.views["B"].set_window(1.0, 2.0)
    assert "Fuse again" in win.views["Fused"].title.text()

    win.views["Fused"].set_colormap("Inferno")  # the picture is exported as displayed
    with qtbot.waitSignal(win.exported, timeout=30000) as done:
        assert win.export_to(tmp_path / "out" / "fused.nii.gz")
    qtbot.waitUntil(lambda: not win.busy)
    nifti, png, side = export_paths(tmp_path / "out" / "fused.nii.gz", k)
    assert done.args[0] == [nifti, png, side] and png.name == f"fused_slice{k + 1:03d}.png"
    img = nib.load(str(nifti))
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), fused.data)
    np.testing.assert_allclose(img.affine, a.affine)
    from refusion_core.io.images import read_image

    np.testing.assert_array_equal(read_image(png), win.views["Fused"].picture())
    meta = json.loads(side.read_text(encoding="utf-8"))
    assert meta["a"]["window_center_width"] == [300.0, 600.0] and meta["a"]["path"] == str(volumes["mr"])
    assert meta["b"]["modality"] == "PT" and meta["model"]["key"] == "default" and meta["fused"]["dtype"] == "float32"
    assert meta["picture"]["colormap"] == "Inferno" and meta["picture"]["window_center_width"] == [0.5, 1.0]
    assert "research use" in meta["note"]


def test_picture_is_what_the_view_draws(qtbot, win, volumes):
    import qimage2ndarray

    open_and_wait(qtbot, win, volumes["mr"], volumes["pet"])
    view = win.views["B"]  # heat map, auto window
    view.item.render()  # pyqtgraph's own drawing of the slice: an 8-bit indexed image and its colour table
    q = view.item.qimage
    table = np.array([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in q.colorTable()], np.uint8)
    drawn = table[qimage2ndarray.raw_view(q)]
    assert len(np.unique(drawn.reshape(-1, 3), axis=0)) > 20
    np.testing.assert_array_equal(view.picture(), drawn)


def test_cancel_stops_fusing(qtbot, win, volumes):
    open_and_wait(qtbot, win, volumes["mr"], volumes["pet"])
    assert win.fuse()
    win.cancel()
    qtbot.waitUntil(lambda: not win.busy, timeout=60000)
    assert win.fused is None and win.views["Fused"].displayed() is None and win.fuse_button.isEnabled()


def test_display_flips_follow_the_affine():
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    assert display_flips(np.eye(4)) == (True, True)  # RAS: flip rows (A up) and columns (R left)
    assert display_flips(lps_to_ras) == (False, False)  # DICOM axial
    assert export_paths("x/out.nii", 0)[1:] == (Path("x/out_slice001.png"), Path("x/out.json"))
    assert export_paths("x/out", 4)[0] == Path("x/out.nii.gz")
