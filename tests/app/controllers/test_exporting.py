"""Export: the fused image (PNG/TIFF, 8/16 bit, colour kept), the maps, metrics CSV, sidecars;
one pair or the whole list; never overwriting without asking; cancel."""

import csv
import json

import numpy as np
from PySide6.QtWidgets import QMessageBox

from app.core.writing import ExportOptions
from refusion_core.io.images import read_image


def export(window, wait_idle, **kw):
    started = window.exporter.export(ExportOptions(**kw))
    wait_idle(window)
    return started


def test_export_current_pair(fused_window, tmp_path, wait_idle, dialogs):
    w = fused_window
    out = tmp_path / "out"
    assert export(w, wait_idle, folder=out, fmt="png", bit_depth=16, second=True)
    fused = read_image(out / "ir__vis_fused.png")
    assert fused.dtype == np.uint16 and fused.shape == w.state.workspace.sources[1].shape  # 16 bit, colour kept
    assert read_image(out / "ir__vis_compare.png").ndim == 3
    for m in ("wa", "wb", "va", "vb"):
        assert read_image(out / f"ir__vis_{m}.png").dtype == np.uint16
        assert read_image(out / f"ir__vis_{m}_color.png").shape[-1] == 3
    sidecar = json.loads((out / "ir__vis.refusion.json").read_text())
    assert sidecar["app_version"] and sidecar["model"]["sha256"] == w.state.workspace.fused.source["sha256"]
    assert sidecar["model"]["path"].endswith("tiny.safetensors") and sidecar["task"] == "ivif"
    assert sidecar["export"]["bit_depth"] == 16 and sidecar["sources"]["b"].endswith("vis.png")
    assert "model" in sidecar["settings"]
    rows = list(csv.DictReader((out / "metrics_ivif.csv").open()))
    assert [r["method"] for r in rows] == ["tiny", "Laplacian pyramid"] and float(rows[0]["EN"]) > 0
    assert [r["role"] for r in rows] == ["fused", "compare"] and rows[0]["model_sha256"] == sidecar["model"]["sha256"]
    assert rows[0]["model_file"] == sidecar["model"]["path"] and rows[1]["model_file"] == ""
    written = len(w.exporter.summary.written)
    assert dialogs.shown == [("Export finished", f"{written} files written to {out}")]


def test_export_tiff_8_bit(fused_window, tmp_path, wait_idle):
    out = tmp_path / "tif"
    assert export(fused_window, wait_idle, folder=out, fmt="tif", bit_depth=8, maps=False, metrics=False)
    img = read_image(out / "ir__vis_fused.tif")
    assert img.dtype == np.uint8 and img.ndim == 3
    assert not list(out.glob("*_wa.png"))


def test_never_overwrites_without_asking(fused_window, tmp_path, wait_idle, dialogs):
    out = tmp_path / "again"
    assert export(fused_window, wait_idle, folder=out)
    target = out / "ir__vis_fused.png"
    target.write_bytes(b"keep me")
    dialogs.answers.append(QMessageBox.StandardButton.No)
    assert not export(fused_window, wait_idle, folder=out)
    assert target.read_bytes() == b"keep me" and "already exist" in dialogs.questions[-1]
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    assert export(fused_window, wait_idle, folder=out)
    assert read_image(target).ndim == 3


def test_batch_export_all_pairs(window, images, tmp_path, wait_idle, qtbot):
    window.pair_list.add_paths([images["dir_a"], images["dir_b"]])
    out = tmp_path / "batch"
    steps = []
    window.state.activity.progressChanged.connect(lambda d, t, text: steps.append((d, t)))
    assert export(window, wait_idle, folder=out, scope="all")
    assert sorted(p.name for p in out.glob("*_fused.png")) == ["s0__s0_fused.png", "s1__s1_fused.png", "s2__s2_fused.png"] \
        or len(list(out.glob("*_fused.png"))) == 3
    assert len(list(out.glob("*.refusion.json"))) == 3
    rows = list(csv.DictReader((out / "metrics_ivif.csv").open()))
    assert len(rows) == 6  # three pairs x (model, comparison)
    assert (3, 3) in steps and window.exporter.summary.failed == []


def test_batch_export_can_be_cancelled(window, images, tmp_path, wait_idle):
    window.pair_list.add_paths([images["dir_a"], images["dir_b"]])
    out = tmp_path / "cancel"
    assert window.exporter.export(ExportOptions(folder=out, scope="all"))
    window.exporter.cancel()
    wait_idle(window)
    assert window.exporter.summary.cancelled
    assert len(list(out.glob("*_fused.png"))) < 3


def test_batch_skips_a_bad_pair_and_says_so(window, images, tmp_path, wait_idle, dialogs, qtbot):
    window.pair_list.add_paths([images["grey"], images["colour"]])
    window.pair_list.add_paths([images["grey"], images["other_size"]])
    dialogs.shown.clear()
    out = tmp_path / "bad"
    assert export(window, wait_idle, folder=out, scope="all")
    assert len(list(out.glob("*_fused.png"))) == 1
    assert dialogs.titles() == ["Some pairs were not exported"] and "big.png" in dialogs.text()
    assert f"files written to {out}" in dialogs.text()


def test_export_action_uses_the_dialog(fused_window, tmp_path, monkeypatch, wait_idle):
    from PySide6.QtWidgets import QDialog

    from app.windows.export_dialog import ExportDialog

    monkeypatch.setattr(ExportDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    monkeypatch.setattr(ExportDialog, "options", lambda self: ExportOptions(folder=tmp_path / "dlg"))
    fused_window.act["export"].trigger()
    wait_idle(fused_window)
    assert (tmp_path / "dlg" / "ir__vis_fused.png").is_file()
    assert fused_window.preferences.folder("export") == str(tmp_path / "dlg")


def test_export_all_uses_each_items_own_task_and_model(window, images, tmp_path, wait_idle, dialogs, monkeypatch):
    """An ivif item and an mfif item (the tiny ivif model chosen for it too): each is fused with its own task and
    model, and its rows go to its own task's CSV with that task's paper metrics as columns."""
    from app.core.engine import metric_names
    from app.core.pairing import ItemSetup
    from refusion_core.io.images import write_image
    w = window
    w.pair_list.add_paths([images["grey"], images["colour"]])
    rng = np.random.default_rng(0)  # mfif's metrics include VIF, which needs 41 x 41 pixels or more
    near, far = (write_image(tmp_path / "focus" / f"{n}.png", (rng.random((48, 48)) * 255).astype(np.uint8))
                 for n in ("near", "far"))
    w.pair_list.add_paths([near, far])
    pairs = w.state.workspace.pairs
    tiny = w.state.choices.model
    pairs.set_setup(1, ItemSetup("mfif", tiny))  # the tiny ivif model on a multi-focus item, as asked
    seen = []
    from app.controllers import exporting
    real = exporting.make_result
    monkeypatch.setattr(exporting, "make_result", lambda key, cat, task, *a, **k: seen.append((key, task))
                        or real(key, cat, task, *a, **k))
    out = tmp_path / "mixed"
    assert export(w, wait_idle, folder=out, scope="all")
    assert w.exporter.summary.failed == [] and (tiny, "ivif") in seen and (tiny, "mfif") in seen
    ivif = list(csv.DictReader((out / "metrics_ivif.csv").open()))
    mfif = list(csv.DictReader((out / "metrics_mfif.csv").open()))
    assert {r["task"] for r in ivif} == {"ivif"} and {r["task"] for r in mfif} == {"mfif"}
    assert set(metric_names("mfif")) <= set(mfif[0]) and not (set(metric_names("ivif")) - set(metric_names("mfif"))) & set(mfif[0])
    sidecars = {json.loads(f.read_text())["task"] for f in out.glob("*.refusion.json")}
    assert sidecars == {"ivif", "mfif"}


def test_the_sidecar_redoes_the_result(fused_window, tmp_path, wait_idle):
    """The sidecar's ``redo`` command, run in a shell, makes the same fused image (the CLI and the app share
    one fusion path)."""
    import subprocess

    out = tmp_path / "redo"
    assert export(fused_window, wait_idle, folder=out, fmt="png", bit_depth=8, maps=False, metrics=False)
    sidecar = json.loads((out / "ir__vis.refusion.json").read_text())
    assert "--weights" in sidecar["redo"] and "tiny.safetensors" in sidecar["redo"]
    again = tmp_path / "again"
    again.mkdir()
    proc = subprocess.run(sidecar["redo"], shell=True, cwd=again, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(read_image(again / "ir__vis_fused.png"), read_image(out / "ir__vis_fused.png"))
