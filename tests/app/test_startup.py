"""Start-up: no torch before the window is up, entry points, docks and the View menu, preferences."""

import os
import subprocess
import sys
from pathlib import Path

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
