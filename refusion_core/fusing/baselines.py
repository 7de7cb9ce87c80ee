"""Classical (non-learned) fusion methods, used as comparisons in the app and the benchmark.

Every method works on one channel: two float32 arrays of shape ``(H, W)`` with values in
``[0, 1]`` (the luminance Y; colour is handled elsewhere by fusing Y and carrying Cb/Cr over),
and returns a float32 ``(H, W)`` array clipped to ``[0, 1]``.

Methods:

* ``average``   -- pixel-wise mean, the weakest sensible baseline.
* ``laplacian`` -- Laplacian-pyramid fusion (Burt & Adelson 1983): detail coefficients are chosen
  from the input with the larger local activity (mean ``|L|`` over a small window), the coarsest
  Gaussian level is averaged.
* ``mertens``   -- exposure fusion (Mertens, Kautz & Van Reeth 2007) through OpenCV's
  ``MergeMertens``; meant for multi-exposure pairs.

Use :func:`fuse_baseline` to pick a method by name, e.g. from the CLI or a combo box.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from refusion_core.errors import InputError

BaselineFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two single-channel images and return them as float32 copies.

    Args:
        a: ``(H, W)`` array, values in ``[0, 1]`` (any real dtype).
        b: ``(H, W)`` array with the same shape as ``a``.

    Returns:
        ``(a, b)`` as contiguous float32 ``(H, W)`` arrays.

    Raises:
        InputError: if an input is not 2-D or the shapes differ.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise InputError(
            f"Baseline fusion needs two single-channel (H, W) images, got shapes {a.shape} and {b.shape}."
        )
    if a.shape != b.shape:
        raise InputError(f"The two images have different sizes: {a.shape} and {b.shape}.")
    return np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)


def _finish(x: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and return float32."""
    return np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)


def average(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixel-wise mean of two images.

    Args:
        a: ``(H, W)`` float image in ``[0, 1]``.
        b: ``(H, W)`` float image in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``: ``(a + b) / 2``.
    """
    a, b = _check_pair(a, b)
    return _finish(0.5 * (a + b))


def default_levels(shape: tuple[int, int]) -> int:
    """Pyramid depth for an image size: the coarsest level keeps at least ~8 px on its short side.

    Args:
        shape: ``(H, W)``.

    Returns:
        An int in ``[1, 7]`` (1 for tiny images).
    """
    short = max(1, min(shape[:2]))
    return int(min(7, max(1, math.floor(math.log2(short / 8.0)))))


def _pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid ``[L0, ..., L_{levels-1}, G_levels]`` (finest first, residual last).

    Works for any size: each ``pyrDown`` gets ``dstsize=((w+1)//2, (h+1)//2)`` and each
    ``pyrUp`` the exact size of the finer level.
    """
    pyr: list[np.ndarray] = []
    cur = img
    for _ in range(levels):
        h, w = cur.shape
        down = cv2.pyrDown(cur, dstsize=((w + 1) // 2, (h + 1) // 2))
        pyr.append(cur - cv2.pyrUp(down, dstsize=(w, h)))
        cur = down
    pyr.append(cur)
    return pyr


def _collapse(pyr: list[np.ndarray]) -> np.ndarray:
    """Invert :func:`_pyramid`: upsample the residual and add the details back, coarse to fine."""
    cur = pyr[-1]
    for lap in reversed(pyr[:-1]):
        h, w = lap.shape
        cur = cv2.pyrUp(cur, dstsize=(w, h)) + lap
    return cur


def _select_details(la: np.ndarray, lb: np.ndarray, window: int) -> np.ndarray:
    """Max-activity selection of two detail bands of equal shape.

    Activity is ``|L|`` averaged over a ``window x window`` box (``window <= 1``: plain max-abs),
    which keeps the choice consistent between neighbouring pixels.
    """
    act_a, act_b = np.abs(la), np.abs(lb)
    if window > 1:
        act_a = cv2.blur(act_a, (window, window), borderType=cv2.BORDER_REFLECT)
        act_b = cv2.blur(act_b, (window, window), borderType=cv2.BORDER_REFLECT)
    return np.where(act_a >= act_b, la, lb)


def laplacian_pyramid(
    a: np.ndarray, b: np.ndarray, levels: int | None = None, window: int = 3
) -> np.ndarray:
    """Laplacian-pyramid fusion with max-activity detail selection.

    Args:
        a: ``(H, W)`` float image in ``[0, 1]``; any ``H, W >= 1`` (odd sizes included).
        b: ``(H, W)`` float image in ``[0, 1]``.
        levels: number of detail levels; ``None`` picks :func:`default_levels` from the size.
        window: side of the box over which ``|L|`` is averaged before choosing a coefficient
            (a small consistency window); ``1`` gives plain per-pixel max-abs selection.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``.

    Raises:
        InputError: if the inputs are not 2-D or differ in shape.
        ValueError: if ``levels`` is smaller than 1.
    """
    a, b = _check_pair(a, b)
    if levels is None:
        levels = default_levels(a.shape)
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}.")
    pa, pb = _pyramid(a, levels), _pyramid(b, levels)
    fused = [_select_details(la, lb, window) for la, lb in zip(pa[:-1], pb[:-1])]
    fused.append(0.5 * (pa[-1] + pb[-1]))
    return _finish(_collapse(fused))


def _to_u8_rgb(x: np.ndarray) -> np.ndarray:
    """``(H, W)`` float in ``[0, 1]`` -> ``(H, W, 3)`` uint8 with the channel replicated."""
    u8 = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(u8[:, :, None], 3, axis=2)


def mertens(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exposure fusion (Mertens et al. 2007) of an under- and an over-exposed image.

    OpenCV's ``MergeMertens`` expects 8-bit 3-channel images, so the luminance is quantised to
    8 bits and replicated to three identical channels; the first channel of the result is
    returned. Because the channels are identical the saturation term is meaningless (it would be
    zero everywhere and reduce the method to an average), so it is switched off
    (``saturation_weight=0``); contrast and well-exposedness weights are 1 as in the paper.

    Args:
        a: ``(H, W)`` float image in ``[0, 1]`` (order of ``a``/``b`` does not matter).
        b: ``(H, W)`` float image in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]`` (the multiresolution blend can overshoot slightly; it is
        clipped).
    """
    a, b = _check_pair(a, b)
    merge = cv2.createMergeMertens(1.0, 0.0, 1.0)
    out = merge.process([_to_u8_rgb(a), _to_u8_rgb(b)])
    return _finish(out[:, :, 0])


BASELINES: dict[str, BaselineFn] = {
    "average": average,
    "laplacian": laplacian_pyramid,
    "mertens": mertens,
}
"""Baseline methods by name; every value maps ``(a, b)`` -> fused, all ``(H, W)`` float32 in [0, 1]."""


def fuse_baseline(name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fuse two single-channel images with the baseline called ``name``.

    Args:
        name: a key of :data:`BASELINES` (``"average"``, ``"laplacian"`` or ``"mertens"``).
        a: ``(H, W)`` float image in ``[0, 1]``.
        b: ``(H, W)`` float image in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``.

    Raises:
        ValueError: if ``name`` is not a known baseline.
        InputError: if the inputs are not 2-D or differ in shape.
    """
    try:
        fn = BASELINES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(BASELINES))
        raise ValueError(f"Unknown baseline {name!r}; choose one of: {known}.") from None
    return fn(a, b)
