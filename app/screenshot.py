"""``refusion-studio --screenshot DIR``: render the main states to PNG files and exit.

States: the empty window, a fused sample pair, a training in progress (curves and maps), and the
swipe view. Uses the bundled samples (resources/samples/manifest.json) and falls back to a
synthetic pair; uses the task's default weights, else a fresh model. Runs in a throw-away settings
and user-data folder so the user's own settings are untouched.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QSize, Qt
from PySide6.QtGui import QImage
from refusion_core.paths import resources_dir, user_models_dir

from app import engine
from app.training import TrainRequest

SIZE = QSize(1360, 850)
MAX_BYTES = 300_000
SHOT_STEPS = 24  # training steps on the curves before the training screenshot
SHOT_TRAINING = dict(crop=64, batch=2, epochs=50, meta_steps=2, fuse_steps=6, preview_every=2, preview_size=256)


def wait_until(condition, timeout_s: float = 300.0) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        QCoreApplication.processEvents()
        time.sleep(0.01)
    return True


def settle(seconds: float = 0.4) -> None:
    wait_until(lambda: False, seconds)


def sample_pair(task: str = "ivif") -> tuple[str, list[Path]]:
    """The bundled sample pair of ``task`` (or the first one), else a synthetic multi-focus pair."""
    manifest = resources_dir() / "samples" / "manifest.json"
    try:
        pairs = json.loads(manifest.read_text())["pairs"]
        pick = next((p for p in pairs if p["task"] == task), pairs[0])
        files = [manifest.parent / pick["a"], manifest.parent / pick["b"]]
        if all(f.is_file() for f in files):
            return pick["task"], files
    except (OSError, ValueError, KeyError, IndexError):
        pass
    return "mfif", synthetic_pair(Path(tempfile.mkdtemp(prefix="refusion-shot-")))


def mirrored(files: list[Path]) -> list[Path]:
    """A left-right mirrored copy of a pair: meta-learning needs a second pair to test on."""
    folder = Path(tempfile.mkdtemp(prefix="refusion-shot-"))
    return [engine.write_image(folder / f"{f.stem}_mirrored.png", engine.read_image(f)[:, ::-1].copy())
            for f in files]


def synthetic_pair(folder: Path) -> list[Path]:
    from refusion_core.synthetic import multifocus_pair

    yy, xx = np.mgrid[0:256, 0:320] / 40.0
    scene = 0.5 + 0.25 * np.sin(xx * 1.7) * np.cos(yy * 1.3) + 0.25 * ((xx.astype(int) + yy.astype(int)) % 2)
    a, b = multifocus_pair(np.clip(scene, 0, 1).astype(np.float32))
    return [engine.write_image(folder / f"synthetic_{n}.png", img, bit_depth=8) for n, img in (("a", a), ("b", b))]


def choose_model(window, task: str) -> None:  # noqa: ANN001
    if engine.default_weights(task).exists():
        window.state.set_model("default")
        return
    path = user_models_dir() / f"{task}-untrained.safetensors"
    engine.save_bundle(path, engine.new_bundle(task))
    window.state.modelsChanged.emit()
    window.state.set_model(f"user:{path}")


def save(window, out: Path, name: str) -> Path:  # noqa: ANN001
    """Grab the window; keep the PNG under MAX_BYTES (a 256-colour palette first, then smaller)."""
    settle()
    image = window.grab().toImage()
    path = out / f"{name}.png"
    image.save(str(path), "PNG", 9)
    while path.stat().st_size > MAX_BYTES and image.width() > 640:
        image.convertToFormat(QImage.Format.Format_Indexed8).save(str(path), "PNG", 9)
        image = image.scaledToWidth(int(image.width() * 0.9), Qt.TransformationMode.SmoothTransformation)
    return path


def run_screenshots(window, out_dir: str) -> int:  # noqa: ANN001
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    window.errors.interactive = False
    window.resize(SIZE)
    window.show()
    window.resize(SIZE)
    wait_until(lambda: window.state.device_info.startswith("Device"), 60)
    shots = [save(window, out, "01-empty")]
    task, files = sample_pair()
    window.state.set_task(task)
    choose_model(window, task)
    window.pair_list.add_paths(files)
    window.fusion.fuse()
    wait_until(lambda: window.fusion.worker is None)
    window.compare.grid.main_view.autoRange(padding=0.02)
    shots.append(save(window, out, "02-fused"))
    window.pair_list.add_paths(mirrored(files))
    window.state.pairs.set_current(0)
    window.training.start(TrainRequest("quick", dict(SHOT_TRAINING)))
    wait_until(lambda: (window.losses.points("lf") >= SHOT_STEPS and window.state.maps_title.startswith("Training"))
               or not window.training.running)
    window.losses.redraw()
    shots.append(save(window, out, "03-training"))
    window.training.stop_and_wait()
    settle(0.2)  # the fine-tuned model now fuses the current pair
    wait_until(lambda: window.fusion.worker is None)
    window.compare.set_swipe_sides("A", "Fused")
    window.compare.set_swipe(True)
    settle(0.3)
    window.compare.swipe.fit()
    window.compare.swipe.set_split(0.5)
    shots.append(save(window, out, "04-swipe"))
    window.close()
    for shot in shots:
        print(shot)
    return 1 if window.errors.history else 0
