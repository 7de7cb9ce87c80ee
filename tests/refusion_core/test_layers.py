"""The engine's layers (docs/ARCHITECTURE.md): a model never imports a training module, the readers and the
models know nothing of the CLI, and nothing in the engine imports the app."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "refusion_core"


def imported(path: Path) -> set[str]:
    """Every module an engine file imports, at top level or inside functions, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(CORE.parent).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def test_the_scan_sees_what_a_module_imports():
    assert "refusion_core.models.blocks.sobel_magnitude" in imported(CORE / "training" / "losses.py")
    assert "refusion_core.fusing.fuser.Fuser" in imported(CORE / "fusing" / "methods.py")  # inside a function


@pytest.mark.parametrize("layer, forbidden", [
    ("models", ("refusion_core.training", "refusion_core.cli", "refusion_core.fusing")),
    ("io", ("refusion_core.training", "refusion_core.cli", "refusion_core.fusing", "refusion_core.models")),
    ("metrics", ("refusion_core.cli",)),
    ("fusing", ("refusion_core.training", "refusion_core.cli")),
    ("registration", ("refusion_core.training", "refusion_core.cli")),
    ("medical", ("refusion_core.training", "refusion_core.cli")),
    ("training", ("refusion_core.cli",)),
])
def test_a_layer_imports_no_higher_one(layer, forbidden):
    bad = {f"{p.relative_to(CORE)}: {m}" for p in (CORE / layer).rglob("*.py") for m in imported(p)
           if m.startswith(forbidden)}
    assert not bad, sorted(bad)


def test_the_engine_never_imports_the_app():
    bad = {f"{p.relative_to(CORE)}: {m}" for p in CORE.rglob("*.py") for m in imported(p)
           if m == "app" or m.startswith("app.")}
    assert not bad, sorted(bad)
