"""The weight-maps panel draws a WeightMaps view model: maps, or in words why there are none."""

import numpy as np

from app.core import engine
from app.core.view_models import WeightMaps
from app.qt.workspace import Workspace
from app.widgets.maps_view import MAPS, MapsView


def test_the_panel_has_a_caption_for_each_of_the_engines_maps():
    assert tuple(name for name, _ in MAPS) == tuple(engine.MAP_NAMES)


def test_maps_are_drawn_and_an_empty_result_says_why(qtbot):
    workspace = Workspace()
    view = MapsView(workspace)
    qtbot.addWidget(view)
    maps = {name: np.full((8, 6), 0.25 + 0.1 * i, np.float32) for i, name in enumerate(engine.MAP_NAMES)}
    workspace.set_maps(WeightMaps("tiny", maps))
    assert view.title.text() == "tiny" and view.items["va"].image.shape == (8, 6)
    workspace.set_maps(WeightMaps("Average · stack of 4", {}, is_stack=True))
    assert "a stack fused as a tree of pairs has none" in view.title.text()
    workspace.set_maps(WeightMaps("ReFusion_IVIF.pth (released)", {}))
    assert "no loss proposal module" in view.title.text()
    workspace.set_maps(WeightMaps("Training preview, step 4", maps, live=True))  # drawn by the timer
    assert "no loss proposal module" in view.title.text()
    qtbot.waitUntil(lambda: view.title.text() == "Training preview, step 4", timeout=2000)
