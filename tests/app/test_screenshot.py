"""``refusion-studio --screenshot DIR`` renders the main states to small PNG files."""

from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

from app import screenshot


def test_screenshot_mode_writes_the_four_states(window, images, tmp_path, monkeypatch):
    monkeypatch.setattr(screenshot, "sample_pair", lambda task="ivif": ("ivif", [images["grey"], images["colour"]]))
    monkeypatch.setattr(screenshot, "SHOT_TRAINING", dict(crop=16, batch=1, epochs=20, meta_steps=0, fuse_steps=3,
                                                          preview_every=2, preview_size=32))
    monkeypatch.setattr(screenshot, "SIZE", QSize(1000, 700))
    monkeypatch.setattr(screenshot, "SHOT_STEPS", 3)
    assert screenshot.run_screenshots(window, str(tmp_path / "shots")) == 0, window.errors.history
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names == ["01-empty.png", "02-fused.png", "03-training.png", "04-swipe.png"]
    for name in names:
        path = tmp_path / "shots" / name
        assert path.stat().st_size < 300_000 and not QImage(str(path)).isNull()


def test_synthetic_fallback_pair(tmp_path):
    a, b = screenshot.synthetic_pair(tmp_path)
    assert a.is_file() and b.is_file()
