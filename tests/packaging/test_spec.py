"""ReFusionStudio.spec, executed with stand-ins for PyInstaller's classes on each platform (cheap: no build).

The real build is .ci/run's step (python packaging/build.py --self-test), not a test: it takes minutes.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


class Recorder:
    """Stands in for Analysis, PYZ, EXE, COLLECT and BUNDLE: keeps its arguments."""

    made: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.binaries, self.datas, self.pure, self.scripts = [], kwargs.get("datas", []), [], []
        Recorder.made.append(self)


def _kind(name):
    return type(name, (Recorder,), {})


@pytest.fixture
def run_spec(tmp_path, monkeypatch):
    """run_spec(platform) -> {class name: [instances]} after executing the spec as PyInstaller would."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.stub"]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the spec prepends packaging/ and the repo
    monkeypatch.delenv("REFUSION_BUILD_RESOURCES", raising=False)

    def run(platform: str) -> dict[str, list]:
        monkeypatch.setattr(sys, "platform", platform)
        Recorder.made = []
        kinds = {n: _kind(n) for n in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
        namespace = {**kinds, "SPECPATH": str(PACKAGING), "workpath": str(tmp_path / "work"),
                     "SPEC": str(PACKAGING / "ReFusionStudio.spec"), "__name__": "__main__"}
        spec = PACKAGING / "ReFusionStudio.spec"
        exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), namespace)  # noqa: S102
        out: dict[str, list] = {n: [] for n in kinds}
        for obj in Recorder.made:
            out[type(obj).__name__].append(obj)
        return out

    return run


def test_linux_one_folder_one_executable(run_spec, cfg):
    made = run_spec("linux")
    (analysis,) = made["Analysis"]
    assert analysis.args[0] == [str(PACKAGING / "launcher.py")]
    assert analysis.kwargs["excludes"] == cfg.EXCLUDES
    assert analysis.kwargs["hookspath"] == [str(PACKAGING / "hooks")]
    assert analysis.kwargs["module_collection_mode"]["refusion_core"] == "pyz+py"  # TorchScript reads source
    dests = {(Path(src).name, dest) for src, dest in analysis.kwargs["datas"]}
    assert ("manifest.json", str(Path("resources/samples"))) in dests
    assert ("app.svg", str(Path("resources/icons"))) in dests
    assert {"app.stub", "refusion_core.stub"} <= set(analysis.kwargs["hiddenimports"])
    (exe,) = made["EXE"]
    assert exe.kwargs["name"] == "ReFusionStudio" and exe.kwargs["console"] is True
    assert exe.kwargs["exclude_binaries"] is True and exe.kwargs["upx"] is False
    (coll,) = made["COLLECT"]
    assert coll.kwargs["name"] == "ReFusionStudio" and made["BUNDLE"] == []


def test_windows_windowed_app_and_console_cli(run_spec):
    made = run_spec("win32")
    gui, cli = made["EXE"]
    assert (gui.kwargs["name"], gui.kwargs["console"]) == ("ReFusionStudio", False)
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("refusion", True)
    assert gui.kwargs["icon"].endswith("app.ico") and Path(gui.kwargs["icon"]).is_file()
    (coll,) = made["COLLECT"]
    assert gui in coll.args and cli in coll.args
    assert made["BUNDLE"] == []


def test_macos_app_bundle(run_spec):
    made = run_spec("darwin")
    (exe,) = made["EXE"]
    assert exe.kwargs["console"] is False and exe.kwargs["icon"].endswith("app.icns")
    (bundle,) = made["BUNDLE"]
    assert bundle.kwargs["name"] == "ReFusionStudio.app"
    assert bundle.kwargs["icon"].endswith("app.icns") and Path(bundle.kwargs["icon"]).is_file()
    assert bundle.kwargs["bundle_identifier"] == "org.refusion.ReFusionStudio"
    assert bundle.kwargs["info_plist"]["NSHighResolutionCapable"] is True


def test_app_name_is_the_engine_s(cfg):
    from refusion_core.paths import APP_NAME

    assert cfg.APP_NAME == APP_NAME  # the folder, the executable and the user data folder share it


def test_qt_hook_is_pyinstaller_s_less_the_dropped_plugins():
    text = (PACKAGING / "hooks" / "hook-PySide6.QtGui.py").read_text(encoding="utf-8")
    assert "add_qt6_dependencies(__file__)" in text and "QT_PLUGIN_DROP" in text
