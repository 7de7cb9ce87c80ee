"""Aligning a pair or a stack in the app: settings, reading and estimating jobs, previews (no widgets).

The engine registers (``refusion_core.registration``, numpy/OpenCV only, so no torch here; reached through
:mod:`app.core.engine`); this module is what the aligner (:mod:`app.controllers.aligning`) and the Align dialog
need around it:

* :func:`load_job` and :func:`estimate_job`, generator jobs for the job runner (:mod:`app.qt.jobs`) that yield
  ``(done, total, text)`` between files or frames, so the window never freezes and Cancel takes effect
  between two frames (writing the result is :mod:`app.core.align_writing`);
* after a failure, advice that names other methods than the one that failed (:func:`advice`); frames of
  another size than the reference are registered starting from a stretch over it (:func:`stretch_guess`);
* a one-line summary per frame (:func:`summary`) and small display images with the overlays the user
  judges the alignment by (:func:`overlay`: checkerboard, blend, difference).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from app.core.engine import (
    MIN_POINTS,
    REGISTRATION_MODELS,
    TRANSFORMS_FILE,
    AlignedStack,
    RegistrationError,
    Transform,
    align_stack,
    apply_matrix,
    estimate_transform,
    from_float,
    looks_raw,
    percentile_stretch,
    read_image_exif,
    to_float,
    transform_from_points,
    warp_to,
)

__all__ = ["DEFAULT_MODEL", "DISPLAY_SIDE", "METHOD_NAMES", "METHODS", "MODELS", "POINTS", "PREVIEW_MODES",
           "TRANSFORMS_FILE", "AlignSettings", "Estimate", "Loaded", "advice", "advising", "display_image",
           "estimate_frame", "estimate_job", "load_job", "overlay", "points_problem", "stretch_guess",
           "suggest_method", "summary"]

MODELS = REGISTRATION_MODELS
"""The transform models, simplest last (``homography``, ``affine``, ``euclidean``, ``translation``)."""
POINTS = "points"
METHODS = (("features", "Features — photographs", "homography"),
           ("ecc", "ECC — same modality", "homography"),
           ("ecc-edges", "ECC on edges — infrared–visible", "affine"),
           (POINTS, "Control points — manual", "homography"))
"""(key, label, default model) per method; ``points`` = manual control points (optionally + ECC on edges)."""
DEFAULT_MODEL = {key: model for key, _, model in METHODS}
METHOD_NAMES = {key: label.split(" — ")[0] for key, label, _ in METHODS}
"""The methods' short names, as the advice after a failure calls them (``ECC on edges``)."""
INSTEAD = {"features": ("ecc", "ecc-edges", POINTS), "ecc": ("features", "ecc-edges", POINTS),
           "ecc-edges": ("features", POINTS)}
"""What to try when an automatic method fails: never the method itself. ECC on edges after plain ECC
(exposure brackets, other sensors); after ECC on edges, plain ECC would not do better."""
POINTS_ADVICE = "click more corresponding points, spread over the whole image, or choose a simpler model"
REFINE_ADVICE = ("clear 'Refine the control points with ECC on edges' to use the points alone, or click more "
                 "points, spread over the whole image")
PREVIEW_MODES = ("Checkerboard", "Blend", "Difference", "Reference", "Frame")
DISPLAY_SIDE = 1200
"""Display images (picker, preview) are at most this long; point coordinates stay in full-resolution pixels."""

Points = tuple[np.ndarray, np.ndarray]


@dataclass
class AlignSettings:
    """What the user chose. ``points``: moving frame index (1 = second file) -> (reference, moving) (N, 2)."""

    method: str = "features"
    model: str = "homography"
    crop: bool = True
    refine: bool = False
    points: dict[int, Points] = field(default_factory=dict)

    def key(self) -> dict:
        """JSON-ready, for the output folder's hash (manual points only count with the points method)."""
        pts = {str(i): np.round(np.r_[r, m], 2).tolist() for i, (r, m) in sorted(self.points.items())}
        manual = self.method == POINTS
        return {"method": self.method, "model": self.model, "crop": self.crop,
                "refine": self.refine and manual, "points": pts if manual else {}}


@dataclass
class Loaded:
    """The source files read once: full-resolution images, their EXIF, small display copies."""

    paths: tuple[Path, ...]
    images: list[np.ndarray]
    exifs: list[bytes | None]
    display: list[np.ndarray]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.paths]


@dataclass
class Estimate:
    """A successful estimate: the engine's result, a summary line per moving frame, display images
    on the (cropped) reference grid: the reference, each frame registered (``after``) and not (``before``)."""

    settings: AlignSettings
    stack: AlignedStack
    summaries: list[str]
    reference: np.ndarray
    after: list[np.ndarray]
    before: list[np.ndarray]

    @property
    def transforms(self) -> list[Transform]:
        return self.stack.transforms


# ---------------------------------------------------------------------------------------------- display
def display_image(img: np.ndarray, max_side: int = DISPLAY_SIDE) -> np.ndarray:
    """uint8 copy at most ``max_side`` long; raw-looking 16-bit (thermal) data percentile-stretched."""
    h, w = img.shape[:2]
    f = max_side / max(h, w)
    if f < 1:
        img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return from_float(percentile_stretch(img) if looks_raw(img) else to_float(img))


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def overlay(ref: np.ndarray, frame: np.ndarray, mode: str, tiles: int = 8) -> np.ndarray:
    """Two uint8 display images of one size -> uint8 RGB (a mode of :data:`PREVIEW_MODES`).

    Checkerboard: alternating squares (``tiles`` across the short side) from each, so edges must run on
    across the squares; Blend: the mean (doubled edges where misaligned); Difference: ``|ref - frame|``
    doubled (dark where aligned, for frames of one modality).
    """
    a, b = _rgb(ref).astype(np.int16), _rgb(frame).astype(np.int16)
    if mode == "Checkerboard":
        h, w = a.shape[:2]
        s = max(1, min(h, w) // tiles)
        board = ((np.arange(h)[:, None] // s + np.arange(w)[None, :] // s) % 2).astype(bool)
        out = np.where(board[..., None], b, a)
    elif mode == "Blend":
        out = (a + b) // 2
    elif mode == "Difference":
        out = np.minimum(np.abs(a - b) * 2, 255)
    elif mode == "Reference":
        out = a
    elif mode == "Frame":
        out = b
    else:
        raise ValueError(f"unknown preview mode {mode!r}")
    return np.ascontiguousarray(out.astype(np.uint8))


def corner_shift(t: Transform, shape: tuple[int, ...]) -> float:
    """The farthest any corner of the moving image moves under ``t`` (px)."""
    h, w = shape[:2]
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    return float(np.linalg.norm(apply_matrix(t.matrix, corners) - corners, axis=1).max())


def summary(name: str, t: Transform, shape: tuple[int, ...]) -> str:
    """One line: the model, the evidence (inliers / ECC correlation / control points), the corner shift."""
    if t.correlation is not None:
        score = f"ECC correlation {t.correlation:.3f}"
    elif t.method == "features":
        score = f"{t.inliers} of {t.matches} feature matches agree"
    elif t.method == POINTS:
        score = f"{t.inliers} control points, RMS {t.extra.get('rms_px', 0.0):.2f} px"
    else:
        score = t.method
    return f"{name}: {t.model}, {score}, corners moved up to {corner_shift(t, shape):.1f} px"


def suggest_method(images: Sequence[np.ndarray]) -> str:
    """``ecc-edges`` when the frames look like different sensors (grey vs colour, 8 vs 16 bit or other
    sizes: an infrared–visible pair), else ``features``."""
    ref = images[0]
    same = all(f.ndim == ref.ndim and f.dtype == ref.dtype and f.shape == ref.shape for f in images[1:])
    return "features" if same else "ecc-edges"


# ---------------------------------------------------------------------------------------------- estimating
_ENGINE_HINT = re.compile(r"\s*[;(]\s*try (another )?--method\b.*$")


def advice(failed: str) -> str:
    """What to do after ``failed`` (a method key, or ``refine``: the ECC refinement of control points) failed."""
    if failed == POINTS:
        return POINTS_ADVICE
    if failed == "refine":
        return REFINE_ADVICE
    names = [METHOD_NAMES[k] for k in INSTEAD[failed]]
    return f"choose another method: {', '.join(names[:-1])} or {names[-1]}"


@contextmanager
def advising(failed: str) -> Iterator[None]:
    """A registration error raised inside ends with :func:`advice` instead of the engine's command-line hint
    (``try --method ...``, which may name the method that just failed)."""
    try:
        yield
    except RegistrationError as err:
        text = _ENGINE_HINT.sub("", str(err)).rstrip(" .")
        raise RegistrationError(f"{text}; {advice(failed)}.") from err


def points_problem(settings: AlignSettings, names: Sequence[str]) -> str | None:
    """With the points method: a sentence naming the first frame with too few pairs, else None."""
    if settings.method != POINTS:
        return None
    need = MIN_POINTS[settings.model]
    for i, name in enumerate(names[1:], 1):
        have = len(settings.points.get(i, ((), ()))[0])
        if have < need:
            return (f"A {settings.model} needs at least {need} control point pair{'s' * (need > 1)} but {name} "
                    f"has {have}; click more corresponding points or choose a simpler model.")
    return None


def stretch_guess(ref_shape: tuple[int, ...], moving_shape: tuple[int, ...], model: str) -> Transform | None:
    """The moving frame stretched over the reference, corner to corner (one field of view at another
    resolution, as an infrared camera's beside a visible one): ECC's start when the sizes differ (from the
    identity it does not converge), None when they agree. Pixel centres: ``x_ref + ½ = (x_mov + ½)·W/w``."""
    if tuple(ref_shape[:2]) == tuple(moving_shape[:2]):
        return None
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    (h, w), (rh, rw) = moving_shape[:2], ref_shape[:2]
    return transform_from_points(corners * (rw, rh) - 0.5, corners * (w, h) - 0.5, model)


def estimate_frame(ref: np.ndarray, frame: np.ndarray, settings: AlignSettings, index: int,
                   names: tuple[str, str]) -> Transform:
    """The transform of moving frame ``index`` (1-based among all files) to the reference."""
    if settings.method != POINTS:
        init = stretch_guess(ref.shape, frame.shape, settings.model) if settings.method != "features" else None
        with advising(settings.method):
            return estimate_transform(ref, frame, settings.model, settings.method, init=init, names=names)
    empty = np.zeros((0, 2))
    ref_pts, mov_pts = settings.points.get(index, (empty, empty))
    with advising(POINTS):
        t = transform_from_points(ref_pts, mov_pts, settings.model)
    if settings.refine:
        with advising("refine"):
            t = estimate_transform(ref, frame, settings.model, "ecc-edges", init=t, names=names)
    return t


def load_job(paths: Sequence[Path]) -> Iterator[tuple[int, int, str]]:
    """Worker job: read every file (unreadable ones raise InputError naming the file); returns :class:`Loaded`."""
    paths = tuple(Path(p) for p in paths)
    images, exifs, display = [], [], []
    for i, p in enumerate(paths):
        yield (i, len(paths), f"Reading {p.name}…")
        img, exif = read_image_exif(p)
        images.append(img)
        exifs.append(exif)
        display.append(display_image(img))
    yield (len(paths), len(paths), "Ready")
    return Loaded(paths, images, exifs, display)


def estimate_job(loaded: Loaded, settings: AlignSettings) -> Iterator[tuple[int, int, str]]:
    """Worker job: register every frame to the first, warp (and crop); returns an :class:`Estimate`."""
    ref, frames, names = loaded.images[0], loaded.images[1:], loaded.names
    n = len(frames)
    problem = points_problem(settings, names)
    if problem:
        raise RegistrationError(problem)
    transforms = []
    for i, frame in enumerate(frames, 1):
        yield (i - 1, n + 1, f"Registering {names[i]} ({i} of {n})…")
        transforms.append(estimate_frame(ref, frame, settings, i, (names[0], names[i])))
    yield (n, n + 1, "Warping…")
    stack = align_stack(ref, frames, settings.model, crop=settings.crop, transforms=transforms, names=names)
    x, y, w, h = stack.box or (0, 0, ref.shape[1], ref.shape[0])
    before = [warp_to(ref.shape, f, np.eye(3))[y:y + h, x:x + w] for f in frames]
    est = Estimate(settings, stack, [summary(names[i], t, f.shape) for i, (t, f) in
                                     enumerate(zip(stack.transforms, frames), 1)],
                   display_image(stack.reference), [display_image(f) for f in stack.frames],
                   [display_image(f) for f in before])
    yield (n + 1, n + 1, "Done")
    return est
