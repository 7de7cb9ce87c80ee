"""Provenance is true: after Model ▸ Save fine-tuned model, the results on screen and in the cache, their
sidecars and the metrics CSV name the saved file and its sha256 (not "(unsaved)"), so each can be redone."""

import csv
import json

from PySide6.QtWidgets import QDialog

from app.controllers.training import TrainRequest
from app.core.writing import ExportOptions

TINY = dict(crop=16, batch=1, epochs=1, meta_steps=1, fuse_steps=2, preview_every=100, preview_size=32,
            checkpoint_every=1000)


def test_saving_the_fine_tuned_model_makes_its_results_name_the_file(window, images, monkeypatch, qtbot, wait_idle,
                                                                       dialogs, tmp_path):
    w = window
    w.pair_list.add_paths([images["dir_a"], images["dir_b"]])
    qtbot.waitUntil(lambda: bool(dialogs.shown))  # 'lonely.png has no partner'
    from app.controllers import actions

    class Accepted:  # the training dialog, accepted at once with a seconds-long schedule
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            pass

        exec = lambda self: QDialog.DialogCode.Accepted  # noqa: E731
        request = lambda self: TrainRequest("quick", dict(TINY))  # noqa: E731

    monkeypatch.setattr(actions, "TrainDialog", Accepted)
    w.act["train"].trigger()
    qtbot.waitUntil(lambda: not w.training.running, timeout=60000)
    qtbot.wait(50)
    wait_idle(w)
    ws = w.state.workspace
    session = w.training.last_key
    assert ws.fused is not None and ws.fused.source["kind"] == "session" and "unsaved" in ws.fused.label
    assert all(ws.pairs.setup(p).model == session for p in ws.pairs.pairs)  # the items it was trained on
    ws.pairs.set_current(1)
    assert w.fusing.fuse()
    wait_idle(w)
    assert w.exporter.export(ExportOptions(folder=tmp_path / "unsaved", maps=False, metrics=False))
    wait_idle(w)
    unsaved = json.loads(next((tmp_path / "unsaved").glob("*.refusion.json")).read_text())
    assert unsaved["redo"] is None and "save it" in unsaved["redo_not_possible"]  # says exactly why not
    dialogs.names.append("tuned")
    path = w.handlers.save_model()
    from refusion_core.models.checkpoint import file_sha256

    sha = file_sha256(path)
    for index in (1, 0):  # the result on screen, then the one kept in the cache
        ws.pairs.set_current(index)
        fused = ws.fused
        assert fused is not None and fused.label == "tuned" and "unsaved" not in w.compare.grid.labels["Fused"].text
        assert fused.source["path"] == str(path) and fused.source["sha256"] == sha and fused.source["note"] is None
        assert fused.source["kind"] == "user" and fused.source["device"]  # the device that made it is kept
    dialogs.shown.clear()
    out = tmp_path / "export"
    assert w.exporter.export(ExportOptions(folder=out, scope="all"))
    wait_idle(w)
    assert w.fusing.worker is None
    sidecars = [json.loads(f.read_text()) for f in sorted(out.glob("*.refusion.json"))]
    assert len(sidecars) == 3 and all(s["model"]["path"] == str(path) and s["model"]["sha256"] == sha for s in sidecars)
    rows = [r for r in csv.DictReader((out / "metrics_ivif.csv").open()) if r["role"] == "fused"]
    assert {(r["method"], r["model_file"], r["model_sha256"]) for r in rows} == {("tuned", str(path), sha)}
    assert dialogs.shown[-1][1].startswith(f"{len(w.exporter.summary.written)} files written to {out}")
