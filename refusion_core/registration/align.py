"""Registering images to a reference: estimate a transform, warp onto the reference grid, crop, stacks.

Methods (``METHODS``): ``features`` (SIFT + MAGSAC/RANSAC, :mod:`refusion_core.registration.features`) for
photographs; ``ecc`` (pyramidal ECC on intensities) for same-modality frames with little texture or
repeated patterns; ``ecc-edges`` (ECC on normalised gradient magnitude, :mod:`refusion_core.registration.ecc`)
for infrared–visible or other cross-modal pairs; and manual control points
(:func:`transform_from_points`), exact for 3 (affine) or 4 (homography) pairs, least squares for more,
which can also seed ECC (``init``). Transforms follow :mod:`refusion_core.registration.transforms`: a 3×3 matrix
mapping moving pixel coordinates to reference pixel coordinates.

Before estimating, each image is reduced to its luminance and percentile-stretched (0.5/99.5 %), so
16-bit thermal data with a narrow range registers like an 8-bit photograph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from refusion_core.errors import InputError
from refusion_core.fusing.colour import split_ycrcb
from refusion_core.io.scaling import percentile_stretch
from refusion_core.registration.common_area import common_area
from refusion_core.registration.ecc import ecc_transform
from refusion_core.registration.features import feature_transform
from refusion_core.registration.transforms import (
    MODELS,
    RegistrationError,
    Transform,
    check_model,
    check_transform,
    fit_points,
)

__all__ = ["METHODS", "MODELS", "AlignedStack", "RegistrationError", "Transform", "align_stack",
           "common_area", "estimate_transform", "read_control_points", "transform_from_points",
           "valid_mask", "warp_to"]

METHODS = ("features", "ecc", "ecc-edges")


def luminance(img: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) image, any dtype -> percentile-stretched float32 (H, W) luminance in [0, 1]."""
    x = percentile_stretch(img)
    return x if x.ndim == 2 else split_ycrcb(x)[0]


def estimate_transform(ref: np.ndarray, moving: np.ndarray, model: str = "homography",
                       method: str = "features", init: Transform | None = None,
                       names: tuple[str, str] = ("the reference", "the moving image")) -> Transform:
    """The transform that maps ``moving`` onto ``ref``.

    Args:
        ref, moving: (H, W) or (H, W, 3) RGB, uint8/uint16/float; sizes may differ.
        model: ``homography``, ``affine``, ``euclidean`` or ``translation``.
        method: ``features``, ``ecc`` or ``ecc-edges`` (see the module docstring).
        init: a starting guess for the ECC methods (e.g. from control points); ignored by ``features``.
        names: how error messages call the two images (e.g. their file names).

    Returns:
        A :class:`Transform` (matrix moving -> reference, inlier count or ECC correlation).

    Raises:
        RegistrationError: too few matches, no convergence, or a degenerate result (one plain sentence).
    """
    check_model(model)
    if method not in METHODS:
        raise RegistrationError(f"Unknown registration method {method!r}; use one of {', '.join(METHODS)}")
    ry, my = luminance(ref), luminance(moving)
    if method == "features":
        t = feature_transform(_to8(ry), _to8(my), model, names)
    else:
        t = ecc_transform(ry, my, model, names, edges=method == "ecc-edges",
                          init=None if init is None else init.matrix,
                          ref_nodata=nodata_mask(ref), mov_nodata=nodata_mask(moving))
    check_transform(t.matrix, moving.shape, names)
    return t


def nodata_mask(img: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that are 0 in every channel and connected to the image border — the fill of
    an earlier warp or a sensor's no-data frame (a black object inside the picture is not touched)."""
    zero = (img == 0) if img.ndim == 2 else np.all(img == 0, axis=2)
    if not zero.any():
        return zero
    _, labels = cv2.connectedComponents(zero.astype(np.uint8), connectivity=4)
    edge = np.unique(np.r_[labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return np.isin(labels, edge[edge > 0])


def _to8(y: np.ndarray) -> np.ndarray:
    return np.round(y * 255).astype(np.uint8)


def transform_from_points(ref_points: np.ndarray, moving_points: np.ndarray,
                          model: str = "homography") -> Transform:
    """Exact (3 affine / 4 homography pairs) or least-squares transform from control points.

    Args:
        ref_points, moving_points: (N, 2) pixel coordinates (x right, y down) of the same features.
        model: see :data:`MODELS`; needs ``refusion_core.registration.transforms.MIN_POINTS[model]`` pairs.

    Returns:
        A :class:`Transform` with method ``points``, ``inliers`` = N and ``extra["rms_px"]``, the RMS
        distance between the mapped moving points and the reference points.
    """
    src, dst = np.asarray(moving_points, np.float64), np.asarray(ref_points, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2:
        raise RegistrationError(f"Control points must be two equally long lists of [x, y] pairs, got "
                                f"{len(dst)} reference and {len(src)} moving points")
    m = fit_points(model, src, dst)
    t = Transform(m, model, "points", inliers=len(src))
    t.extra["rms_px"] = float(np.sqrt(np.mean(np.sum((t.apply(src) - dst) ** 2, axis=1))))
    return t


def read_control_points(path: str | Path, moving_names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Control points from JSON: ``{"ref": [[x, y], ...], "moving": [[x, y], ...]}`` for one moving image,
    or ``{"<moving file name>": {"ref": [...], "moving": [...]}, ...}`` for several.

    Returns:
        moving name -> ((N, 2) reference points, (N, 2) moving points).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"Cannot read control points from {path.name}: {err}") from None
    if isinstance(data, dict) and "ref" in data and "moving" in data:
        if len(moving_names) != 1:
            raise InputError(f"{path.name} holds one set of control points but {len(moving_names)} moving "
                             "images were given; key the sets by moving file name")
        data = {moving_names[0]: data}
    out = {}
    for name in moving_names:
        entry = data.get(name) if isinstance(data, dict) else None
        if not isinstance(entry, dict) or "ref" not in entry or "moving" not in entry:
            raise InputError(f"{path.name} has no control points for {name} (expected keys 'ref' and 'moving')")
        try:
            ref_pts, mov_pts = (np.asarray(entry[k], np.float64) for k in ("ref", "moving"))
        except (TypeError, ValueError):
            ref_pts = mov_pts = None
        if ref_pts is None or ref_pts.ndim != 2 or ref_pts.shape[1:] != (2,) or ref_pts.shape != mov_pts.shape \
                or not (np.isfinite(ref_pts).all() and np.isfinite(mov_pts).all()):
            raise InputError(f"The control points for {name} in {path.name} must be two equally long lists of "
                             "[x, y] number pairs under 'ref' and 'moving'")
        out[name] = (ref_pts, mov_pts)
    return out


def warp_to(ref_shape: tuple[int, ...], moving: np.ndarray, transform: Transform | np.ndarray,
            border_value: float = 0) -> np.ndarray:
    """``moving`` resampled onto the reference grid (bilinear); outside the moving image = ``border_value``.

    Args:
        ref_shape: the reference's shape; only (H, W) are used.
        moving: (h, w) or (h, w, 3); uint8, uint16 or float (float64 becomes float32).
        transform: a :class:`Transform` or a 3×3 moving -> reference matrix.

    Returns:
        (H, W) or (H, W, 3), the dtype of ``moving``.
    """
    m = transform.matrix if isinstance(transform, Transform) else np.asarray(transform, np.float64)
    src = moving.astype(np.float32) if moving.dtype == np.float64 else moving
    h, w = ref_shape[:2]
    return cv2.warpPerspective(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=border_value)


def valid_mask(ref_shape: tuple[int, ...], moving_shape: tuple[int, ...],
               transform: Transform | np.ndarray) -> np.ndarray:
    """(H, W) bool on the reference grid: where the warped moving image has data (border pixels that
    bilinear interpolation mixes with the outside count as invalid)."""
    ones = np.ones(moving_shape[:2], np.float32)
    return warp_to(ref_shape, ones, transform) > 0.999


@dataclass
class AlignedStack:
    """The result of :func:`align_stack`.

    Attributes:
        reference: the reference image (cropped to ``box`` if cropping).
        frames: each moving image warped onto the reference grid (and cropped), dtype kept.
        transforms: one :class:`Transform` per moving image (moving -> uncropped reference).
        box: (x, y, w, h) of the crop in reference pixels, or None.
    """

    reference: np.ndarray
    frames: list[np.ndarray]
    transforms: list[Transform]
    box: tuple[int, int, int, int] | None = None
    masks: list[np.ndarray] = field(default_factory=list, repr=False)


def align_stack(ref: np.ndarray, frames: Sequence[np.ndarray], model: str = "homography",
                method: str = "features", crop: bool = False, transforms: Sequence[Transform | None] = (),
                names: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None
                ) -> AlignedStack:
    """Register every frame to ``ref``; estimate all transforms before warping anything.

    Args:
        ref: the reference image; frames: the moving images (any sizes).
        model, method: as in :func:`estimate_transform`.
        crop: crop everything to :func:`common_area` of all frames (and the reference).
        transforms: optional per-frame transforms already known (e.g. from control points), used as they
            are; missing or None entries are estimated.
        names: [reference name, frame names...] for error messages.
        progress: ``progress(done, total)`` after each frame's estimate.
    """
    names = list(names) if names else ["the reference"] + [f"frame {i + 1}" for i in range(len(frames))]
    given = list(transforms) + [None] * (len(frames) - len(transforms))
    ts = []
    for i, (frame, t) in enumerate(zip(frames, given)):
        pair = (names[0], names[i + 1])
        if t is None:
            t = estimate_transform(ref, frame, model, method, names=pair)
        ts.append(Transform(check_transform(t.matrix, frame.shape, pair), t.model, t.method, t.inliers,
                            t.matches, t.correlation, t.extra))
        if progress:
            progress(i + 1, len(frames))
    warped = [warp_to(ref.shape, f, t) for f, t in zip(frames, ts)]
    masks = [valid_mask(ref.shape, f.shape, t) for f, t in zip(frames, ts)]
    if not crop:
        return AlignedStack(ref, warped, ts, None, masks)
    x, y, w, h = box = common_area(masks, names=names)
    cut = lambda a: np.ascontiguousarray(a[y:y + h, x:x + w])  # noqa: E731
    return AlignedStack(cut(ref), [cut(f) for f in warped], ts, box, [cut(m) for m in masks])
