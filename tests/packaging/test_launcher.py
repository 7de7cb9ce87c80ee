"""The bundle's entry point (packaging/launcher.py): dispatch, and the GUI runtime part of --self-test."""

from __future__ import annotations

import io
import sys

import pytest


@pytest.fixture
def calls(launcher, monkeypatch):
    """Replace the three destinations by recorders; returns the list of (where, argv) calls."""
    seen = []
    import app.main
    import refusion_core.cli.main

    monkeypatch.setattr(launcher, "self_test", lambda: seen.append(("self-test", None)) or 0)
    monkeypatch.setattr(refusion_core.cli.main, "main", lambda argv=None: seen.append(("cli", argv)) or 0)
    monkeypatch.setattr(app.main, "main", lambda argv=None: seen.append(("app", argv)) or 0)
    return seen


@pytest.mark.parametrize("argv, expected", [
    ([], ("app", [])),
    (["--screenshot", "shots"], ("app", ["--screenshot", "shots"])),
    (["--self-test"], ("self-test", None)),
    (["--cli", "info"], ("cli", ["info"])),
    (["--cli", "fuse", "a.png", "b.png", "-o", "f.png"], ("cli", ["fuse", "a.png", "b.png", "-o", "f.png"])),
])
def test_dispatch(launcher, calls, argv, expected):
    assert launcher.main(argv) == 0
    assert calls == [expected]


def test_the_refusion_executable_is_the_cli(launcher, calls, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/ReFusionStudio/refusion.exe")
    assert launcher.main(["info"]) == 0 and calls == [("cli", ["info"])]


def test_gui_check_passes_here(launcher, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    out = io.StringIO()
    assert launcher.gui_check(out) == 0, out.getvalue()
    text = out.getvalue()
    assert "platform offscreen" in text and "icons rendered" in text
    assert "ok    GUI runtime" in text


def test_gui_check_reports_missing_icons(launcher, monkeypatch, tmp_path):
    monkeypatch.setenv("REFUSION_RESOURCES", str(tmp_path))
    out = io.StringIO()
    assert launcher.gui_check(out) == 1
    assert "FAIL  GUI runtime: no icons in" in out.getvalue()


def test_self_test_combines_engine_and_gui(launcher, monkeypatch):
    import refusion_core.selftest

    out = io.StringIO()
    monkeypatch.setattr(launcher, "_console_or_log", lambda: out)
    monkeypatch.setattr(refusion_core.selftest, "run_selftest", lambda out: 0)
    monkeypatch.setattr(launcher, "gui_check", lambda out: 1)
    assert launcher.self_test() == 1
    assert "FAILED (engine: ok, GUI runtime: failed)" in out.getvalue()
    monkeypatch.setattr(launcher, "gui_check", lambda out: 0)
    assert launcher.self_test() == 0
    assert "--self-test passed (engine: ok, GUI runtime: ok)" in out.getvalue()
