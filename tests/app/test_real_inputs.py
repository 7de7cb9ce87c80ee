"""Real-world inputs in the app: a dropped stack is one item fused as a tree, input scaling of raw 16-bit
data, EXIF carried into the exported image, non-ASCII paths, the research-use note."""

import json

import numpy as np
import pytest
from refusion_core.io.images import from_float, read_image, read_image_exif, write_image

from app.core.writing import ExportOptions
from tests.app.conftest import H, W, texture


@pytest.fixture
def stack_files(tmp_path):
    """Four frames of one scene, each sharp in a different quarter (named so that the drop order differs)."""
    import cv2

    sharp = texture(H, W, 7)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    files = []
    for i, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        frame = blurred.copy()
        rs, cs = slice(r * H // 2, (r + 1) * H // 2), slice(c * W // 2, (c + 1) * W // 2)
        frame[rs, cs] = sharp[rs, cs]
        files.append(write_image(tmp_path / "stäck" / f"frame_{i}.png", from_float(frame)))
    return files


def test_a_dropped_stack_is_one_item_and_fuses_as_a_tree(window, stack_files, wait_idle, tmp_path):
    w = window
    w.pair_list.add_paths(list(reversed(stack_files)))
    assert len(w.state.workspace.pairs) == 1
    item = w.state.workspace.pairs.current_pair()
    assert item.is_stack and item.paths == tuple(stack_files)
    assert "stack of 4" in w.pair_list.list.item(0).text()
    titles = w.state.workspace.panel_titles()
    assert "frame 1 of 4" in titles["A"] and "frame 2 of 4" in titles["B"]
    steps = []
    w.state.activity.progressChanged.connect(lambda d, t, text: steps.append((d, t)))
    assert w.fusing.fuse()
    wait_idle(w)
    fused = w.state.workspace.fused
    assert fused is not None, w.errors.history
    assert fused.image.shape == (H, W) and "stack of 4" in fused.label
    assert fused.source["stack"]["frames"] == 4 and fused.maps == {}  # no pair maps for a stack
    w.maps._refresh()
    assert "a stack has none" in w.metrics.note.text() and w.metrics.table.columnCount() == 0
    assert "a stack fused as a tree of pairs has none" in w.maps.title.text()
    assert "stack of 4" in w.state.workspace.second.label  # the classical comparison fuses the stack too
    assert (3, 3) in steps  # three pairwise fusions in the tree, reported
    out = tmp_path / "export"
    assert w.exporter.export(ExportOptions(folder=out, metrics=False))
    wait_idle(w)
    png = out / "frame_0__frame_3_stack4_fused.png"
    assert read_image(png).shape == (H, W)
    sidecar = json.loads((out / "frame_0__frame_3_stack4.refusion.json").read_text(encoding="utf-8"))
    assert [p.endswith(f"frame_{i}.png") for i, p in enumerate(sidecar["sources"]["frames"])] == [True] * 4


def test_training_uses_the_neighbouring_frames_of_a_stack(window, stack_files, monkeypatch):
    from app.controllers import training

    seen = {}

    def fake_start(job, ctl, request, entry, catalog, pairs, *rest, **kw):  # records what the trainer would get
        seen["pairs"] = pairs
        raise RuntimeError("stop here")

    monkeypatch.setattr(window.training.jobs, "start", fake_start)
    window.pair_list.add_paths(stack_files)
    with pytest.raises(RuntimeError, match="stop here"):
        window.training.start(training.TrainRequest("quick", {}, False))
    assert seen["pairs"] == [(stack_files[i], stack_files[i + 1]) for i in range(3)]


@pytest.fixture
def raw16(tmp_path):
    """A 16-bit 'radiometric' pair whose values fill ~2 % of the range (looks black without scaling)."""
    base = (20000 + texture(H, W, 3) * 1300).astype(np.uint16)
    other = (21000 + texture(H, W, 4) * 1200).astype(np.uint16)
    return write_image(tmp_path / "thermal_a.tif", base), write_image(tmp_path / "thermal_b.tif", other)


def test_input_scaling_of_raw_16_bit_data(window, raw16, qtbot):
    w = window
    w.pair_list.add_paths(list(raw16))
    a, _ = w.state.workspace.sources
    assert a.dtype == np.uint16 and a.max() - a.min() > 60000  # auto: stretched to the full range
    assert w.stretch_group.checkedAction().data() == "auto"
    with qtbot.waitSignal(w.state.workspace.imagesChanged):
        w.state.choices.set_stretch("none")
    a, _ = w.state.workspace.sources
    assert np.array_equal(a, read_image(raw16[0]))  # off: read without loss, values as they are
    assert w.stretch_group.checkedAction().data() == "none"  # the menu follows the state
    w.stretch_group.actions()[2].trigger()  # the menu: "always stretch"
    assert w.state.choices.stretch == "percentile" and w.state.workspace.sources[0].max() - w.state.workspace.sources[0].min() > 60000


def test_export_of_16_bit_sources_defaults_to_16_bit(window, raw16, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from app.windows import export_dialog

    made = {}

    def fake_exec(self):
        made["depth"] = self.depth.currentData()
        made["exif"] = self.exif.isChecked()
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(export_dialog.ExportDialog, "exec", fake_exec)
    window.pair_list.add_paths(list(raw16))
    window.handlers.export()
    assert made == {"depth": 16, "exif": True}


def test_exif_of_a_is_kept_in_the_exported_fused_image(window, tmp_path, wait_idle):
    Image = pytest.importorskip("PIL.Image", reason="Pillow writes the EXIF test file")
    ex = Image.Exif()
    ex[0x010F] = "TestCam"
    ex[0x0112] = 1
    rgb = np.dstack([texture(H, W, s) for s in (2, 3, 4)])
    a = tmp_path / "ünïcode dir" / "photo_a.jpg"
    a.parent.mkdir()
    Image.fromarray(from_float(rgb)).save(a, exif=ex.tobytes(), quality=95)
    b = write_image(tmp_path / "ünïcode dir" / "photo_b.png", from_float(texture(H, W, 9)))
    window.pair_list.add_paths([a, b])
    assert window.fusing.fuse()
    wait_idle(window)
    out = tmp_path / "ëxport"
    assert window.exporter.export(ExportOptions(folder=out, fmt="png", maps=False, metrics=False))
    wait_idle(window)
    img, exif = read_image_exif(out / "photo_a__photo_b_fused.png")
    assert img.shape == (H, W, 3) and exif is not None and b"TestCam" in exif
    sidecar = json.loads((out / "photo_a__photo_b.refusion.json").read_text(encoding="utf-8"))
    assert sidecar["exif_copied_from"].endswith("photo_a.jpg")
    assert window.exporter.export(ExportOptions(folder=tmp_path / "no_exif", maps=False, metrics=False,
                                                keep_exif=False))
    wait_idle(window)
    assert read_image_exif(tmp_path / "no_exif" / "photo_a__photo_b_fused.png")[1] is None


def test_about_says_research_use_not_diagnosis(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append(text))
    window._about()
    assert "Research use only" in shown[0] and "not for clinical diagnosis" in shown[0]


def test_dropped_volumes_open_in_the_volume_browser(window, tmp_path, qtbot, images):
    nib = pytest.importorskip("nibabel", reason="nibabel writes the test volumes")
    data = (np.arange(3 * 16 * 16, dtype=np.float32).reshape(16, 16, 3) % 97) * 10
    paths = []
    for name in ("mri.nii.gz", "pet.nii.gz"):
        img = nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0]))
        img.header["descrip"] = b"MR" if name.startswith("mri") else b"PT"
        nib.save(img, tmp_path / name)
        paths.append(tmp_path / name)
    window.pair_list.add_paths(paths + [images["grey"]])  # the image still goes to the pair list
    assert window.state.workspace.pairs.pending == images["grey"]
    assert len(window.handlers.volume_windows) == 1
    vw = window.handlers.volume_windows[0]
    qtbot.waitUntil(lambda: vw.a is not None and vw.b is not None and not vw.busy, timeout=20000)
    assert vw.a.volume.data.shape[0] == 3 and vw.b.volume.modality == "PT"
    assert window.act["volumes"] in window.menuBar().actions()[0].menu().actions()
    vw.close()


def test_align_action_replaces_the_item_with_the_aligned_files(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from app.core.pairing import Pair
    from app.windows import align_dialog

    a = write_image(tmp_path / "a.png", from_float(texture(H, W, 1)))
    b = write_image(tmp_path / "b.png", from_float(texture(H, W, 2)))
    aligned = Pair(write_image(tmp_path / "out" / "a.png", from_float(texture(H, W, 1))),
                   write_image(tmp_path / "out" / "b.png", from_float(texture(H, W, 3))))

    class FakeDialog:  # what AlignDialog gives back after the user accepted an estimate
        def __init__(self, pair, errors, parent=None):
            assert pair == Pair(a, b)
            self.result_pair, self.out_files = aligned, [aligned.a, aligned.b, tmp_path / "out" / "transforms.json"]

        def exec(self):
            return QDialog.DialogCode.Accepted

    assert not window.act["align"].isEnabled()  # nothing to align yet
    window.pair_list.add_paths([a, b])
    assert window.act["align"].isEnabled()
    monkeypatch.setattr(align_dialog, "AlignDialog", FakeDialog)
    window.act["align"].trigger()
    assert window.state.workspace.pairs.pairs == [aligned] and window.state.workspace.pairs.current == 0
    assert np.array_equal(window.state.workspace.sources[1], read_image(aligned.b))  # the aligned B is shown
