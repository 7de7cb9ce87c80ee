"""The adapter between the app and ``refusion_core``: the only app module that imports the engine
(tests/app/test_boundaries.py checks it).

What the app takes from the engine comes through here, in three forms:

* light names imported at once (the tasks, the errors, the user folders: no torch, no OpenCV);
* engine names re-exported as they are, imported on first use (:data:`_REEXPORTS`: registration,
  volumes, windowing...), so that ``from app.core.engine import X`` costs nothing until
  the module that needs ``X`` is imported;
* functions that run the engine's torch-based parts (checkpoint, fuser, trainer), whose engine imports
  are inside the function, so building the window imports neither torch nor the engine's networks; the
  first fuse or training pays for it (in the worker thread). These may be slow and are called from
  workers, never for drawing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from refusion_core import MAP_NAMES, TASK_NAMES, TASKS, task_from_name  # noqa: F401 (for the app)
from refusion_core import __version__ as ENGINE_VERSION
from refusion_core.errors import InputError, RefusionError, RunError, SizeMismatchError, WeightsError
from refusion_core.paths import resources_dir, user_data_dir, user_models_dir

__all__ = ["ENGINE_VERSION", "TASKS", "TASK_NAMES", "InputError", "RefusionError", "RunError", "SizeMismatchError",
           "WeightsError",
           "resources_dir", "task_from_name", "user_data_dir", "user_models_dir"]

_GROUPS = {
    "refusion_core.io.images": ("atomic_write_bytes", "declared_pixels", "from_float", "read_image_exif"),
    "refusion_core.io.sidecar": ("redo_command", "sidecar_record"),
    "refusion_core.io.scaling": ("STRETCH_MODES", "looks_raw", "percentile_stretch"),
    "refusion_core.registration.align": ("AlignedStack", "align_stack", "estimate_transform", "transform_from_points",
                                         "warp_to"),
    "refusion_core.registration.report": ("TRANSFORMS_FILE", "write_transforms_report"),
    "refusion_core.registration.transforms": ("MIN_POINTS", "RegistrationError", "Transform", "apply_matrix",
                                              ("REGISTRATION_MODELS", "MODELS")),
    "refusion_core.medical.windowing": ("WINDOW_PRESETS", "Window", "apply_window", "auto_window", "default_window"),
    "refusion_core.medical.volumes": ("Volume", "check_same_grid", "nibabel_module", "read_volume", "write_nifti"),
    "refusion_core.training.synthetic": ("focus_stack", "multifocus_pair", "similarity_homography"),
}
_REEXPORTS = {(n if isinstance(n, str) else n[0]): (module, n if isinstance(n, str) else n[1])
              for module, names in _GROUPS.items() for n in names}
"""App name -> (engine module, engine name), imported on first use. ``REGISTRATION_MODELS`` is the
registration's ``MODELS``, renamed so that it is not taken for the fusion models."""


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: the re-exports, imported when first asked for
    if name not in _REEXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _REEXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


_lock = threading.Lock()
_bundles: dict[tuple, object] = {}


def start_logging(verbosity: int = 0):
    """The application's log file (refusion_core.logs): ``refusion-studio.log`` in the user log folder, where
    a windowed executable's tracebacks go. Returns its path, or None when it cannot be written."""
    from refusion_core.logs import setup_logging
    return setup_logging(verbosity, name="refusion-studio")


def log_exception(exc: BaseException) -> None:
    """Write an uncaught exception, with its traceback, to the log file."""
    from refusion_core.logs import get_logger
    get_logger("app").error("uncaught %s", type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__))


def torch_loaded() -> bool:
    return "torch" in sys.modules


# ----------------------------------------------------------------------------- images
def image_suffixes() -> frozenset[str]:
    from refusion_core.io.images import IMAGE_SUFFIXES

    return frozenset(IMAGE_SUFFIXES)


def read_image(path: str | Path) -> np.ndarray:
    from refusion_core.io.images import read_image as _read

    return _read(path)


def read_sources(paths, stretch: str = "auto") -> list[np.ndarray]:  # noqa: ANN001 - a sequence of paths
    """All images of a pair or a stack, checked to have one size, scaled for fusion by ``stretch`` (one of
    :data:`STRETCH_MODES`: ``auto`` stretches 16-bit data whose values fill under a quarter of the range, raw
    thermal or scientific data, by its 0.5/99.5 percentiles; ``none`` never, ``percentile`` always; the CLI's
    ``--stretch-input`` default is also ``auto``)."""
    from refusion_core.io.images import check_pair
    from refusion_core.io.scaling import prepare_input

    paths = [Path(p) for p in paths]
    images = [read_image(p) for p in paths]
    for p, img in zip(paths[1:], images[1:]):
        check_pair(images[0], img, names=(paths[0].name, p.name))
    return [prepare_input(img, stretch) for img in images]


def read_pair(a: Path, b: Path, stretch: str = "none") -> tuple[np.ndarray, np.ndarray]:
    ia, ib = read_sources((a, b), stretch)
    return ia, ib


def read_pair_raw(a: Path, b: Path, stretch: str = "none"):  # noqa: ANN201
    """``((A, B) scaled for fusion by ``stretch``, (A, B) as stored in the files)``: the viewer reads pixel values
    in the source's own units (raw counts of 16-bit data) and shows the stretched value beside them."""
    from refusion_core.io.images import check_pair
    from refusion_core.io.scaling import prepare_input

    raw = (read_image(a), read_image(b))
    try:
        check_pair(raw[0], raw[1], names=(Path(a).name, Path(b).name))
    except InputError as err:
        raise SizeMismatchError(str(err)) from None
    return tuple(prepare_input(img, stretch) for img in raw), raw


def read_exif(path: str | Path) -> bytes | None:
    """The EXIF block of an image file (None if it has none or cannot be read: EXIF is a courtesy)."""
    from refusion_core.io.images import read_image_exif

    try:
        return read_image_exif(path)[1]
    except Exception:  # noqa: BLE001
        return None


def write_image(path: str | Path, array: np.ndarray, bit_depth: int | None = None, exif: bytes | None = None) -> Path:
    from refusion_core.io.images import write_image as _write

    return _write(path, array, bit_depth=bit_depth, exif=exif)


def to_float(img: np.ndarray) -> np.ndarray:
    from refusion_core.io.images import to_float as _to_float

    return _to_float(img)


def luminance(img: np.ndarray) -> np.ndarray:
    """float32 (H, W) luminance Y in [0, 1] of a grey or RGB image (the channel F fuses)."""
    from refusion_core.fusing.colour import split_ycrcb

    return split_ycrcb(to_float(img))[0]


# ----------------------------------------------------------------------------- classical methods
def baseline_names() -> tuple[str, ...]:
    """The classical methods, in the engine's order (``refusion_core.fusing.baselines.BASELINES``)."""
    from refusion_core.fusing.baselines import BASELINES

    return tuple(BASELINES)


def fuse_baseline(name: str, frames: list[np.ndarray], progress=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """A classical method on a pair or a stack, through the engine's one pipeline (``FusionMethod.fuse``:
    luminance, a tree of pairwise fusions for N > 2, Eq. 15 chroma, the inputs' bit depth, as a model's
    result): (image uint8/uint16, fused Y float32)."""
    from refusion_core.fusing.methods import baseline_method

    res = baseline_method(name).fuse(frames, progress=progress)
    return res.fused, res.fused_y


def metric_names(task: str) -> list[str]:
    """The paper's six metrics for the task, then Qabf and MI (the rest of the engine's set is slower)."""
    from refusion_core.metrics import PAPER_METRICS

    names = list(PAPER_METRICS.get(task, PAPER_METRICS["ivif"]))
    return names + [n for n in ("Qabf", "MI") if n not in names]


def metric_info() -> dict[str, tuple[str, bool]]:
    """name -> (one-line description, higher is better)."""
    from refusion_core.metrics import EXTRA_METRICS, METRICS

    return {name: (info.description, info.higher_is_better) for name, info in {**METRICS, **EXTRA_METRICS}.items()}


def compute_metrics(a: np.ndarray, b: np.ndarray, fused: np.ndarray, task: str = "ivif") -> dict[str, float]:
    from refusion_core.metrics import compute_metrics as _metrics
    from refusion_core.metrics import to_gray255

    ga, gb, gf = to_gray255(a), to_gray255(b), to_gray255(fused)
    out = {}
    for name in metric_names(task):  # one by one: a metric that cannot be computed here (VIF on an image under
        try:                         # 41 px) is left out, the fusion and the other metrics stand
            out.update({str(k): float(v) for k, v in _metrics(ga, gb, gf, names=[name]).items()})
        except InputError:
            continue
    return out


# ----------------------------------------------------------------------------- models
def load_bundle(path: Path | None, task: str, device: str = "cpu"):  # noqa: ANN201 - ModelBundle
    """A ModelBundle (cached by file, modification time and device). ``path`` None = the task's default."""
    from refusion_core.models.checkpoint import load_model

    stamp = path.stat().st_mtime_ns if path is not None and path.exists() else None
    key = (str(path), task, device, stamp)
    with _lock:
        if key not in _bundles:
            _bundles[key] = load_model(path, task=task, device=device)
        return _bundles[key]


def save_bundle(path: Path, bundle, **meta) -> Path:  # noqa: ANN001
    from refusion_core.models.checkpoint import save_model

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, bundle, **meta)


def new_bundle(task: str, seed: int | None = 0):  # noqa: ANN201 - ModelBundle
    """Freshly initialised F, R and P (P starts at w = v = 1/2)."""
    from refusion_core.models.checkpoint import new_bundle as _new

    return _new(task, seed=seed)


def model_task(path: Path) -> str | None:
    """The task a model file was made for, without loading it: a project model's metadata (the safetensors
    header only; no torch), a released .pth's file name (``ReFusion_MFIF.pth``). None when unknown."""
    if path.suffix.lower() == ".pth":
        return task_from_name(path.stem)
    try:
        return _model_task(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@lru_cache(maxsize=256)
def _model_task(path: str, _stamp: int) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as fh:
            task = json.loads((fh.metadata() or {}).get("refusion", "{}")).get("task")
    except Exception:  # noqa: BLE001 - safetensors raises several types for unreadable files
        return None
    return task if isinstance(task, str) else None


def default_weights(task: str) -> Path:
    from refusion_core.paths import default_weights_path

    return default_weights_path(task)


def fuse(bundle, a: np.ndarray, b: np.ndarray, device: str = "auto", progress=None):  # noqa: ANN001, ANN201
    """Run F (and P for the maps) on one pair: a ``FuseResult`` and the device actually used."""
    from refusion_core.fusing.fuser import Fuser

    fuser = Fuser(bundle, device=device)
    return fuser.fuse(a, b, progress=progress), str(fuser.device)


def fuse_stack(bundle, frames: list[np.ndarray], device: str = "auto", progress=None):  # noqa: ANN001, ANN201
    """Fuse N >= 2 registered frames with F as a balanced tree of pairs (``refusion_core.fusing.stack``; no
    maps: P's maps belong to one pair). Returns a ``StackResult`` and the device used."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.fusing.stack import fuse_stack as _stack

    fuser = Fuser(bundle, device=device)
    return _stack(fuser, frames, progress=progress), str(fuser.device)


def fuse_volume_slices(bundle, a, b, window_a, window_b, device: str = "auto") -> Iterator[int]:  # noqa: ANN001
    """Fuse two co-registered volumes (``refusion_core.medical.volumes.Volume``) with F, one slice at a time
    (``fuse_volumes`` on each, with the windows fixed as (C, W) numbers: the same result as one call over the
    volume). Yields each slice's index before fusing it, so that a worker can report and cancel between
    slices; returns ``(fused Volume on A's grid, float32 in [0, 1]; the device used)``."""
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.medical.volumes import Volume, check_same_grid, fuse_volumes

    check_same_grid(a, b)
    fuser = Fuser(bundle, device)
    out = np.empty(a.data.shape, np.float32)
    for s in range(len(a.data)):
        yield s
        part, _ = fuse_volumes(fuser, _one_slice(a, s), _one_slice(b, s), window_a, window_b)
        out[s] = part.data[0]
    return Volume(out, a.spacing, a.affine.copy(), "FUSED", "", f"{a.name} + {b.name}"), str(fuser.device)


def _one_slice(vol, s: int):  # noqa: ANN001, ANN202
    from refusion_core.medical.volumes import Volume

    return Volume(vol.data[s:s + 1], vol.spacing, vol.affine, vol.modality, vol.units, vol.name)


# ----------------------------------------------------------------------------- training
def preset_names() -> tuple[str, ...]:
    from refusion_core.training.settings import PRESETS

    return tuple(PRESETS)


def train_settings(preset: str, **overrides):  # noqa: ANN201 - TrainSettings
    from refusion_core.training.settings import TrainSettings

    base = TrainSettings.preset(preset)
    known = {f.name for f in dataclasses.fields(base)}
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if k in known})


def make_trainer(settings, pairs: list[tuple[Path, Path]], run_dir: Path, task: str, init, device: str):  # noqa: ANN001, ANN201
    from refusion_core.training.settings import with_start_settings
    from refusion_core.training.trainer import Trainer

    settings = with_start_settings(settings, init, task)  # a fine-tune keeps its start's loss and augmentation
    return Trainer(settings, [(str(a), str(b)) for a, b in pairs], str(run_dir), task=task, init=init, device=device)


def train_threads() -> int:
    """``REFUSION_TRAIN_THREADS`` when it is a positive whole number, else all cores but one. A bad value is
    logged and ignored: it must not stop training from starting."""
    default = max(1, (os.cpu_count() or 2) - 1)
    raw = os.environ.get("REFUSION_TRAIN_THREADS", "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
        if value < 1:
            raise ValueError(raw)
        return value
    except ValueError:
        from refusion_core.logs import get_logger

        get_logger("app").warning("REFUSION_TRAIN_THREADS=%r is not a positive whole number; using %d threads",
                                  raw, default)
        return default


@contextlib.contextmanager
def leave_a_core_for_the_window():
    """Run PyTorch on all cores but one while training, so the window keeps a core to itself.

    On a 2-core laptop two intra-op threads plus the GUI thread oversubscribe the CPU: steps get
    slower and the window stutters. ``REFUSION_TRAIN_THREADS`` overrides the count.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(before, train_threads()))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------- devices
def probe_device() -> str:
    """A line for the status bar saying which device 'auto' uses. Never raises (a broken CUDA = CPU)."""
    try:
        import torch

        from refusion_core.devices import cuda_usable as _usable
        from refusion_core.devices import describe_device
    except Exception as exc:  # noqa: BLE001 - a broken torch must not stop the app
        return f"CPU (PyTorch unavailable: {type(exc).__name__})"
    try:
        if _usable():
            torch.zeros(1, device="cuda")
            return f"CUDA: {describe_device(torch.device('cuda'))}"
    except Exception as exc:  # noqa: BLE001
        return f"CPU (CUDA present but unusable: {str(exc).splitlines()[0][:60]})"
    return f"CPU, {torch.get_num_threads()} threads (no usable CUDA GPU)"


def warm_up() -> None:
    """Pay PyTorch's one-time costs (the engine's modules, torch.optim's first use, which imports
    torch._dynamo and holds the GIL for ~0.2 s) right after start-up, in the background, instead of
    at the first Train click. Never raises: a broken install shows up later, in plain words."""
    try:
        import torch

        import refusion_core.fusing.fuser  # noqa: F401
        import refusion_core.training.trainer  # noqa: F401

        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    except Exception:  # noqa: BLE001
        pass


def cuda_usable() -> bool:
    return probe_device().startswith("CUDA")


# ----------------------------------------------------------------------------- step timing
def step_timings(settings, pairs: list[tuple[Path, Path]], task: str, device: str = "auto"):  # noqa: ANN001, ANN201
    """Time one plain and one meta step of ``settings`` (its crop, batch and meta batch, on the images of
    the first two of ``pairs``), each after a warm-up step of its kind, with the threads training uses.

    A generator for a worker: it yields None after building the trainer and after each step, so that a
    stop takes effect there, and returns ``(plain_s, meta_s, device)``, ``device`` the one the steps ran on
    ("cpu" or "cuda"). The modules are fresh ones (the time of a step does not depend on the weights); the
    run folder is a temporary one, removed afterwards. Steps only: a training's previews and checkpoints
    add a little."""
    import tempfile
    import time

    probe = dataclasses.replace(settings, epochs=1, meta_steps=2, fuse_steps=2, ablation=None,
                                preview_every=1000, checkpoint_every=1000)
    seconds: dict[str, list[float]] = {"meta": [], "fuse": []}
    with tempfile.TemporaryDirectory(prefix="refusion-timing-") as tmp, leave_a_core_for_the_window():
        trainer = make_trainer(probe, list(pairs)[:2], Path(tmp) / "run", task, None, device)
        yield
        events = trainer.run()  # M = 2 meta steps, then N = 2 plain steps
        try:
            t0 = time.perf_counter()
            for ev in events:
                if ev.kind == "step":
                    seconds[ev.stage].append(time.perf_counter() - t0)
                    if len(seconds["fuse"]) == 2:
                        break
                    yield
                t0 = time.perf_counter()
        finally:
            events.close()
    return seconds["fuse"][1], seconds["meta"][1], trainer.device.type


def measure_step_seconds(settings, pairs: list[tuple[Path, Path]], task: str,  # noqa: ANN001
                         device: str = "auto") -> tuple[float, float]:
    """``(plain_s, meta_s)``: :func:`step_timings` run to its end (slow: four training steps)."""
    timings = step_timings(settings, pairs, task, device)
    while True:
        try:
            next(timings)
        except StopIteration as end:
            plain_s, meta_s, _ = end.value
            return plain_s, meta_s
