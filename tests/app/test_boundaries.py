"""The app's layers, enforced: only the engine adapter imports ``refusion_core``; ``app.core`` imports no Qt;
the app imports no torch before its first fuse or training; the core and the views do not reach upwards."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app"
ADAPTER = APP / "core" / "engine.py"
QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph", "qimage2ndarray")


def modules(folder: Path = APP) -> dict[str, Path]:
    """Dotted name -> file of every module under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (``from x import y`` counts as x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def importers(prefixes: tuple[str, ...], folder: Path = APP) -> dict[str, list[str]]:
    """Modules under ``folder`` that import a module starting with one of ``prefixes``, and what they import."""
    found = {}
    for name, path in modules(folder).items():
        hits = sorted(m for m in imported(path) if m.split(".")[0] in prefixes or m.startswith(prefixes))
        if hits:
            found[name] = hits
    return found


def run(code: str, tmp_path: Path) -> str:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REFUSION_USER_DATA=str(tmp_path / "ud"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=REPO,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_the_scan_sees_imports_inside_functions():
    assert "refusion_core.models.checkpoint" in imported(ADAPTER)  # load_bundle imports it inside the function
    assert importers(("refusion_core",)).keys() == {"app.core.engine"}


def test_only_the_engine_adapter_imports_the_engine():
    outside = {name: hits for name, hits in importers(("refusion_core",)).items() if name != "app.core.engine"}
    assert outside == {}, f"import these through app.core.engine instead: {outside}"


def test_the_core_imports_no_qt_even_indirectly(tmp_path):
    names = sorted(modules(APP / "core"))
    assert {"app.core.engine", "app.core.catalog", "app.core.results", "app.core.writing"} <= set(names)
    assert importers(QT, APP / "core") == {}
    code = ("import importlib, sys\n"
            f"for m in {names!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT!r}))\n")
    assert run(code, tmp_path) == "[]"


def test_no_app_module_imports_torch_when_imported(tmp_path):
    """Building and showing the window must not wait for torch (~3 s): every app module, the entry point
    first, is importable without it; the engine's heavy parts load in a worker on first use."""
    assert run("import app.main, sys; print('torch' in sys.modules)", tmp_path) == "False"
    names = sorted(n for n in modules() if n != "app.__main__")
    code = ("import importlib, sys\n"
            f"for m in {names!r}: importlib.import_module(m)\n"
            "print('torch' in sys.modules, 'refusion_core.models' in sys.modules)\n")
    assert run(code, tmp_path) == "False False"


@pytest.mark.parametrize("layer, forbidden", [
    ("core", ("app.qt", "app.controllers", "app.widgets", "app.windows", "app.main", "app.screenshot")),
    ("qt", ("app.controllers", "app.widgets", "app.windows", "app.main", "app.screenshot")),
    ("widgets", ("app.controllers", "app.windows", "app.main", "app.screenshot")),
])
def test_lower_layers_do_not_import_higher_ones(layer, forbidden):
    assert importers(forbidden, APP / layer) == {}


def signals_defined(path: Path) -> set[str]:
    """Names of the Qt signals the classes of ``path`` declare (``name = Signal(...)``)."""
    return {t.id for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.ClassDef)
            for item in node.body if isinstance(item, ast.Assign) and isinstance(item.value, ast.Call)
            and getattr(item.value.func, "id", "") == "Signal" for t in item.targets if isinstance(t, ast.Name)}


def test_only_a_state_object_emits_its_own_signals():
    """Choices, Workspace (and its PairList), Activity and Models change through their setters, which emit;
    nobody else emits on them (a module may emit the signals it declares itself)."""
    state = {signal for name in ("activity", "choices", "models", "workspace")
             for signal in signals_defined(APP / "qt" / f"{name}.py")}
    assert {"taskChanged", "resultChanged", "currentChanged", "busyChanged", "trainingStepped"} <= state
    emits = []
    for name, path in modules().items():
        own = signals_defined(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr == "emit" and isinstance(node.value, ast.Attribute)
                    and node.value.attr in state - own):
                emits.append(f"{name}: {node.value.attr}.emit")
    assert emits == []
