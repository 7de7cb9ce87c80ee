"""Dropping files and folders on the pair list (a real QDropEvent holding QUrls)."""

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def drop(widget, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def test_drop_files(window, images, qtbot):
    drop(window.pair_list, [images["grey"], images["colour"]])
    assert len(window.state.workspace.pairs) == 1
    assert window.pair_list.list.count() == 1
    a, b = window.state.workspace.sources
    assert a.ndim == 2 and b.ndim == 3  # grey + colour kept as they are
    assert window.act["fuse"].isEnabled()


def test_drop_folders_pairs_by_stem(window, images, qtbot, dialogs):
    drop(window.pair_list, [images["dir_a"], images["dir_b"]])
    assert len(window.state.workspace.pairs) == 3
    qtbot.waitUntil(lambda: bool(dialogs.shown))  # the unmatched 'lonely.png' is reported
    assert "lonely" in dialogs.text()


def test_single_files_fill_a_then_b(window, images):
    drop(window.pair_list, [images["grey"]])
    assert len(window.state.workspace.pairs) == 0 and window.pair_list.pending.isVisibleTo(window.pair_list)
    drop(window.pair_list, [images["colour"]])
    assert len(window.state.workspace.pairs) == 1 and window.state.workspace.pairs.pending is None


def test_drop_non_image_warns_without_falling_over(window, images, qtbot, dialogs):
    drop(window.pair_list, [images["text"]])
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert "not an image" in dialogs.text()
    assert len(window.state.workspace.pairs) == 0


def test_corrupt_file_says_so(window, images, qtbot, dialogs):
    drop(window.pair_list, [images["corrupt"], images["grey"]])
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert dialogs.titles() == ["Cannot use this image"]
    assert "broken.png" in dialogs.text() and "corrupt" in dialogs.text()
    assert window.state.workspace.sources is None and not window.act["fuse"].isEnabled()


def test_sizes_differ_says_so_and_offers_to_align(window, images, qtbot, dialogs, monkeypatch):
    from PySide6.QtWidgets import QDialog, QMessageBox

    from app.windows.align_dialog import AlignDialog

    opened = []
    monkeypatch.setattr(AlignDialog, "exec", lambda self: opened.append(self.pair) or QDialog.DialogCode.Rejected)
    dialogs.answers.append(QMessageBox.StandardButton.No)
    drop(window.pair_list, [images["grey"], images["other_size"]])
    assert "48×40" in dialogs.questions[-1] and "48×48" in dialogs.questions[-1] and "Align B to A" in dialogs.questions[-1]
    assert opened == [] and window.state.workspace.sources is None
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    window.state.workspace.pairs.set_current(0, force=True)  # asked again when the item is shown again
    assert len(opened) == 1 and opened[0].b == images["other_size"]


def test_drag_enter_accepts_urls(window, images):
    from PySide6.QtGui import QDragEnterEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(images["grey"]))])
    event = QDragEnterEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.pair_list.dragEnterEvent(event)
    assert event.isAccepted()


def test_remove_and_clear(window, images):
    window.pair_list.add_paths([images["dir_a"], images["dir_b"]])
    window.state.workspace.pairs.set_current(1)
    window.pair_list.remove_button.click()
    assert len(window.state.workspace.pairs) == 2
    window.pair_list.clear_button.click()
    assert len(window.state.workspace.pairs) == 0 and window.state.workspace.sources is None


def test_large_files_are_read_in_a_worker(window, images, qtbot, monkeypatch):
    """Above the size limit the sources arrive from a worker; a read the user moved away from is dropped."""
    import numpy as np

    from app.controllers.fusing import READING
    from refusion_core.io.images import read_image

    monkeypatch.setattr(window.fusing, "READ_IN_WORKER_BYTES", 0)
    window.pair_list.add_paths([images["grey"], images["colour"]])
    # not yet: the worker reads them
    assert window.state.workspace.sources is None and window.state.activity.busy == READING
    assert not window.act["fuse"].isEnabled()
    qtbot.waitUntil(lambda: window.state.workspace.sources is not None and not window.fusing.readers, timeout=10000)
    assert window.state.workspace.sources[1].shape[-1] == 3 and window.state.activity.busy == ""
    window.pair_list.add_paths([images["dir_a"], images["dir_b"]])  # three more pairs
    window.state.workspace.pairs.set_current(1)
    window.state.workspace.pairs.set_current(3)  # move on before the read of pair 1 is back
    qtbot.waitUntil(lambda: not window.fusing.readers, timeout=10000)
    expected = read_image(window.state.workspace.pairs.pairs[3].b)
    assert np.array_equal(window.state.workspace.sources[1], expected)  # pair 3's images, not pair 1's


def test_a_small_file_that_declares_a_large_image_is_read_in_a_worker(window, images, qtbot, monkeypatch):
    """A well-compressed file can decode to hundreds of megabytes: the header decides too (issue 17)."""
    from app.controllers.fusing import READING

    monkeypatch.setattr(window.fusing, "READ_IN_WORKER_PIXELS", 16)  # every test image declares more
    window.pair_list.add_paths([images["grey"], images["colour"]])
    assert window.state.workspace.sources is None and window.state.activity.busy == READING
    qtbot.waitUntil(lambda: window.state.workspace.sources is not None and not window.fusing.readers, timeout=10000)


def test_dropped_volumes_go_to_the_volume_browser_two_at_a_time(qtbot, tmp_path, dialogs):
    """A widget on a plain workspace: volumes that exist are handed on (A and B), a third one and a missing
    one are reported in the one message, with the reason for each."""
    from app.qt.errors import ErrorHandler
    from app.qt.workspace import Workspace
    from app.widgets.pair_list import PairListWidget

    widget = PairListWidget(Workspace(), ErrorHandler())
    qtbot.addWidget(widget)
    volumes = [tmp_path / f"{name}.nii.gz" for name in ("mr", "ct", "pet")]
    for p in volumes:
        p.write_bytes(b"\x1f\x8b")
    with qtbot.waitSignal(widget.volumesDropped) as handed_on:
        drop(widget, [*volumes, tmp_path / "gone.nii"])
    assert handed_on.args == [volumes[:2]]
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert dialogs.shown == [("Some items were not added", "• pet.nii.gz: two volumes (A and B) open at a time\n"
                                                           "• gone.nii: the file does not exist")]
    assert len(widget.workspace.pairs) == 0
