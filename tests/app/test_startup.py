"""Start-up: no torch before the window is up, entry points, docks and the View menu, preferences."""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.core.methods import MethodKey
from app.qt.preferences import Preferences
from app.windows.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REFUSION_USER_DATA=str(tmp_path / "ud"),
               XDG_CONFIG_HOME=str(tmp_path / "cfg"), HOME=str(tmp_path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=env)


def test_window_is_built_and_shown_without_torch(tmp_path):
    code = ("import sys\n"
            "from app.main import make_application\n"
            "qapp = make_application(sys.argv[:1])\n"
            "from app.windows.main_window import MainWindow\n"
            "w = MainWindow(); w.show(); qapp.processEvents()\n"
            "print('torch' in sys.modules, 'refusion_core.models.checkpoint' in sys.modules, w.isVisible())\n")
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["False", "False", "True"]


def test_python_dash_m_app(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "0.1.0"


def test_entry_point_is_app_main():
    from app.main import main

    assert callable(main)


def test_toolbar_and_docks(window):
    texts = [a.text() for a in window.toolbar.actions() if a.text()]
    for name in ("Open pair…", "Fuse", "Train…", "Pause", "Stop", "Export…"):
        assert name in texts
    assert window.task_box.count() == 4 and window.device_box.count() == 3
    assert [window.task_box.itemData(i) for i in range(4)] == ["ivif", "mif", "mfif", "meif"]
    assert set(window.docks) == {"pairs", "losses", "maps", "metrics"}


def test_docks_close_and_come_back_from_view_menu(window, qtbot):
    window.show()
    dock = window.docks["maps"]
    assert dock.isVisible()
    dock.close()
    assert not dock.isVisible()
    toggle = next(a for a in window.view_menu.actions() if a.text() == "Weight maps")
    toggle.trigger()
    assert dock.isVisible()


def test_settings_persist_between_runs(qtbot, user_model):
    first = MainWindow()
    qtbot.addWidget(first)
    first.state.choices.set_task("mfif")
    first.state.choices.set_device("cpu")
    first.state.choices.set_model(MethodKey.user(user_model))
    first.preferences.set_value("train/preset", "paper")
    first.resize(760, 600)  # the offscreen screen is 800 x 800
    first.docks["metrics"].hide()
    first.show()
    size = first.size()
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.state.choices.task == "mfif" and second.task_box.currentData() == "mfif"
    assert second.state.choices.device == "cpu" and second.device_box.currentData() == "cpu"
    assert second.model_box.currentText() == "tiny — ivif model"  # kept, but says what it was made for
    assert Preferences().value("train/preset") == "paper"
    second.show()
    assert not second.docks["metrics"].isVisible() and second.size() == size and size.height() == 600


def test_device_probe_runs_after_showing(window, qtbot):
    window.show()
    qtbot.waitUntil(lambda: window.state.activity.device_info.startswith("Device: "), timeout=60000)
    assert "CPU" in window.state.activity.device_info or "CUDA" in window.state.activity.device_info


def test_cycles_are_collected_in_the_gui_thread_only(tmp_path):
    """Automatic collection is off (a worker thread must never destroy Qt objects); a GUI-thread timer collects."""
    code = ("import gc, sys, threading, time\n"
            "from app.main import make_application\n"
            "qapp = make_application(sys.argv[:1])\n"
            "gone = []\n"
            "class Node:\n"
            "    def __del__(self): gone.append(threading.current_thread().name)\n"
            "def cycles():\n"
            "    for _ in range(2000):\n"
            "        a, b = Node(), Node(); a.other, b.other = b, a\n"
            "t = threading.Thread(target=cycles, name='worker'); t.start(); t.join()\n"
            "print(gc.isenabled(), len(gone))\n"
            "end = time.time() + 1.5\n"
            "while time.time() < end: qapp.processEvents(); time.sleep(0.02)\n"
            "print(len(gone), set(gone))\n")
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = proc.stdout.splitlines()
    assert first == "False 0"  # nothing collected in the worker thread
    assert second == "4000 {'MainThread'}"  # all of it later, in the GUI thread


# ---------------------------------------------------------------------------------------------- FILES
@pytest.fixture
def start(qtbot, user_model, monkeypatch):
    """``start(argv)``: the main window as ``refusion-studio ARGV`` builds it (app.main.build_window), shown,
    before the event loop has run. The error hooks it installs are put back afterwards."""
    from app.main import build_window, parse_args

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    made = []

    def make(argv):
        window = build_window(parse_args([str(a) for a in argv]))
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        for w in window.handlers.volume_windows:
            w.close()


def test_two_files_on_the_command_line_make_a_pair(start, images, qtbot):
    window = start([images["grey"], images["colour"]])
    assert window.isVisible()
    qtbot.waitUntil(lambda: len(window.state.workspace.pairs) == 1)
    pair = window.state.workspace.pairs.pairs[0]
    assert (pair.a, pair.b) == (images["grey"], images["colour"]) and window.pair_list.list.count() == 1


def test_folders_and_stacks_on_the_command_line(start, images, qtbot, monkeypatch):
    window = start([images["dir_a"], images["dir_b"]])
    qtbot.waitUntil(lambda: len(window.state.workspace.pairs) == 3)  # pairs by file stem
    monkeypatch.chdir(images["grey"].parent)  # relative paths are the shell's: taken from the current folder
    window = start(["ir.png", "vis.png", "a16.tif"])
    qtbot.waitUntil(lambda: len(window.state.workspace.pairs) == 1)
    stack = window.state.workspace.pairs.pairs[0]
    assert stack.is_stack and all(p.is_absolute() for p in stack.paths)


def test_a_volume_on_the_command_line_opens_the_volume_browser(start, tmp_path, qtbot):
    volume = tmp_path / "head.nii"
    volume.write_bytes(b"not really a NIfTI file")
    window = start([volume])
    with qtbot.waitSignal(window.pair_list.volumesDropped) as opened:
        pass
    assert opened.args == [[volume]]
    assert len(window.handlers.volume_windows) == 1 and window.handlers.volume_windows[0].isVisible()
    assert len(window.state.workspace.pairs) == 0


def test_missing_files_are_reported_in_one_line(start, images, qtbot, dialogs, capsys, tmp_path):
    window = start([tmp_path / "nope.png", images["grey"]])
    qtbot.waitUntil(lambda: bool(dialogs.shown))
    assert dialogs.titles() == ["Some items were not added"]
    assert dialogs.shown[0][1] == "• nope.png: the file does not exist"
    assert window.state.workspace.pairs.pending == images["grey"]  # the file that is there waits for its B
    err = capsys.readouterr().err
    assert f"refusion-studio: not found: {tmp_path / 'nope.png'}\n" in err and "Traceback" not in err


def test_files_the_system_asks_to_open_arrive_together(start, images, qtbot):
    """macOS: no arguments, one QFileOpenEvent per file; the files of one request make one pair."""
    from PySide6.QtGui import QFileOpenEvent
    from PySide6.QtWidgets import QApplication

    window = start([])
    for p in (images["grey"], images["colour"]):
        QApplication.sendEvent(QApplication.instance(), QFileOpenEvent(str(p)))
    qtbot.waitUntil(lambda: len(window.state.workspace.pairs) == 1)
    assert window.state.workspace.pairs.pending is None


def test_help_lists_files():
    """The installed ``refusion-studio`` script (this checkout's app first on the path), else ``python -m app``."""
    exe = shutil.which("refusion-studio")
    cmd = [exe] if exe else [sys.executable, "-m", "app"]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=path))
    assert proc.returncode == 0, proc.stderr
    assert "[FILES ...]" in proc.stdout and "pair list" in proc.stdout


def test_finder_process_serial_number_is_ignored():
    from app.main import parse_args

    assert parse_args(["-psn_0_12345", "a.png"]).paths == [Path("a.png")]
