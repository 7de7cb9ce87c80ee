"""Fusing a pair: the four panels, linked views, metrics, maps, the second result, the swipe view."""

import numpy as np
from PySide6.QtCore import QPointF

from app.core.methods import DEFAULT, MethodKey


def test_fuse_fills_panels_metrics_and_maps(fused_window):
    w = fused_window
    grid = w.compare.grid
    fused = grid.rendered("Fused")
    assert fused is not None and fused.shape == w.state.workspace.sources[1].shape  # colour kept
    assert grid.rendered("Compare") is not None  # the classical comparison (Laplacian by default)
    assert w.state.workspace.second.label == "Laplacian pyramid"
    assert {"EN", "SD", "SSIM"} <= set(w.state.workspace.metrics["tiny"])
    assert float(w.metrics.value("Fused", "EN")) > 0
    maps = w.state.workspace.maps.arrays
    assert set(maps) == {"wa", "wb", "va", "vb"}
    wa = w.maps.items["wa"].image
    assert wa.shape == w.state.workspace.sources[0].shape and np.allclose(maps["wa"] + maps["wb"], 1, atol=1e-4)
    assert w.state.workspace.fused.source["sha256"]  # provenance comes along


def test_views_are_linked(fused_window):
    grid = fused_window.compare.grid
    grid.views["A"].setRange(xRange=(5, 15), yRange=(5, 15), padding=0)

    def centre(view):
        (x0, x1), (y0, y1) = view.viewRange()
        return (x0 + x1) / 2, (y0 + y1) / 2

    ca = centre(grid.views["A"])
    assert abs(ca[0] - 10) < 0.5 and abs(ca[1] - 10) < 0.5
    for view in [grid.views[n] for n in ("B", "Fused", "Compare")]:
        c = centre(view)
        assert abs(c[0] - ca[0]) < 0.5 and abs(c[1] - ca[1]) < 0.5  # zoomed and panned together
    fused_window.compare.set_swipe(True)  # the swipe view takes the same zoom
    c = centre(fused_window.compare.swipe.view)
    assert abs(c[0] - ca[0]) < 0.5 and abs(c[1] - ca[1]) < 0.5


def test_pixel_readout(fused_window):
    w = fused_window
    w.compare._on_pixel(3, 2)
    a, b = w.state.workspace.raw_sources
    text = w.compare.readout.text()
    assert f"A {a[2, 3]}" in text and f"B ({b[2, 3, 0]}, {b[2, 3, 1]}, {b[2, 3, 2]})" in text and "Fused (" in text


def test_mouse_move_emits_pixel(fused_window, qtbot):
    grid = fused_window.compare.grid
    grid.resize(600, 500)
    grid.views["A"].autoRange(padding=0)
    scene_pos = grid.views["A"].mapViewToScene(QPointF(4.5, 6.5))
    with qtbot.waitSignal(grid.pixelHovered) as sig:
        grid._on_mouse_moved(scene_pos)
    assert sig.args == [4, 6]


def test_change_comparison_to_another_method(fused_window, qtbot, wait_idle):
    w = fused_window
    box = w.compare.compare_box
    index = box.index_of(MethodKey.baseline("average"))
    box.setCurrentIndex(index)
    box.activated.emit(index)
    wait_idle(w)
    assert w.state.workspace.second.label == "Average"
    a, b = w.state.workspace.sources
    assert "Average" in w.state.workspace.metrics


def test_swipe_view_between_any_two(fused_window):
    w = fused_window
    w.act["swipe"].trigger()
    assert w.compare.swiping
    w.compare.set_swipe_sides("B", "Compare")
    swipe = w.compare.swipe
    swipe.set_split(0.25)
    left = swipe.left_item.image
    assert left.shape[1] == round(0.25 * w.state.workspace.sources[0].shape[1])
    assert swipe.right_item.image.shape == w.state.workspace.second.image.shape
    w.act["swipe"].trigger()
    assert not w.compare.swiping


def test_16_bit_tiff_pair_fuses_to_16_bit(window, images, wait_idle):
    window.pair_list.add_paths([images["a16"], images["b16"]])
    assert window.state.workspace.sources[0].dtype == np.uint16
    assert window.fusing.fuse()
    wait_idle(window)
    assert window.state.workspace.fused.image.dtype == np.uint16 and window.state.workspace.fused.image.ndim == 3


def test_default_weights_missing_says_so(window, images, wait_idle, dialogs, no_default_weights):
    window.pair_list.add_paths([images["grey"], images["colour"]])
    window.state.choices.set_model(DEFAULT)
    assert window.fusing.fuse()
    wait_idle(window)
    assert dialogs.titles() == ["Cannot load the model"]
    assert "not installed" in dialogs.text() and "Import a released checkpoint" in dialogs.text()


def test_results_are_kept_per_pair(window, images, wait_idle):
    window.pair_list.add_paths([images["dir_a"], images["dir_b"]])
    assert window.fusing.fuse()
    wait_idle(window)
    first = window.state.workspace.fused
    window.state.workspace.pairs.set_current(1)
    assert window.state.workspace.fused is None
    window.state.workspace.pairs.set_current(0)
    assert window.state.workspace.fused is first


def test_a_metric_that_cannot_be_computed_is_left_out(window, images, wait_idle, dialogs):
    """VIF (in the multi-focus metrics) needs 41 x 41 pixels: on a 40-pixel-high pair the fusion and the other
    metrics stand, VIF is left out, and no error is shown."""
    from app.core.engine import metric_names

    w = window
    w.pair_list.add_paths([images["grey"], images["colour"]])
    w.state.choices.set_task("mfif")
    assert w.fusing.fuse()
    wait_idle(w)
    metrics = w.state.workspace.fused.metrics
    assert "VIF" in metric_names("mfif") and "VIF" not in metrics
    assert set(metric_names("mfif")) - {"VIF"} <= set(metrics) and dialogs.shown == []
