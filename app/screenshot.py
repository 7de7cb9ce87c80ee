"""``refusion-studio --screenshot DIR``: render the main states to PNG files and exit.

States: the empty window, a fused sample pair, a training in progress (curves and maps), the swipe
view, a focus stack fused as one item, the Align dialog after an estimate (the dialog alone) and the
volume browser with an MRI + PET pair fused (that window alone). Uses the bundled samples
(resources/samples/manifest.json: ``pairs``, ``stacks``, ``misaligned``, ``volumes``) and falls back to
synthetic ones; uses the task's default weights, else a fresh model. Runs in a throw-away settings
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

from app.controllers.training import TrainRequest
from app.core import engine
from app.core.engine import InputError, resources_dir, user_models_dir
from app.core.methods import DEFAULT, MethodKey

SIZE = QSize(1360, 850)
ALIGN_SIZE = QSize(960, 700)
VOLUME_SIZE = QSize(1240, 640)
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


def _manifest_files(key: str, fields: tuple[str, ...]) -> tuple[str, list[Path]] | None:
    """(task, files) of the first ``key`` entry of the samples manifest (``fields``: the entry's file names,
    a list field adds all its names), or None when the manifest, the entry or one of its files is missing."""
    manifest = resources_dir() / "samples" / "manifest.json"
    try:
        entry = json.loads(manifest.read_text(encoding="utf-8"))[key][0]
        names = [n for f in fields for n in (entry[f] if isinstance(entry[f], list) else [entry[f]])]
        files = [manifest.parent / n for n in names]
        if all(f.is_file() for f in files):
            return entry["task"], files
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return None


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="refusion-shot-"))


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
    return "mfif", synthetic_pair(_scratch())


def sample_stack() -> tuple[str, list[Path]]:
    """The bundled focus stack (task, frames), else a synthetic 4-frame one."""
    return _manifest_files("stacks", ("frames",)) or ("mfif", synthetic_stack(_scratch()))


def sample_misaligned() -> list[Path]:
    """The bundled misaligned bracket (reference, moved frame), else a synthetic moved pair."""
    found = _manifest_files("misaligned", ("a", "b"))
    return found[1] if found else synthetic_misaligned(_scratch())


def sample_volumes() -> list[Path]:
    """The bundled MRI-like + PET-like NIfTI volumes, else two small synthetic ones (needs nibabel)."""
    found = _manifest_files("volumes", ("a", "b"))
    return found[1] if found else synthetic_volumes(_scratch())


def mirrored(files: list[Path]) -> list[Path]:
    """A left-right mirrored copy of a pair: meta-learning needs a second pair to test on."""
    folder = Path(tempfile.mkdtemp(prefix="refusion-shot-"))
    return [engine.write_image(folder / f"{f.stem}_mirrored.png", engine.read_image(f)[:, ::-1].copy())
            for f in files]


def synthetic_scene(h: int = 256, w: int = 320) -> np.ndarray:
    """A float32 (h, w) test scene in [0, 1]: a smooth wave pattern on a checkerboard."""
    yy, xx = np.mgrid[0:h, 0:w] / 40.0
    scene = 0.5 + 0.25 * np.sin(xx * 1.7) * np.cos(yy * 1.3) + 0.25 * ((xx.astype(int) + yy.astype(int)) % 2)
    return np.clip(scene, 0, 1).astype(np.float32)


def synthetic_pair(folder: Path) -> list[Path]:
    a, b = engine.multifocus_pair(synthetic_scene())
    return [engine.write_image(folder / f"synthetic_{n}.png", img, bit_depth=8) for n, img in (("a", a), ("b", b))]


def synthetic_stack(folder: Path, h: int = 256, w: int = 320) -> list[Path]:
    """Four frames of the synthetic scene, frame i sharp in quadrant i (``refusion_core.training.synthetic.focus_stack``)."""
    frames = engine.focus_stack(synthetic_scene(h, w), n=4)
    return [engine.write_image(folder / f"stack_{i + 1}.png", f, bit_depth=8) for i, f in enumerate(frames)]


def synthetic_misaligned(folder: Path, h: int = 192, w: int = 256) -> list[Path]:
    """A textured scene and the same scene moved by 5 px and 1.5 degrees (borders cut off both)."""
    import cv2

    pad = 16
    rng = np.random.default_rng(7)
    big = cv2.GaussianBlur(rng.random((h + 2 * pad, w + 2 * pad)).astype(np.float32), (0, 0), 2.0)
    big = (big - big.min()) / (big.max() - big.min())
    moved = cv2.warpPerspective(big, engine.similarity_homography(big.shape, 5.0, -3.0, 1.5), big.shape[::-1],
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    crop = (slice(pad, pad + h), slice(pad, pad + w))
    return [engine.write_image(folder / f"moved_{n}.png", img[crop], bit_depth=8)
            for n, img in (("a", big), ("b", moved))]


def synthetic_volumes(folder: Path, slices: int = 6, side: int = 48) -> list[Path]:
    """An MR-like and a PT-like NIfTI volume on one grid: a growing disc, and a smooth hot spot in it.
    (nibabel writes them: ``refusion_core.medical.volumes.write_nifti`` puts ``ReFusion MR;`` in the header's
    ``descrip``, which its reader does not take for a modality.)"""
    nib = engine.nibabel_module()
    z, y, x = np.mgrid[0:slices, 0:side, 0:side].astype(np.float32)
    r = np.hypot(y - side / 2, x - side / 2) / (side * (0.25 + 0.03 * z))
    mr = np.clip(1.2 - r, 0, 1) * (0.6 + 0.4 * np.cos(3 * x / side * np.pi) ** 2) * 1000
    pet = np.exp(-((y - 0.4 * side) ** 2 + (x - 0.6 * side) ** 2) / (0.02 * side ** 2)) * 50 + (r < 1) * 10
    out = []
    for name, data, descrip in (("mr.nii.gz", mr, b"MR synthetic"), ("pet.nii.gz", pet, b"PT synthetic")):
        img = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), np.diag([2.0, 2.0, 5.0, 1.0]))
        img.header["descrip"] = descrip
        nib.save(img, str(folder / name))
        out.append(folder / name)
    return out


def model_key(window, task: str) -> MethodKey:  # noqa: ANN001
    """The catalog key of ``task``'s default weights, else of a fresh untrained model saved for it."""
    if engine.default_weights(task).exists():
        return DEFAULT
    path = user_models_dir() / f"{task}-untrained.safetensors"
    if not path.exists():
        engine.save_bundle(path, engine.new_bundle(task))
        window.state.models.refresh()
    return MethodKey.user(path)


def choose_model(window, task: str) -> None:  # noqa: ANN001
    window.state.choices.set_model(model_key(window, task))


def save(widget, out: Path, name: str) -> Path:  # noqa: ANN001
    """Grab a window or dialog; keep the PNG under MAX_BYTES (a 256-colour palette first, then smaller)."""
    settle()
    image = widget.grab().toImage()
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
    wait_until(lambda: window.state.activity.device_info.startswith("Device"), 60)
    shots = [save(window, out, "01-empty")]
    task, files = sample_pair()
    window.state.choices.set_task(task)
    choose_model(window, task)
    window.pair_list.add_paths(files)
    window.fusing.fuse()
    wait_until(lambda: not window.fusing.busy)
    window.compare.grid.main_view.autoRange(padding=0.02)
    shots.append(save(window, out, "02-fused"))
    window.pair_list.add_paths(mirrored(files))
    window.state.workspace.pairs.set_current(0)
    window.training.start(TrainRequest("quick", dict(SHOT_TRAINING)))
    maps = lambda: window.state.workspace.maps  # noqa: E731
    wait_until(lambda: (window.losses.points("lf") >= SHOT_STEPS and maps().title.startswith("Training"))
               or not window.training.running)
    window.losses.redraw()
    shots.append(save(window, out, "03-training"))
    window.training.stop_and_wait()
    settle(0.2)  # the fine-tuned model now fuses the current pair
    wait_until(lambda: not window.fusing.busy)
    window.compare.set_swipe_sides("A", "Fused")
    window.compare.set_swipe(True)
    settle(0.3)
    window.compare.swipe.fit()
    window.compare.swipe.set_split(0.5)
    shots.append(save(window, out, "04-swipe"))
    shots.append(shot_stack(window, out))
    shots.append(shot_align(window, out))
    shots.append(shot_volumes(window, out))
    shots.append(shot_items(window, out))
    window.close()
    for shot in filter(None, shots):
        print(shot)
    return 1 if window.errors.history else 0


def shot_stack(window, out: Path) -> Path:  # noqa: ANN001
    """The sample focus stack dropped as one item next to a pair of its task, fused as a tree of pairs."""
    window.compare.set_swipe(False)
    window.losses.clear()  # the curves of the earlier training belong to another task
    window.statusBar().clearMessage()
    task, frames = sample_stack()
    window.state.workspace.pairs.clear()
    window.state.choices.set_task(task)
    choose_model(window, task)
    pair_task, pair_files = sample_pair(task)
    if pair_task == task:
        window.pair_list.add_paths(pair_files)
    window.pair_list.add_paths(frames)
    window.state.workspace.pairs.set_current(len(window.state.workspace.pairs) - 1)
    settle(0.2)
    wait_until(lambda: not window.fusing.busy)
    window.fusing.fuse()
    wait_until(lambda: not window.fusing.busy)
    settle(0.3)
    window.compare.grid.main_view.autoRange(padding=0.02)
    return save(window, out, "05-stack")


def shot_align(window, out: Path) -> Path:  # noqa: ANN001
    """The Align dialog on the misaligned sample after a feature-based estimate, checkerboard preview.
    Shown non-modally (the app opens it with exec()) and grabbed alone; closed without writing anything."""
    from app.core.pairing import make_stack
    from app.windows.align_dialog import AlignDialog

    dialog = AlignDialog(make_stack(sample_misaligned()), window.errors, window)
    dialog.resize(ALIGN_SIZE)
    dialog.show()
    wait_until(lambda: dialog.loaded is not None and not dialog.busy, 60)
    dialog.set_method("features")
    dialog.mode.setCurrentText("Checkerboard")
    if dialog.estimate():
        wait_until(lambda: not dialog.busy, 120)
    settle(0.3)
    dialog.view.autoRange(padding=0.02)
    path = save(dialog, out, "06-align")
    dialog.reject()
    return path


def shot_volumes(window, out: Path) -> Path | None:  # noqa: ANN001
    """The volume browser with the sample MRI-like (A) and PET-like (B) volumes opened and fused (mif model),
    at the middle slice; that window alone."""
    try:
        volumes = sample_volumes()
    except InputError as err:  # no bundled volumes and no nibabel to write synthetic ones
        print(f"07-volumes skipped: {err}")
        return None
    model_key(window, "mif")  # the browser lists the catalog's mif models: make sure there is one
    window.handlers.open_volumes(volumes)
    browser = window.handlers.volume_windows[-1]
    browser.resize(VOLUME_SIZE)
    wait_until(lambda: not browser.busy, 120)
    browser.fill_models()
    if browser.fuse():
        wait_until(lambda: not browser.busy, 300)
    settle(0.3)
    path = save(browser, out, "07-volumes")
    browser.close()
    return path


def shot_items(window, out: Path) -> Path:  # noqa: ANN001
    """One sample pair of each task in the list, each item with its own task and model (shown under its name);
    the multi-focus item selected and fused, the viewer at 100 %."""
    from app.core.engine import TASKS
    from app.core.pairing import ItemSetup

    pairs = window.state.workspace.pairs
    pairs.clear()
    for task in TASKS:
        _, files = sample_pair(task)
        if window.pair_list.add_paths(files).pairs:
            pairs.set_setup(len(pairs) - 1, ItemSetup(task, model_key(window, task)))
    pairs.set_current(next((i for i, p in enumerate(pairs.pairs) if pairs.setup(p).task == "mfif"), 0))
    settle(0.2)
    window.fusing.fuse()
    wait_until(lambda: not window.fusing.busy)
    window.compare.zoom.actual_action.trigger()
    return save(window, out, "08-items")
