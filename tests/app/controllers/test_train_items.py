"""Train fine-tunes on the items of the current item's task only; its dialog lists them; the fine-tuned model
goes to those items and no other; Pause reads Resume while paused."""

import json
import shutil

from PySide6.QtWidgets import QDialog

from app.controllers import actions
from app.controllers.training import TrainRequest
from app.core.methods import DEFAULT
from app.core.pairing import ItemSetup

TINY = dict(crop=16, batch=1, epochs=2, meta_steps=1, fuse_steps=2, preview_every=100, preview_size=32,
            checkpoint_every=1000)


class Dialog:
    """The training dialog: records what it was given, accepted at once with a tiny schedule."""

    given: list = []

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        Dialog.given.append((args, kwargs))

    def exec(self) -> QDialog.DialogCode:
        return QDialog.DialogCode.Accepted

    def request(self) -> TrainRequest:
        return TrainRequest("quick", dict(TINY))


def test_train_uses_only_the_items_of_the_task(window, images, tmp_path, monkeypatch, qtbot, wait_idle, dialogs):
    w = window
    tiny = w.state.choices.model
    w.pair_list.add_paths([images["dir_a"], images["dir_b"]])  # three ivif pairs (the chosen task)
    qtbot.waitUntil(lambda: bool(dialogs.shown))  # 'lonely.png has no partner'
    focus = tmp_path / "mfif"
    focus.mkdir()
    w.pair_list.add_paths([shutil.copy(images["grey"], focus / "near.png"), shutil.copy(images["colour"], focus / "far.png")])
    pairs = w.state.workspace.pairs
    assert [pairs.setup(p).task for p in pairs.pairs] == ["ivif", "ivif", "ivif", "mfif"]
    monkeypatch.setattr(Dialog, "given", [])
    monkeypatch.setattr(actions, "TrainDialog", Dialog)
    pairs.set_current(0)
    w.act["train"].trigger()
    (preset, label, task, names, *_), kwargs = Dialog.given[0]
    assert task == "ivif" and label == "tiny" and names == [p.name for p in pairs.pairs[:3]]
    assert kwargs["pair_count"] == 3
    qtbot.waitUntil(lambda: not w.training.running, timeout=60000)
    wait_idle(w)
    run = json.loads(next((tmp_path / "userdata" / "runs").glob("ivif-*/run.json")).read_text())
    assert len(run["pairs"]) == 3 and not any("mfif" in a for a, _ in run["pairs"])
    key = w.training.last_key
    assert [pairs.setup(p) for p in pairs.pairs] == [ItemSetup("ivif", key)] * 3 + [ItemSetup("mfif", DEFAULT)]
    assert w.state.choices.model == key and "3 ivif item(s)" in w.statusBar().currentMessage()
    steps = w.losses.points("lf")
    assert steps == 6  # the curves of the run that made the selected item's model
    pairs.set_current(3)
    assert (w.state.choices.task, w.state.choices.model) == ("mfif", DEFAULT)  # not the ivif model
    assert w.losses.points("lf") == 0 and w.losses.points("outer_lr") == 0  # its model has no run here
    pairs.set_current(1)
    assert w.losses.points("lf") == steps
    w.pair_list.clear_button.click()
    assert w.losses.points("lf") == 0 and tiny != key


def test_the_train_action_refuses_a_task_with_one_pair(window, images, monkeypatch, dialogs):
    w = window
    w.pair_list.add_paths([images["grey"], images["colour"]])
    monkeypatch.setattr(Dialog, "given", [])
    monkeypatch.setattr(actions, "TrainDialog", Dialog)
    w.act["train"].trigger()  # the real dialog refuses up front; past it, the controller refuses too
    assert Dialog.given[0][1]["pair_count"] == 1
    assert not w.training.running and "at least two ivif pairs" in dialogs.text()


def test_pause_reads_resume_while_paused(window):
    w = window
    w.state.activity.set_training("running")
    assert w.act["pause"].text() == "Pause"
    w.state.activity.set_training("paused")
    assert w.act["pause"].text() == "Resume" and w.act["pause"].isChecked()
    w.state.activity.set_training("running")
    assert w.act["pause"].text() == "Pause" and not w.act["pause"].isChecked()
    w.state.activity.set_training("idle")
