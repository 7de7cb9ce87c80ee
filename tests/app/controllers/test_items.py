"""Every item has its own task and model: set when added, shown in the boxes when selected, changed for that item
only; a model of another task is asked about first; the panels show the selected item's results or nothing."""

import os
import shutil

from PySide6.QtWidgets import QMessageBox

from app.core.methods import DEFAULT, MethodKey
from app.core.pairing import ItemSetup, task_from_paths


def test_the_files_name_the_task_where_they_can(tmp_path):
    assert task_from_paths([tmp_path / "datasets" / "mfif" / "mfifb" / "a" / "01.png"]) == "mfif"
    assert task_from_paths([tmp_path / "ivif_ir.png", tmp_path / "ivif_vis.png"]) == "ivif"
    assert task_from_paths([tmp_path / "mif-ct.png", tmp_path / "x" / "MRI.png"]) == "mif"
    assert task_from_paths([tmp_path / "ir.png", tmp_path / "vis.png"]) is None  # "ir" is not a task's name
    assert task_from_paths([tmp_path / "mfif_a.png", tmp_path / "meif_b.png"]) is None  # two tasks: no guess


def test_a_new_item_takes_its_files_task_else_the_chosen_one(window, images, tmp_path):
    w = window
    tiny = w.state.choices.model
    w.pair_list.add_paths([images["grey"], images["colour"]])
    named = tmp_path / "mfif"
    named.mkdir()
    a, b = (shutil.copy(images["grey"], named / "near.png"), shutil.copy(images["colour"], named / "far.png"))
    w.pair_list.add_paths([a, b])
    pairs = w.state.workspace.pairs
    assert pairs.setup(pairs.pairs[0]) == ItemSetup("ivif", tiny)  # the chosen task and model
    assert pairs.setup(pairs.pairs[1]) == ItemSetup("mfif", DEFAULT)  # the tiny ivif model does not suit mfif
    assert "mfif" in w.pair_list.list.item(1).text() and "tiny" in w.pair_list.list.item(0).text()


def test_selecting_an_item_selects_its_task_and_model(window, images, tmp_path):
    w = window
    tiny = w.state.choices.model
    w.pair_list.add_paths([images["grey"], images["colour"]])
    w.pair_list.add_paths([images["a16"], images["b16"]])
    pairs = w.state.workspace.pairs
    pairs.set_current(1)
    w.state.choices.set_task("meif")  # the second item only
    assert pairs.setup(pairs.pairs[1]) == ItemSetup("meif", DEFAULT)  # the ivif model was dropped with the task
    pairs.set_current(0)
    assert (w.state.choices.task, w.state.choices.model) == ("ivif", tiny)
    assert w.task_box.currentData() == "ivif" and w.model_box.current_method() == tiny
    pairs.set_current(1)
    assert (w.state.choices.task, w.state.choices.model) == ("meif", DEFAULT) and w.task_box.currentData() == "meif"


def test_a_model_of_another_task_is_asked_about_first(window, images, dialogs):
    w = window
    tiny = w.state.choices.model
    w.pair_list.add_paths([images["grey"], images["colour"]])
    pairs = w.state.workspace.pairs
    w.state.choices.set_task("mfif")
    assert pairs.current_setup() == ItemSetup("mfif", DEFAULT)
    dialogs.answers.append(QMessageBox.StandardButton.No)
    w.model_box.methodActivated.emit(tiny)
    assert "made for ivif" in dialogs.questions[-1] and pairs.current_setup().model == DEFAULT
    assert w.model_box.current_method() == DEFAULT  # the box went back to the item's model
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    w.model_box.methodActivated.emit(tiny)
    assert pairs.current_setup() == ItemSetup("mfif", tiny)
    n = len(dialogs.questions)
    w.model_box.methodActivated.emit(DEFAULT)  # the task's own model: no question
    assert len(dialogs.questions) == n and pairs.current_setup().model == DEFAULT


def test_panels_follow_the_selection_and_results_are_kept(window, images, wait_idle):
    w = window
    ws = w.state.workspace
    w.pair_list.add_paths([images["grey"], images["colour"]])
    w.pair_list.add_paths([images["dir_a"] / "s0.png", images["dir_b"] / "s0.jpg"])
    ws.pairs.set_current(0)
    assert w.fusing.fuse()
    wait_idle(w)
    first = ws.fused
    assert first is not None and ws.maps.arrays and ws.metrics
    w.compare._on_pixel(3, 2)
    assert "A " in w.compare.readout.text() and "Fused" in w.compare.readout.text()
    ws.pairs.set_current(1)
    assert ws.fused is None and ws.second is None and not ws.maps.arrays and not ws.metrics
    assert "Fused" not in w.compare.readout.text()  # the readout of the last item is gone
    assert w.maps.items["wa"].image is None  # the maps panel is empty too
    ws.pairs.set_current(0)  # back: at once, without fusing again
    assert w.fusing.worker is None and ws.fused is first and set(ws.maps.arrays) == {"wa", "wb", "va", "vb"}
    w.state.choices.set_model(DEFAULT)  # another model for this item: its results are not these
    assert ws.fused is None and not ws.maps.arrays
    w.state.choices.set_model(first.source and MethodKey.parse(first.source["key"]))
    assert ws.fused is first
    os.utime(images["grey"], ns=(1, 1))  # the file changed on disk: a new input, fused again
    ws.pairs.set_current(1)
    ws.pairs.set_current(0)
    assert ws.fused is None
    w.pair_list.clear_button.click()
    assert ws.sources is None and ws.fused is None and not ws.maps.arrays and not ws.metrics
    assert w.maps.items["wa"].image is None and w.compare.grid.rendered("Fused") is None
