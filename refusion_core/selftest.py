"""Self-test of an installation: fuse each bundled sample pair with its task's default model, check the result.

``ReFusionStudio --self-test`` (the packaged app, see ``packaging/launcher.py``) and
``python -m refusion_core.selftest`` run :func:`run_selftest`. It is headless (no Qt) and uses only what
ships with the application: ``resources/samples/manifest.json`` (pairs by task) and the default weights
``resources/weights/<task>.safetensors``, both found through :func:`refusion_core.paths.resources_dir`
(``$REFUSION_RESOURCES``, the bundle's ``sys._MEIPASS/resources`` or the checkout's ``resources/``).

For every task in :data:`refusion_core.TASKS` it needs at least one sample pair and the task's default
model (a missing one is a failure that names the missing file), fuses each pair of that task and checks:

* ``fused``: shape (H, W) when both inputs are grey, else (H, W, 3); dtype uint16 if either input is
  16-bit, else uint8; not constant.
* ``fused_y``: float32 (H, W), finite, within [0, 1], not constant.
* the maps ``wa, wb, va, vb`` (required: a default model carries P): float32 (H, W), finite, within
  [0, 1], ``wa + wb = 1`` and ``va + vb = 1`` at every pixel (to 1e-4).

Real-world inputs, where the manifest lists them: the sample focus stack fused as a tree of pairs (its
shape, not constant), the misaligned bracket registered by feature matching (corners within 2 px of the
known homography: OpenCV's SIFT and MAGSAC in the build), and the sample MRI + PET volumes read with
nibabel (modalities as listed) and their middle slice fused with the ``mif`` model; and pydicom imports.

Then it runs one meta step and one fusion-and-reconstruction step from a fresh model on a sample crop (the
training code path: second-order autograd, ``torch.func``, Adam) and checks that the losses are finite.
It prints one line per check and a summary, and returns 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import TextIO

import numpy as np

from refusion_core import TASKS, __version__

SUM_TOL = 1e-4
RANGE_TOL = 1e-6


def run_selftest(out: TextIO | None = None, device: str = "auto", train: bool = True) -> int:
    """Fuse every bundled sample pair with its task's default model and (``train``) run two training
    steps; 0 if every check passed, else 1."""
    out = out or sys.stdout
    say = lambda line="": print(line, file=out, flush=True)  # noqa: E731 - a local shorthand
    say(f"ReFusion Studio {__version__} self-test")
    try:
        pairs, root = _environment(say)
        fuser_for = _fuser_factory(device)
        failures = _run_pairs(pairs, root, fuser_for, say)
        failures += _real_inputs_check(root, fuser_for, say)
        if train:
            failures += not _train_check(pairs, root, device, say)
    except Exception as err:  # anything unexpected is a failure with a reason and where it happened
        say(f"FAIL  {type(err).__name__}: {err}")
        for line in traceback.format_exc().rstrip().splitlines()[-7:-1]:
            say(f"      {line}")
        failures = 1
    say(f"self-test {'passed' if not failures else f'FAILED ({failures} problem(s))'}")
    return 0 if not failures else 1


def _environment(say) -> tuple[dict[str, list[dict]], Path]:
    import torch

    from refusion_core.paths import resources_dir

    frozen = "bundle" if getattr(sys, "frozen", False) else "source/installed package"
    say(f"python {platform.python_version()} ({platform.system()} {platform.machine()}, {frozen}), "
        f"torch {torch.__version__}, numpy {np.__version__}")
    res = resources_dir()
    say(f"resources: {res}")
    manifest = res / "samples" / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"sample manifest {manifest} is missing")
    by_task: dict[str, list[dict]] = {t: [] for t in TASKS}
    for entry in json.loads(manifest.read_text(encoding="utf-8"))["pairs"]:
        by_task.setdefault(entry["task"], []).append(entry)
    return by_task, manifest.parent


def _fuser_factory(device: str):
    from refusion_core.devices import describe_device
    from refusion_core.fusing.fuser import Fuser
    from refusion_core.models.checkpoint import load_model

    def fuser_for(task: str) -> tuple[Fuser, str]:
        bundle = load_model(None, task)
        fuser = Fuser(bundle, device=device)
        where = bundle.path.name if bundle.path else "?"
        return fuser, f"{where} (sha256 {(bundle.sha256 or '?')[:12]}, {describe_device(fuser.device)})"

    return fuser_for


def _run_pairs(by_task: dict[str, list[dict]], root: Path, fuser_for, say) -> int:
    from refusion_core.errors import WeightsError

    failures, missing_weights = 0, False
    for task, entries in by_task.items():
        if not entries:
            say(f"FAIL  {task}: no sample pair for this task in manifest.json")
            failures += 1
            continue
        try:
            fuser, what = fuser_for(task)
        except Exception as err:  # WeightsError: default weights missing or unreadable
            say(f"FAIL  {task}: {err if isinstance(err, WeightsError) else f'{type(err).__name__}: {err}'}")
            failures, missing_weights = failures + 1, missing_weights or isinstance(err, WeightsError)
            continue
        say(f"      {task}: model {what}")
        failures += sum(not _fuse_and_check(fuser, root, entry, say) for entry in entries)
    if missing_weights:
        say("hint: the default models are resources/weights/<task>.safetensors (scripts/train_defaults.py makes "
            "them); a packaged app carries the ones that were there when it was built")
    return failures


def _fuse_and_check(fuser, root: Path, entry: dict, say) -> bool:
    from refusion_core.io.images import read_image

    t0 = time.perf_counter()
    try:
        a, b = read_image(root / entry["a"]), read_image(root / entry["b"])
        result = fuser.fuse(a, b)
        problems = check_result(a, b, result, need_maps=True)
    except Exception as err:
        problems = [f"{type(err).__name__}: {err}"]
    label = f"{entry['task']}: {entry['a']} + {entry['b']}"
    if problems:
        say(f"FAIL  {label}: {'; '.join(problems)}")
    else:
        say(f"ok    {label} -> {_describe(result)} in {time.perf_counter() - t0:.2f} s")
    return not problems


def _real_inputs_check(root: Path, fuser_for, say) -> int:
    """Stacks, registration and volumes on the samples the manifest lists; the number of failures."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    checks = [(f"stack {e['task']}: {len(e['frames'])} frames", _check_stack, e) for e in manifest.get("stacks", [])]
    checks += [(f"align: {e['b']} -> {e['a']}", _check_align, e) for e in manifest.get("misaligned", [])]
    checks += [(f"volumes {e['task']}: {e['a']} + {e['b']}", _check_volumes, e) for e in manifest.get("volumes", [])]
    checks += [("DICOM reader", lambda root, entry, fuser_for: _dicom_reader(), None)]
    failures = 0
    for label, check, entry in checks:
        t0 = time.perf_counter()
        try:
            detail = check(root, entry, fuser_for)
            say(f"ok    {label}: {detail} in {time.perf_counter() - t0:.2f} s")
        except Exception as err:
            say(f"FAIL  {label}: {type(err).__name__}: {err}")
            failures += 1
    return failures


def _check_stack(root: Path, entry: dict, fuser_for) -> str:
    from refusion_core.fusing.stack import fuse_stack
    from refusion_core.io.images import read_image

    frames = [read_image(root / f) for f in entry["frames"]]
    res = fuse_stack(fuser_for(entry["task"])[0], frames)
    problems = _check_plane("fused_y", res.fused_y, frames[0].shape[:2])
    if res.fused.shape[:2] != frames[0].shape[:2]:
        problems.append(f"fused is {res.fused.shape}, frames {frames[0].shape}")
    if problems:
        raise AssertionError("; ".join(problems))
    return f"{res.fused.shape[1]}x{res.fused.shape[0]} {res.fused.dtype}"


def _check_align(root: Path, entry: dict, fuser_for) -> str:
    from refusion_core.io.images import read_image
    from refusion_core.registration.align import estimate_transform
    from refusion_core.registration.transforms import apply_matrix

    a, b = read_image(root / entry["a"]), read_image(root / entry["b"])
    t = estimate_transform(a, b, "homography", "features")
    h, w = b.shape[:2]
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    err = float(np.abs(apply_matrix(t.matrix, corners) - apply_matrix(np.array(entry["b_to_a"]), corners)).max())
    if err > 2.0:
        raise AssertionError(f"recovered homography is {err:.2f} px off at a corner (> 2 px)")
    return f"{t.inliers} inliers, corners within {err:.2f} px of the known warp"


def _check_volumes(root: Path, entry: dict, fuser_for) -> str:
    from refusion_core.medical.volumes import check_same_grid, read_volume
    from refusion_core.medical.windowing import window

    va, vb = read_volume(root / entry["a"]), read_volume(root / entry["b"])
    check_same_grid(va, vb)
    got = (va.modality, vb.modality)
    if got != (entry.get("modality_a", va.modality), entry.get("modality_b", vb.modality)):
        raise AssertionError(f"modalities read as {got}")
    s = len(va.data) // 2
    ya, yb = window(va.data[s], None, va.modality)[0], window(vb.data[s], None, vb.modality)[0]
    fused = fuser_for(entry["task"])[0].fuse_luminance(ya, yb, maps=False)[0]
    problems = _check_plane("slice", np.asarray(fused, np.float32), ya.shape)
    if problems:
        raise AssertionError("; ".join(problems))
    return f"{'x'.join(map(str, va.data.shape))} {got[0]}+{got[1]}, slice {s + 1} fused"


def _dicom_reader() -> str:
    from refusion_core.medical.dicom import pydicom_module

    return f"pydicom {pydicom_module().__version__}"


def _train_check(by_task: dict[str, list[dict]], root: Path, device: str, say) -> bool:
    """One meta step and one fusion-and-reconstruction step from a fresh model on two sample pairs (32 px
    crops) in a temporary run folder: the training code path (second-order autograd, torch.func, Adam)."""
    import tempfile

    from refusion_core.training.settings import TrainSettings
    from refusion_core.training.trainer import Trainer

    entries = [e for group in by_task.values() for e in group][:2]  # meta-learning needs two pairs
    if len(entries) < 2:
        say("FAIL  training: needs two sample pairs")
        return False
    t0 = time.perf_counter()
    settings = TrainSettings(epochs=1, meta_steps=1, fuse_steps=1, crop=32, batch=1, checkpoint_every=10,
                             preview_every=10, max_side=128)
    try:
        with tempfile.TemporaryDirectory(prefix="refusion-selftest-") as run:
            pairs = [(root / e["a"], root / e["b"]) for e in entries]
            trainer = Trainer(settings, pairs, run, entries[0]["task"], device=device)
            events = list(trainer.run())
        steps = [e for e in events if e.kind == "step"]
        problems = [] if events and events[-1].kind == "done" else ["training did not finish"]
        bad = [e.stage for e in steps if not all(np.isfinite(v) for v in (e.lf, e.lr))]
        problems += [f"non-finite loss on the {', '.join(bad)} step"] if bad else []
    except Exception as err:
        problems = [f"{type(err).__name__}: {err}"]
    if problems:
        say(f"FAIL  training: {'; '.join(problems)}")
        return False
    say(f"ok    training: {len(steps)} steps ({', '.join(e.stage for e in steps)}) from a fresh model on "
        f"{len(entries)} sample pairs, losses finite, in {time.perf_counter() - t0:.2f} s")
    return True


def check_result(a: np.ndarray, b: np.ndarray, result, need_maps: bool = True) -> list[str]:
    """The problems with a :class:`~refusion_core.fusing.fuser.FuseResult` of inputs ``a``, ``b`` (empty if none)."""
    h, w = a.shape[:2]
    grey = a.ndim == 2 and b.ndim == 2
    problems = []
    fused = result.fused
    want_shape = (h, w) if grey else (h, w, 3)
    want_dtype = np.uint16 if np.uint16 in (a.dtype, b.dtype) else np.uint8
    if fused.shape != want_shape:
        problems.append(f"fused shape {fused.shape}, expected {want_shape}")
    if fused.dtype != want_dtype:
        problems.append(f"fused dtype {fused.dtype}, expected {np.dtype(want_dtype)}")
    if fused.size and fused.min() == fused.max():
        problems.append(f"fused image is constant ({fused.flat[0]})")
    problems += _check_plane("fused_y", result.fused_y, (h, w))
    maps = result.maps
    if not maps:
        if need_maps:
            problems.append("no weight maps (the model has no loss-proposal network P)")
        return problems
    missing = [k for k in ("wa", "wb", "va", "vb") if k not in maps]
    if missing:
        return problems + [f"maps {', '.join(missing)} missing"]
    for name in ("wa", "wb", "va", "vb"):
        problems += _check_plane(name, maps[name], (h, w), constant_ok=True)
    for x, y in (("wa", "wb"), ("va", "vb")):
        err = float(np.abs(maps[x].astype(np.float64) + maps[y] - 1.0).max())
        if not err <= SUM_TOL:
            problems.append(f"{x} + {y} differs from 1 by up to {err:.2e}")
    return problems


def _check_plane(name: str, x: np.ndarray, shape: tuple[int, int], constant_ok: bool = False) -> list[str]:
    if x.shape != shape or x.dtype != np.float32:
        return [f"{name} is {x.dtype} {x.shape}, expected float32 {shape}"]
    if not np.isfinite(x).all():
        return [f"{name} has {int((~np.isfinite(x)).sum())} non-finite values"]
    lo, hi = float(x.min()), float(x.max())
    problems = []
    if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
        problems.append(f"{name} spans [{lo:.4g}, {hi:.4g}], outside [0, 1]")
    if not constant_ok and hi - lo <= 1e-6:
        problems.append(f"{name} is constant ({lo:.4g})")
    return problems


def _describe(result) -> str:
    f = result.fused
    kind = "grey" if f.ndim == 2 else "RGB"
    maps = result.maps
    spread = f", wa in [{maps['wa'].min():.2f}, {maps['wa'].max():.2f}], maps sum to 1" if maps else ""
    return f"{f.shape[1]}x{f.shape[0]} {kind} {f.dtype}, Y mean {result.fused_y.mean():.3f}{spread}"


def main() -> int:
    return run_selftest()


if __name__ == "__main__":
    raise SystemExit(main())
