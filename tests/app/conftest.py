"""App test fixtures: offscreen Qt, isolated preferences and user data, dialogs that never block,
small image files of every kind the app must take, and a tiny real model from the engine."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported anywhere

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

H, W = 40, 48  # small on purpose: F costs ~25 us per pixel on a 2-core CPU


def texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    return (x - x.min()) / (x.max() - x.min() + 1e-9)


class Dialogs:
    """Records every message box instead of showing it; answers questions from a queue (default Yes)."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []
        self.questions: list[str] = []
        self.answers: list = []
        self.names: list[str] = []

    def titles(self) -> list[str]:
        return [t for t, _ in self.shown]

    def text(self) -> str:
        return "\n".join(f"{t}: {x}" for t, x in self.shown)


@pytest.fixture(scope="package", autouse=True)
def gui_thread_gc(qapp):
    """As the app does (app.main.gui_thread_garbage_collection): cycles are collected in the GUI thread only,
    never in a worker. Automatic collection comes back for the tests after these."""
    import gc

    from app.main import gui_thread_garbage_collection

    gui_thread_garbage_collection(qapp)
    yield
    qapp._refusion_gc.timer.stop()
    qapp._refusion_gc = None
    gc.enable()
    gc.collect()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Settings and the user data folder live in the test's tmp folder."""
    monkeypatch.setenv("REFUSION_USER_DATA", str(tmp_path / "userdata"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield tmp_path


@pytest.fixture(autouse=True)
def dialogs(monkeypatch) -> Dialogs:
    d = Dialogs()

    def fake_exec(box):  # noqa: ANN001
        d.shown.append((box.windowTitle(), box.text()))
        return QMessageBox.StandardButton.Ok

    def fake_question(parent, title, text, *args, **kwargs):  # noqa: ANN001
        d.questions.append(f"{title}: {text}")
        return d.answers.pop(0) if d.answers else QMessageBox.StandardButton.Yes

    def no_file_dialog(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a test opened a file dialog")

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    monkeypatch.setattr(QMessageBox, "question", fake_question)
    monkeypatch.setattr(QInputDialog, "getText",
                        lambda *a, **k: (d.names.pop(0), True) if d.names else ("", False))
    for name in ("getOpenFileName", "getOpenFileNames", "getExistingDirectory", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, no_file_dialog)
    return d


@pytest.fixture
def no_default_weights(monkeypatch, tmp_path):
    """As on a fresh checkout: resources/weights/<task>.safetensors does not exist."""
    from app.core import engine

    monkeypatch.setattr(engine, "default_weights", lambda task: tmp_path / "no-weights" / f"{task}.safetensors")


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """Files: a grey + colour pair, a 16-bit TIFF pair, two folders, a non-image, a corrupt file..."""
    from refusion_core.io.images import from_float, write_image

    root = tmp_path_factory.mktemp("images")
    grey, colour = texture(H, W, 1), np.dstack([texture(H, W, s) for s in (2, 3, 4)])
    f = {"grey": write_image(root / "ir.png", from_float(grey)),
         "colour": write_image(root / "vis.png", from_float(colour)),
         "a16": write_image(root / "a16.tif", from_float(grey, np.uint16)),
         "b16": write_image(root / "b16.tif", from_float(colour, np.uint16)),
         "other_size": write_image(root / "big.png", from_float(texture(H + 8, W, 5)))}
    for i in range(3):
        write_image(root / "A" / f"s{i}.png", from_float(texture(H, W, 10 + i)))
        write_image(root / "B" / f"s{i}.jpg", from_float(np.dstack([texture(H, W, 20 + i + k) for k in range(3)])))
    write_image(root / "A" / "lonely.png", from_float(grey))
    f["dir_a"], f["dir_b"] = root / "A", root / "B"
    f["text"] = root / "notes.txt"
    f["text"].write_text("not an image")
    f["corrupt"] = root / "broken.png"
    f["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return f


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A freshly initialised real model (F, R, P) saved in the project's format."""
    from refusion_core.models.checkpoint import new_bundle, save_model

    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", new_bundle("ivif", seed=0))


@pytest.fixture
def user_model(model_file) -> Path:
    from refusion_core.paths import user_models_dir

    user_models_dir().mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(model_file, user_models_dir() / "tiny.safetensors"))


@pytest.fixture
def window(qtbot, user_model):
    from app.windows.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.state.models.refresh()
    from app.core.methods import MethodKey

    w.state.choices.set_model(MethodKey.user(user_model))
    yield w
    if w.training.running:
        w.training.stop_and_wait()
    for ctl in (w.fusing, w.exporter):
        ctl.jobs.wait(20000)


@pytest.fixture
def wait_idle(qtbot):
    """``wait_idle(window)``: wait until no fuse / export / training worker is running."""

    def wait(window, timeout=60000) -> None:
        qtbot.waitUntil(lambda: window.fusing.worker is None and window.exporter.worker is None
                        and not window.training.running, timeout=timeout)

    return wait


@pytest.fixture
def fused_window(window, images, wait_idle):
    """The window with the grey + colour pair loaded and fused by the tiny model."""
    window.pair_list.add_paths([images["grey"], images["colour"]])
    assert window.fusing.fuse()
    wait_idle(window)
    assert window.state.workspace.fused is not None, window.errors.history
    return window


@pytest.fixture
def cornered_parent(qtbot):
    """A shown 300 x 200 main window partly past the bottom-right corner of its screen's available area: a window
    opened over it must still open whole on that screen."""
    from PySide6.QtWidgets import QMainWindow

    parent = QMainWindow()
    qtbot.addWidget(parent)
    parent.resize(300, 200)
    area = parent.screen().availableGeometry()
    parent.move(area.right() - 250, area.bottom() - 150)
    parent.show()
    return parent
