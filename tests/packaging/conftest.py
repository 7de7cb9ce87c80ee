"""Fixtures for the packaging tests: packaging/*.py loaded by path (tests/conftest.py's ``repo_module``)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cfg(repo_module):
    return repo_module("packaging", "bundle_config")


@pytest.fixture(scope="session")
def icons(repo_module):
    return repo_module("packaging", "icons")


@pytest.fixture(scope="session")
def launcher(repo_module):
    return repo_module("packaging", "launcher")


@pytest.fixture(scope="session")
def build(repo_module):
    return repo_module("packaging", "build")
