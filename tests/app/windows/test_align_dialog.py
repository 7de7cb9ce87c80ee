"""The Align dialog: known warps recovered (features, ECC, ECC on edges, control points) to < 1 px at
the corners, stacks, the written folder (sizes, bit depth, transforms.json, result_pair), clear errors,
no half-written output, Cancel during a job."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from refusion_core.io.images import read_image, write_image
from refusion_core.paths import user_data_dir
from refusion_core.registration.transforms import apply_matrix
from refusion_core.training.synthetic import similarity_homography

from app.core import align, align_writing
from app.core.pairing import make_stack
from app.qt.errors import ErrorHandler
from app.windows.align_dialog import AlignDialog

H, W, PAD = 96, 128, 24


def texture(h: int, w: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigma)
    return (x - x.min()) / (x.max() - x.min())


def scene(seed: int = 1, colour: bool = True) -> np.ndarray:
    """A textured float32 scene larger than the frames, so a warped frame has no black border."""
    big = [texture(H + 2 * PAD, W + 2 * PAD, seed + k) for k in range(3 if colour else 1)]
    return np.dstack(big) if colour else big[0]


def shot(big: np.ndarray, h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The frame a camera moved by ``h`` (in scene pixels) sees, and the true moving -> reference matrix."""
    c = np.array([[1, 0, -PAD], [0, 1, -PAD], [0, 0, 1.0]])  # scene -> frame coordinates
    h = np.eye(3) if h is None else h
    warped = cv2.warpPerspective(big, h, big.shape[1::-1], flags=cv2.INTER_LINEAR)
    return warped[PAD:PAD + H, PAD:PAD + W], c @ np.linalg.inv(h) @ np.linalg.inv(c)


def warp(**kw) -> np.ndarray:
    h = similarity_homography((H + 2 * PAD, W + 2 * PAD), **({"tx": 3.3, "ty": -2.1, "angle_deg": 2.0} | kw))
    h[2, :2] = (2e-5, -1e-5)
    return h


def corner_error(m: np.ndarray, truth: np.ndarray) -> float:
    corners = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], float)
    return float(np.abs(apply_matrix(m, corners) - apply_matrix(truth, corners)).max())


def save(path: Path, img: np.ndarray, dtype=np.uint8) -> Path:
    scale = 255 if dtype == np.uint8 else 65535
    return write_image(path, np.round(np.clip(img, 0, 1) * scale).astype(dtype))


@pytest.fixture
def open_dialog(qtbot):
    """``open_dialog(paths, **kw)``: an AlignDialog on the files, after they are read."""
    def make(paths, **kw):
        dlg = AlignDialog(make_stack([Path(p) for p in paths]), ErrorHandler(), **kw)
        qtbot.addWidget(dlg)
        qtbot.waitUntil(lambda: dlg.loaded is not None and not dlg.busy, timeout=20000)
        return dlg
    return make


def run_estimate(qtbot, dlg) -> align.Estimate:
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    assert dlg.estimation is not None, dlg.errors.history
    return dlg.estimation


def run_accept(qtbot, dlg) -> None:
    dlg.accept()
    done = lambda: dlg.result_pair is not None or (not dlg.busy and bool(dlg.errors.history))  # noqa: E731
    qtbot.waitUntil(done, timeout=30000)
    qtbot.waitUntil(lambda: not dlg.busy, timeout=10000)


@pytest.mark.parametrize("method", ["features", "ecc"])
def test_pair_recovered_and_written(qtbot, open_dialog, tmp_path, method):
    big = scene()
    ref, _ = shot(big)
    moving, truth = shot(big, warp())
    paths = [save(tmp_path / "ref.png", ref), save(tmp_path / "moved.png", moving)]
    dlg = open_dialog(paths)
    assert dlg.method.currentData() == "features"  # two photographs of one kind
    assert not dlg.accept_button.isEnabled()
    dlg.set_method(method)
    assert dlg.model.currentText() == "homography"
    est = run_estimate(qtbot, dlg)
    assert corner_error(est.transforms[0].matrix, truth) < 1.0
    assert dlg.accept_button.isEnabled()
    line = dlg.summary.item(0).text()
    assert "moved.png: homography" in line and ("feature matches agree" in line or "ECC correlation" in line)
    assert "corners moved up to" in line
    for mode in align.PREVIEW_MODES:
        dlg.mode.setCurrentText(mode)
    assert dlg.image.image is not None and dlg.image.image.shape[2] == 3

    run_accept(qtbot, dlg)
    assert dlg.result() == AlignDialog.DialogCode.Accepted
    out = dlg.out_files[0].parent
    assert out.parent == user_data_dir() / "aligned" and out.name.startswith("ref-")
    assert [p.name for p in dlg.out_files] == ["ref.png", "moved.png", "transforms.json"]
    assert dlg.result_pair.paths == tuple(dlg.out_files[:2])
    x, y, w, h = est.stack.box
    assert 100 < w <= W and 70 < h <= H
    for p in dlg.result_pair.paths:
        img = read_image(p)
        assert img.shape == (h, w, 3) and img.dtype == np.uint8
    report = json.loads((out / "transforms.json").read_text())
    assert report["crop"] == {"x": x, "y": y, "width": w, "height": h}
    frame = report["frames"][0]
    assert frame["input"] == "moved.png" and frame["method"] == method and frame["model"] == "homography"
    assert corner_error(np.array(frame["matrix"]), truth) < 1.0
    assert (frame["inliers"] or 0) > 20 if method == "features" else frame["correlation"] > 0.9
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


def test_stack_of_three_16_bit(qtbot, open_dialog, tmp_path):
    big = scene(seed=5, colour=False)
    truths, paths = [], [save(tmp_path / "f0.tif", shot(big)[0], np.uint16)]
    for i, kw in enumerate([{"tx": 4.0, "ty": 1.5}, {"tx": -3.0, "ty": 2.5, "angle_deg": -1.5}], 1):
        img, truth = shot(big, warp(**kw))
        paths.append(save(tmp_path / f"f{i}.tif", img, np.uint16))
        truths.append(truth)
    out = tmp_path / "aligned"
    dlg = open_dialog(paths, out_dir=out)
    assert dlg.frame.count() == 2 and dlg.frame.isVisibleTo(dlg)
    dlg.crop.setChecked(False)
    est = run_estimate(qtbot, dlg)
    assert len(est.transforms) == 2 and dlg.summary.count() == 2
    for t, truth in zip(est.transforms, truths):
        assert corner_error(t.matrix, truth) < 1.0
    dlg.frame.setCurrentIndex(1)  # the selector shows the second moving frame
    assert dlg.summary.currentRow() == 1
    dlg.before.setChecked(True)
    run_accept(qtbot, dlg)
    assert dlg.result_pair.is_stack and dlg.result_pair.paths == tuple(out / f"f{i}.tif" for i in range(3))
    assert (out / "f0.tif").read_bytes() == paths[0].read_bytes()  # uncropped reference: copied as it is
    for p in dlg.result_pair.paths:
        img = read_image(p)
        assert img.shape == (H, W) and img.dtype == np.uint16
    report = json.loads((out / "transforms.json").read_text())
    assert report["crop"] is None and [f["input"] for f in report["frames"]] == ["f1.tif", "f2.tif"]


def test_control_points(qtbot, open_dialog, tmp_path, dialogs):
    big = scene(seed=9)
    ref, _ = shot(big)
    moving, truth = shot(big, warp(tx=5.0, ty=3.0, angle_deg=4.0))
    dlg = open_dialog([save(tmp_path / "r.png", ref), save(tmp_path / "m.png", moving)])
    dlg.set_method("points")
    assert dlg.tabs.currentIndex() == 1 and dlg.refine.isEnabled()
    mov_pts = np.array([[10, 8], [118, 12], [112, 88], [6, 84]], float)
    ref_pts = apply_matrix(truth, mov_pts)

    dlg.set_points(ref_pts[:2], mov_pts[:2])
    assert "needs at least 4 point pairs; 2 set" in dlg.picker.need.text()
    assert not dlg.estimate()
    assert len(dialogs.shown) == 1 and "needs at least 4 control point pairs but m.png has 2" in dialogs.shown[0][1]
    assert not dlg.accept_button.isEnabled() and dlg.estimation is None

    dlg.set_points(ref_pts, mov_pts)
    assert dlg.picker.list.count() == 4 and dlg.picker.enough
    est = run_estimate(qtbot, dlg)
    t = est.transforms[0]
    assert t.method == "points" and t.inliers == 4
    np.testing.assert_allclose(t.matrix, truth / truth[2, 2], atol=1e-6)
    assert "4 control points, RMS 0.00 px" in dlg.summary.item(0).text()
    assert dlg.accept_button.isEnabled()

    dlg.picker.remove_pair(3)  # editing the points drops the estimate
    assert dlg.estimation is None and not dlg.accept_button.isEnabled()
    dlg.set_method("points", "affine")  # 3 pairs are enough for an affine; refine with ECC on edges
    dlg.refine.setChecked(True)
    est = run_estimate(qtbot, dlg)
    assert est.transforms[0].method == "ecc-edges" and corner_error(est.transforms[0].matrix, truth) < 1.0


def test_picker_clicks_alternate(qtbot):
    from app.widgets.point_picker import PointPicker

    picker = PointPicker()
    qtbot.addWidget(picker)
    picker.resize(700, 450)
    picker.show()
    picker.set_images(np.zeros((24, 32), np.uint8), np.zeros((24, 32), np.uint8), ((64, 48), (64, 48)))
    qtbot.wait(20)
    for side, (x, y) in enumerate([(10, 20), (30, 5)]):  # real clicks land on full-resolution pixels
        pos = picker.canvas.mapFromScene(picker.views[side].mapViewToScene(QPointF(x + 0.5, y + 0.5)))
        QTest.mouseClick(picker.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    ref, mov = picker.pairs()
    np.testing.assert_allclose(np.r_[ref, mov], [[10, 20], [30, 5]], atol=0.5)
    picker.set_points([], [])
    picker.add_point(0, 5, 6)
    assert "moving image" in picker.need_text() and len(picker.pairs()[0]) == 0
    picker.add_point(0, 7, 8)  # a second click on the reference moves its pending point
    picker.add_point(1, 9, 10)
    ref, mov = picker.pairs()
    assert ref.tolist() == [[7, 8]] and mov.tolist() == [[9, 10]]
    assert picker.list.item(0).text().startswith("1: reference (7.0, 8.0)")


def test_ecc_edges_on_infrared_like_pair(qtbot, open_dialog, tmp_path):
    """'IR': the scene inverted, gamma-remapped, stored as narrow-range 16-bit, and shifted."""
    vis_big = scene(seed=3, colour=False)
    vis, _ = shot(vis_big)
    ir, truth = shot(cv2.GaussianBlur((1 - vis_big) ** 2, (0, 0), 0.7), warp(tx=4.5, ty=-3.5, angle_deg=0))
    ir16 = (ir * 3000 + 28000).astype(np.uint16)
    paths = [save(tmp_path / "vis.png", vis), write_image(tmp_path / "ir.png", ir16)]
    dlg = open_dialog(paths)
    assert dlg.method.currentData() == "ecc-edges" and dlg.model.currentText() == "affine"  # suggested
    est = run_estimate(qtbot, dlg)
    assert est.transforms[0].method == "ecc-edges" and corner_error(est.transforms[0].matrix, truth) < 1.0
    run_accept(qtbot, dlg)
    assert read_image(dlg.result_pair.b).dtype == np.uint16  # the IR frame keeps its 16 bits


def test_errors_are_one_sentence_and_leave_nothing(qtbot, open_dialog, tmp_path, dialogs, images):
    flat = save(tmp_path / "flat.png", np.full((H, W), 0.5, np.float32))
    dlg = open_dialog([flat, save(tmp_path / "tex.png", scene()[PAD:PAD + H, PAD:PAD + W])])
    dlg.set_method("features")
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy and bool(dialogs.shown), timeout=20000)
    assert len(dialogs.shown) == 1
    text = dialogs.shown[0][1]
    assert text.startswith("Align: Too few features found in flat.png") and "Traceback" not in text
    assert "--method" not in text and "ECC on edges" in text  # the dialog's words, not the CLI's
    assert dlg.estimation is None and not dlg.accept_button.isEnabled()
    assert not (user_data_dir() / "aligned").exists()

    bad = AlignDialog(make_stack([flat, images["corrupt"]]), ErrorHandler())
    qtbot.addWidget(bad)
    qtbot.waitUntil(lambda: len(dialogs.shown) == 2, timeout=20000)
    assert "broken.png is corrupt" in dialogs.shown[1][1]
    qtbot.waitUntil(lambda: not bad.busy)
    assert bad.loaded is None and not bad.estimate_button.isEnabled()


def test_write_failure_leaves_no_folder(qtbot, open_dialog, tmp_path, dialogs, monkeypatch):
    big = scene()
    paths = [save(tmp_path / "a.png", shot(big)[0]), save(tmp_path / "b.png", shot(big, warp())[0])]
    out = tmp_path / "out" / "set"
    dlg = open_dialog(paths, out_dir=out)
    run_estimate(qtbot, dlg)

    def disk_full(path, img, **kw):  # noqa: ANN001, ANN003
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(align_writing, "write_image", disk_full)
    run_accept(qtbot, dlg)
    assert dlg.result_pair is None and dlg.out_files == [] and dlg.accept_button.isEnabled()  # can try again
    assert len(dialogs.shown) == 1 and "No space left" in dialogs.shown[0][1]
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_cancel_during_estimate(qtbot, open_dialog, tmp_path):
    big = scene(colour=False)
    paths = [save(tmp_path / f"s{i}.png", shot(big, warp(tx=i))[0]) for i in range(4)]
    dlg = open_dialog(paths)
    dlg.set_method("ecc")
    assert dlg.estimate() and dlg.busy
    worker = dlg.jobs.worker
    dlg.reject()  # aborts between two frames and waits: no crash, nothing written
    assert not worker.isRunning() and not dlg.busy
    qtbot.wait(50)
    assert dlg.result() == AlignDialog.DialogCode.Rejected and dlg.result_pair is None and dlg.out_files == []
    assert not (user_data_dir() / "aligned").exists()


def test_progress_is_empty_until_a_run_and_full_only_when_done(qtbot, open_dialog, tmp_path, monkeypatch):
    big = scene()
    dlg = open_dialog([save(tmp_path / "a.png", shot(big)[0]), save(tmp_path / "b.png", shot(big, warp())[0])])
    bar = dlg.progress
    assert bar.value() == bar.minimum() < bar.maximum()  # the files are read, nothing is aligned yet
    seen = []
    bar.valueChanged.connect(lambda v: seen.append((v, bar.maximum())))
    run_estimate(qtbot, dlg)
    assert bar.value() == bar.maximum() > 1
    assert any(0 < v < top for v, top in seen)  # partly full while the frames were registered
    dlg.crop.setChecked(False)  # the estimate no longer applies
    assert bar.value() == bar.minimum() < bar.maximum()

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003
        raise align.RegistrationError("ECC did not converge aligning b.png to a.png")

    monkeypatch.setattr(align, "estimate_transform", fail)
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=20000)
    assert dlg.estimation is None and bar.value() == bar.minimum() < bar.maximum()


# the engine's messages, each with its command-line hint, as the methods raise them
FAILURES = {
    "features": "Too few features found in a.png to register it (try --method ecc or ecc-edges, or give control "
                "points with --points)",
    "ecc": "ECC did not converge aligning b.png to a.png; the images may not overlap enough or differ too much (try "
           "--method features, ecc-edges or control points)",
    "ecc-edges": "The ECC correlation between a.png and b.png is only 0.12 (at least 0.3 needed), too weak to "
                 "register them; try another --method or control points",
}


def suggested(text: str) -> set[str]:
    """The methods named after 'choose another method:' in an error message."""
    tail = text.split("choose another method: ", 1)[1].rstrip(".")
    return set(tail.replace(" or ", ", ").split(", "))


@pytest.mark.parametrize("method", list(FAILURES))
def test_failure_advice_never_suggests_the_method_that_failed(qtbot, open_dialog, tmp_path, dialogs, monkeypatch,
                                                              method):
    big = scene()
    dlg = open_dialog([save(tmp_path / "a.png", shot(big)[0]), save(tmp_path / "b.png", shot(big, warp())[0])])

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003
        raise align.RegistrationError(FAILURES[method])

    monkeypatch.setattr(align, "estimate_transform", fail)
    dlg.set_method(method)
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy and bool(dialogs.shown), timeout=20000)
    text = dialogs.shown[0][1]
    assert "--method" not in text and "--points" not in text and "try " not in text  # one piece of advice
    names = suggested(text)
    assert align.METHOD_NAMES[method] not in names and "Control points" in names
    assert names <= set(align.METHOD_NAMES.values()) and len(names) >= 2
    assert suggested(dlg.status.text()) == names  # the dialog says it in place too


def test_failure_advice_for_control_points(qtbot, open_dialog, tmp_path, dialogs, monkeypatch):
    """Too few or degenerate points: click more; the ECC refinement failing: drop it or click more."""
    big = scene()
    dlg = open_dialog([save(tmp_path / "a.png", shot(big)[0]), save(tmp_path / "b.png", shot(big, warp())[0])])
    dlg.set_method("points", "affine")
    pts = np.array([[10, 8], [118, 12], [112, 88], [6, 84]], float)
    dlg.set_points(pts[:2], pts[:2])
    assert not dlg.estimate()  # too few: said before any run
    assert "click more corresponding points" in dialogs.shown[-1][1]

    dlg.set_points(pts, pts)
    def collinear(*args, **kwargs):  # noqa: ANN002, ANN003
        raise align.RegistrationError("The control points are collinear; an affine transform needs points that "
                                      "span an area")

    from_points = align.transform_from_points
    monkeypatch.setattr(align, "transform_from_points", collinear)
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy and len(dialogs.shown) == 2, timeout=20000)
    assert dialogs.shown[-1][1].endswith("click more corresponding points, spread over the whole image, or choose a "
                                         "simpler model.")
    monkeypatch.setattr(align, "transform_from_points", from_points)  # not undo(): the dialogs fixture patches too

    def no_refinement(*args, **kwargs):  # noqa: ANN002, ANN003
        raise align.RegistrationError(FAILURES["ecc"])

    monkeypatch.setattr(align, "estimate_transform", no_refinement)
    dlg.refine.setChecked(True)
    assert dlg.estimate()
    qtbot.waitUntil(lambda: not dlg.busy and len(dialogs.shown) == 3, timeout=20000)
    text = dialogs.shown[-1][1]
    assert "clear 'Refine the control points with ECC on edges'" in text and "ECC on edges or control" not in text


@pytest.mark.parametrize("factor", [0.75, 1.5])
def test_pair_of_two_sizes_is_aligned_to_a_s_size(qtbot, tmp_path, factor):
    """As the fusing controller offers it for a pair whose sizes differ: AlignDialog(pair, errors, parent) with
    what it suggests (ECC on edges, affine, started from B stretched over A), B written at A's size."""
    from app.core.pairing import Pair

    big = scene(seed=5)
    ref, _ = shot(big)
    moving, truth = shot(big, warp(tx=2.0, ty=1.5, angle_deg=1.0))
    small = cv2.resize(moving, (round(W * factor), round(H * factor)), interpolation=cv2.INTER_AREA)
    a, b = save(tmp_path / "a.png", ref), save(tmp_path / "b.png", small)
    parent = QWidget()
    qtbot.addWidget(parent)
    dlg = AlignDialog(Pair(a, b), ErrorHandler(), parent)  # closed with its parent
    qtbot.waitUntil(lambda: dlg.loaded is not None and not dlg.busy, timeout=20000)
    assert dlg.method.currentData() == "ecc-edges" and dlg.model.currentText() == "affine"
    dlg.crop.setChecked(False)
    est = run_estimate(qtbot, dlg)
    scale = np.diag([W / small.shape[1], H / small.shape[0], 1.0])  # b's pixels -> the moved frame's
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    expected = truth @ np.linalg.inv(shift) @ scale @ shift  # pixel centres: x + ½ scales
    corners = np.array([[0, 0], [small.shape[1] - 1, 0], [small.shape[1] - 1, small.shape[0] - 1],
                        [0, small.shape[0] - 1]], float)
    assert np.abs(apply_matrix(est.transforms[0].matrix, corners) - apply_matrix(expected, corners)).max() < 1.0
    run_accept(qtbot, dlg)
    assert dlg.result() == AlignDialog.DialogCode.Accepted
    assert [read_image(p).shape for p in dlg.result_pair.paths] == [(H, W, 3), (H, W, 3)]
    assert dlg.result_pair.a.read_bytes() == a.read_bytes()  # A as it was; B warped onto A's grid


def test_opens_inside_the_screen_that_holds_its_parent(qtbot, cornered_parent, tmp_path):
    """960 × 700 asked on the 800 × 800 offscreen screen, the main window near the bottom-right corner."""
    parent = cornered_parent
    area = parent.screen().availableGeometry()
    big = scene()
    paths = [save(tmp_path / "a.png", shot(big)[0]), save(tmp_path / "b.png", shot(big, warp())[0])]
    dlg = AlignDialog(make_stack(paths), ErrorHandler(), parent)  # closed with its parent
    dlg.show()
    qtbot.waitUntil(lambda: dlg.loaded is not None and not dlg.busy, timeout=20000)
    assert area.contains(dlg.frameGeometry()), (dlg.frameGeometry(), area)
