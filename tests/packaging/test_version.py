"""One version number: refusion_core.__version__; pyproject reads it, CITATION.cff and the installed metadata agree."""

import re
from importlib import metadata
from pathlib import Path

import pytest

from refusion_core import __version__

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_takes_the_version_from_the_engine():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "refusion_core.__version__"}


def test_citation_cites_this_version():
    found = re.search(r"^version:\s*\"?([^\s\"]+)", (REPO / "CITATION.cff").read_text(), re.M)
    assert found and found.group(1) == __version__


def test_installed_metadata_agrees():
    try:
        installed = metadata.version("refusion-studio")
    except metadata.PackageNotFoundError:
        pytest.skip("refusion-studio is not installed (running from a bare checkout)")
    assert installed == __version__
