"""Deterministic synthetic source pairs made from one image.

Used by tests, by ``scripts/make_samples.py`` (the bundled samples) and to check that learned
weight maps point at the right source. Nothing here is random: the same input always gives the
same output.

Images are float arrays with values in ``[0, 1]``, shape ``(H, W)`` or ``(H, W, 3)``; uint8 input
is accepted and scaled by 1/255. Every function returns float32 in ``[0, 1]`` with the input's
shape.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from refusion_core.errors import InputError
from refusion_core.fusing.colour import split_ycrcb

GAMMA = 2.2
"""Display gamma assumed by :func:`exposure_pair` (pixel = linear ** (1 / GAMMA))."""


def _as_image(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as float32 in ``[0, 1]``, checking its shape is ``(H, W)`` or ``(H, W, 3)``."""
    arr = np.asarray(img)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise InputError(f"Expected an (H, W) or (H, W, 3) image, got shape {arr.shape}.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` px (reflected borders); same shape."""
    if sigma <= 0:
        return img.copy()
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)


def _grid(n: int) -> tuple[int, int]:
    """``(rows, cols)`` with ``rows * cols == n`` and rows the largest divisor ``<= sqrt(n)``."""
    rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
    return rows, n // rows


def focus_masks(shape: tuple[int, ...], n: int, band: float = 4.0) -> list[np.ndarray]:
    """Soft region masks that split an image into ``n`` tiles, row-major.

    ``n = 2``: left half, right half; ``n = 4``: the quadrants (top-left, top-right, bottom-left,
    bottom-right); in general a ``rows x cols`` grid with ``rows`` the largest divisor of ``n`` not
    above ``sqrt(n)``. Edges between tiles are smoothed over about ``band`` pixels.

    Args:
        shape: ``(H, W)`` or ``(H, W, C)``; only ``H, W`` are used.
        n: number of regions, ``>= 1``.
        band: width of the smooth transition in px (``0``: hard edges).

    Returns:
        ``n`` float32 ``(H, W)`` masks in ``[0, 1]`` that sum to 1 at every pixel.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    h, w = shape[:2]
    rows, cols = _grid(n)
    r_idx = np.minimum(np.arange(h) * rows // h, rows - 1)
    c_idx = np.minimum(np.arange(w) * cols // w, cols - 1)
    labels = r_idx[:, None] * cols + c_idx[None, :]
    masks = [(labels == i).astype(np.float32) for i in range(n)]
    if band > 0:
        masks = [_blur(m, band / 2.0) for m in masks]
        total = np.sum(masks, axis=0)
        masks = [m / total for m in masks]
    return masks


def _mix(sharp: np.ndarray, blurred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * sharp + (1 - mask) * blurred`` with an ``(H, W)`` mask broadcast over channels."""
    m = mask if sharp.ndim == 2 else mask[:, :, None]
    return np.clip(m * sharp + (1.0 - m) * blurred, 0.0, 1.0).astype(np.float32)


def focus_stack(img: np.ndarray, n: int = 4, sigma: float = 3.0, band: float = 4.0) -> list[np.ndarray]:
    """A focus stack: frame ``i`` is sharp only in region ``i`` of :func:`focus_masks`.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]`` (the all-in-focus ground truth).
        n: number of frames/regions (``4``: the four quadrants, row-major).
        sigma: Gaussian blur (px) outside the sharp region.
        band: transition width (px) between sharp and blurred areas.

    Returns:
        ``n`` float32 arrays shaped like ``img``, in ``[0, 1]``.
    """
    img = _as_image(img)
    blurred = _blur(img, sigma)
    return [_mix(img, blurred, m) for m in focus_masks(img.shape, n, band)]


def quarter_energy(y: np.ndarray, margin: int = 6) -> np.ndarray:
    """Mean squared Sobel gradient (OpenCV's 3×3) of the grey image ``y`` in each of its four quarters, row-major
    as ``focus_stack(n=4)``'s regions, leaving ``margin`` px out along each quarter's edges (the blurred seams): the
    detail a fused focus stack keeps per region, compared with the sharpest frame's there (issue 13 asks 0.9)."""
    y = np.asarray(y, np.float32)
    e = cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2
    h, w = e.shape
    return np.array([e[r * h // 2 + margin:(r + 1) * h // 2 - margin, c * w // 2 + margin:(c + 1) * w // 2 - margin]
                     .mean() for r in range(2) for c in range(2)])


def focus_stack_kept(fuser, img: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Fuse the 4-frame :func:`focus_stack` of ``img`` with ``fuser`` (a ``Fuser`` or a luminance callable, as
    :func:`refusion_core.fusing.stack.fuse_stack` takes it) and return, per quarter (row-major), the fused
    luminance's :func:`quarter_energy` over the sharpest frame's: 1 keeps all the detail, and each quarter goes
    through two fusions of the stack's tree."""
    from refusion_core.fusing.stack import fuse_stack

    frames = focus_stack(img, n=4, sigma=sigma)
    best = np.max([quarter_energy(split_ycrcb(f)[0] if f.ndim == 3 else f) for f in frames], axis=0)
    return quarter_energy(fuse_stack(fuser, frames).fused_y) / best


def multifocus_pair(img: np.ndarray, sigma: float = 3.0, band: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """A multi-focus pair: ``a`` has its LEFT half blurred, ``b`` its RIGHT half.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]`` (the all-in-focus ground truth).
        sigma: Gaussian blur (px) of the defocused half.
        band: width (px) of the smooth transition around the vertical centre line.

    Returns:
        ``(a, b)``, float32 shaped like ``img``, in ``[0, 1]``; ``a`` is sharp on the right,
        ``b`` on the left (``focus_masks(img.shape, 2)`` gives the left/right masks).
    """
    left_sharp, right_sharp = focus_stack(img, n=2, sigma=sigma, band=band)
    return right_sharp, left_sharp


def _expose(img: np.ndarray, gain: float, black: float) -> np.ndarray:
    """Scale linear radiance by ``gain``, subtract a sensor black level, clip, re-apply gamma."""
    linear = img.astype(np.float64) ** GAMMA * gain
    linear = np.clip((linear - black) / (1.0 - black), 0.0, 1.0)
    return (linear ** (1.0 / GAMMA)).astype(np.float32)


def exposure_pair(img: np.ndarray, stops: float = 2.0, black: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Simulate an under- and an over-exposed shot of ``img``.

    ``img`` is treated as display-referred (gamma ``GAMMA``): it is linearised, multiplied by
    ``2**-stops`` (under) or ``2**stops`` (over), a small sensor black level ``black`` (linear) is
    subtracted, values are clipped to ``[0, 1]`` and gamma is re-applied. Highlights therefore
    clip to 1 in ``over`` and shadows crush to 0 in ``under`` (with ``stops=2``: input values
    above ~0.53 clip in ``over``, below ~0.25 crush in ``under``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]``.
        stops: exposure offset in EV, ``> 0``.
        black: black level as a fraction of full scale (linear), in ``[0, 1)``.

    Returns:
        ``(under, over)``, float32 shaped like ``img``, in ``[0, 1]``.
    """
    img = _as_image(img)
    return _expose(img, 2.0 ** -stops, black), _expose(img, 2.0 ** stops, black)


def clipped_mask(x: np.ndarray, lo: float = 0.02, hi: float = 0.98, which: str = "both") -> np.ndarray:
    """Pixels that are crushed (``<= lo``) and/or blown (``>= hi``).

    Args:
        x: ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]``.
        lo: at or below this a value counts as crushed.
        hi: at or above this a value counts as blown.
        which: ``"low"`` (crushed only), ``"high"`` (blown only) or ``"both"``.

    Returns:
        ``(H, W)`` bool. For colour input a pixel is crushed when all channels are ``<= lo`` and
        blown when any channel is ``>= hi``.
    """
    x = np.asarray(x)
    low = x <= lo if x.ndim == 2 else np.all(x <= lo, axis=2)
    high = x >= hi if x.ndim == 2 else np.any(x >= hi, axis=2)
    if which == "low":
        return low
    if which == "high":
        return high
    if which == "both":
        return low | high
    raise ValueError(f"which must be 'low', 'high' or 'both', got {which!r}.")


def exposure_regions(under: np.ndarray, over: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where one exposure is clipped and the other is not, on the luminance (BT.601 weights).

    Returns:
        ``(blown, crushed)``, ``(H, W)`` bool: ``blown`` where ``over`` is blown and ``under`` is not
        clipped; ``crushed`` where ``under`` is crushed and ``over`` is not clipped. These are the
        regions where the paper's Fig. 11 has the gradient weight v on the other, well-exposed source.
    """
    yu, yo = split_ycrcb(_as_image(under))[0], split_ycrcb(_as_image(over))[0]
    blown = clipped_mask(yo, which="high") & ~clipped_mask(yu)
    crushed = clipped_mask(yu, which="low") & ~clipped_mask(yo)
    return blown, crushed


def similarity_homography(
    shape: tuple[int, ...], tx: float = 0.0, ty: float = 0.0, angle_deg: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """A 3x3 similarity transform about the image centre, then shifted by ``(tx, ty)`` px.

    Args:
        shape: ``(H, W)`` or ``(H, W, C)``; only ``H, W`` are used (for the centre).
        tx, ty: translation in px (x to the right, y down).
        angle_deg: rotation in degrees (counter-clockwise on screen, OpenCV convention).
        scale: isotropic scale factor.

    Returns:
        ``(3, 3)`` float64 homography usable with :func:`warp_pair`.
    """
    h, w = shape[:2]
    rot = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle_deg, scale)
    rot[:, 2] += (tx, ty)
    return np.vstack([rot, [0.0, 0.0, 1.0]])


def warp_pair(img: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A registration pair: ``img`` and ``img`` warped by a known homography.

    A point ``(x, y)`` of ``img`` lands at ``H @ (x, y, 1)`` in the warped image
    (``cv2.warpPerspective`` convention), so a method that aligns ``b`` onto ``a`` should recover
    ``inv(H)``. Bilinear interpolation; pixels that map from outside ``img`` are 0 (see
    :func:`warp_valid_mask`).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]``.
        H: ``(3, 3)`` homography.

    Returns:
        ``(a, b)``: ``a`` is ``img`` as float32, ``b`` the warped image, same shape, in ``[0, 1]``.
    """
    a = _as_image(img)
    H = np.asarray(H, dtype=np.float64)
    if H.shape != (3, 3):
        raise ValueError(f"H must be a 3x3 matrix, got shape {H.shape}.")
    h, w = a.shape[:2]
    b = cv2.warpPerspective(a, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return a, np.clip(b, 0.0, 1.0).astype(np.float32)


def warp_valid_mask(shape: tuple[int, ...], H: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels of the warped image that come from inside the source image."""
    h, w = shape[:2]
    ones = np.ones((h, w), np.float32)
    warped = cv2.warpPerspective(ones, np.asarray(H, np.float64), (w, h), flags=cv2.INTER_NEAREST)
    return warped > 0.5
