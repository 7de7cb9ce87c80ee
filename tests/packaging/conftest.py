"""Helpers for the packaging tests: load packaging/*.py by path (``packaging`` is also a PyPI package's name)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def load(name: str):
    """packaging/<name>.py as a module (cached in sys.modules under ``refusion_packaging_<name>``)."""
    key = f"refusion_packaging_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, PACKAGING / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def cfg():
    return load("bundle_config")


@pytest.fixture(scope="session")
def icons():
    return load("icons")


@pytest.fixture(scope="session")
def launcher():
    return load("launcher")


@pytest.fixture(scope="session")
def build():
    return load("build")
