"""``refusion-studio --screenshot DIR`` renders the main states to small PNG files."""

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

from app import screenshot
from refusion_core.paths import resources_dir

NAMES = ["01-empty.png", "02-fused.png", "03-training.png", "04-swipe.png", "05-stack.png", "06-align.png",
         "07-volumes.png", "08-items.png"]


def test_screenshot_mode_writes_the_eight_states(window, images, tmp_path, monkeypatch):
    pytest.importorskip("nibabel")
    small = tmp_path / "samples"
    small.mkdir()
    def sample_pair(task="ivif"):  # noqa: ANN001, ANN202 - one pair per task, its files named by it
        import shutil

        (small / task).mkdir(exist_ok=True)
        return task, [Path(shutil.copy(images[k], small / task / f"{task}_{k}.png")) for k in ("grey", "colour")]

    monkeypatch.setattr(screenshot, "sample_pair", sample_pair)
    monkeypatch.setattr(screenshot, "sample_stack", lambda: ("mfif", screenshot.synthetic_stack(small, 40, 48)))
    monkeypatch.setattr(screenshot, "sample_misaligned", lambda: screenshot.synthetic_misaligned(small, 96, 128))
    monkeypatch.setattr(screenshot, "sample_volumes", lambda: screenshot.synthetic_volumes(small, 3, 24))
    monkeypatch.setattr(screenshot, "SHOT_TRAINING", dict(crop=16, batch=1, epochs=20, meta_steps=0, fuse_steps=3,
                                                          preview_every=2, preview_size=32))
    monkeypatch.setattr(screenshot, "SIZE", QSize(1000, 700))
    monkeypatch.setattr(screenshot, "ALIGN_SIZE", QSize(760, 560))
    monkeypatch.setattr(screenshot, "VOLUME_SIZE", QSize(900, 560))
    monkeypatch.setattr(screenshot, "SHOT_STEPS", 3)
    seen = {}
    real_save = screenshot.save

    def save(widget, out, name):  # noqa: ANN001
        """What each shot shows, read from the widget it grabs."""
        pair = window.state.workspace.pairs.current_pair()
        seen[name] = {"widget": type(widget).__name__, "size": widget.size(),
                      "stack": bool(pair and pair.is_stack), "fused": window.state.workspace.fused is not None,
                      "tasks": [window.state.workspace.pairs.setup(p).task for p in window.state.workspace.pairs.pairs],
                      "estimated": getattr(widget, "estimation", None) is not None,
                      "volumes": getattr(widget, "fused", None) is not None and widget.b is not None
                      if type(widget).__name__ == "VolumeWindow" else False}
        return real_save(widget, out, name)

    monkeypatch.setattr(screenshot, "save", save)
    assert screenshot.run_screenshots(window, str(tmp_path / "shots")) == 0, window.errors.history
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names == NAMES
    for name in names:
        path = tmp_path / "shots" / name
        assert path.stat().st_size < 300_000 and not QImage(str(path)).isNull()
    assert seen["05-stack"]["stack"] and seen["05-stack"]["fused"] and seen["05-stack"]["widget"] == "MainWindow"
    assert seen["05-stack"]["tasks"] == ["mfif", "mfif"]  # the stack beside a pair of its task
    assert seen["08-items"]["tasks"] == ["ivif", "mif", "mfif", "meif"] and seen["08-items"]["fused"]
    assert seen["06-align"]["widget"] == "AlignDialog" and seen["06-align"]["estimated"]
    assert seen["07-volumes"]["widget"] == "VolumeWindow" and seen["07-volumes"]["volumes"]
    for name in ("06-align", "07-volumes"):  # the dialog or window alone, not the main window
        assert QImage(str(tmp_path / "shots" / f"{name}.png")).size() == seen[name]["size"]


def test_synthetic_fallback_pair(tmp_path):
    a, b = screenshot.synthetic_pair(tmp_path)
    assert a.is_file() and b.is_file()


def test_synthetic_fallbacks_for_stack_misaligned_and_volumes(tmp_path):
    assert len(screenshot.synthetic_stack(tmp_path, 40, 48)) == 4
    assert all(p.is_file() for p in screenshot.synthetic_misaligned(tmp_path, 96, 128))
    pytest.importorskip("nibabel")
    from refusion_core.medical.volumes import read_volume

    mr, pet = (read_volume(p) for p in screenshot.synthetic_volumes(tmp_path, 3, 24))
    assert (mr.modality, pet.modality) == ("MR", "PT") and mr.data.shape == pet.data.shape == (3, 24, 24)


def test_the_bundled_samples_are_what_the_screenshots_use():
    """The manifest's extra keys point at existing files: the stack (4 frames), the bracket, the volumes."""
    manifest = json.loads((resources_dir() / "samples" / "manifest.json").read_text(encoding="utf-8"))
    if not {"stacks", "misaligned", "volumes"} <= set(manifest):
        pytest.skip("this resources folder has no stack / misaligned / volume samples")
    task, frames = screenshot.sample_stack()
    assert task == "mfif" and [f.name for f in frames] == [f"coins_{i}.png" for i in range(1, 5)]
    assert [f.name for f in screenshot.sample_misaligned()] == ["coffee_under.png", "coffee_over_moved.png"]
    assert [f.name for f in screenshot.sample_volumes()] == ["head_mr.nii.gz", "head_pet.nii.gz"]
