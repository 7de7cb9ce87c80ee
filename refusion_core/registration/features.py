"""Feature-based registration: SIFT (or ORB) keypoints, Lowe's ratio test, robust model fit.

Choices: SIFT by default (in OpenCV's main module since 4.4; the most accurate of the free detectors and
sub-pixel, which the < 1 px target needs); ORB as the fast alternative (binary, Hamming distance).
Images larger than :data:`MAX_SIDE` on their long side are detected at a reduced scale and the keypoints
scaled back. Matches: 2-nearest neighbours, ratio 0.75. Robust fit: MAGSAC++ (``cv2.USAC_MAGSAC``) for
homographies, RANSAC ``estimateAffine2D`` / ``estimateAffinePartial2D`` for affine / euclidean, then a
least-squares refit (:func:`refusion_core.registration.transforms.fit_points`) on the inliers; translation takes the
matches within 3 px of the median displacement.
"""

from __future__ import annotations

import cv2
import numpy as np

from refusion_core.registration.transforms import RegistrationError, Transform, fit_points

MAX_SIDE = 2000
RATIO = 0.75
THRESHOLD_PX = 3.0
MIN_INLIERS = {"translation": 6, "euclidean": 8, "affine": 10, "homography": 12}
"""Fewer inliers than this is treated as a failure (RANSAC can fit noise with very few)."""


def feature_transform(ref8: np.ndarray, mov8: np.ndarray, model: str, names: tuple[str, str],
                      detector: str = "sift") -> Transform:
    """Estimate the moving -> reference transform from keypoint matches.

    Args:
        ref8, mov8: uint8 (H, W) grey images (any sizes).
        model: one of ``refusion_core.registration.transforms.MODELS``.
        names: the two images' names for error messages.
        detector: ``sift`` or ``orb``.
    """
    kr, dr = _detect(ref8, detector)
    km, dm = _detect(mov8, detector)
    hint = "try --method ecc or ecc-edges, or give control points with --points"
    if dr is None or dm is None or len(kr) < 4 or len(km) < 4:
        raise RegistrationError(f"Too few features found in {names[0] if dr is None or len(kr) < 4 else names[1]}"
                                f" to register it ({hint})")
    src, dst = _match(km, dm, kr, dr, detector)
    matrix, inl = _robust_fit(model, src, dst)
    need = MIN_INLIERS[model]
    if matrix is None or inl.sum() < need:
        n = 0 if inl is None else int(inl.sum())
        raise RegistrationError(f"Only {n} of {len(src)} feature matches between {names[0]} and {names[1]} "
                                f"agree on one {model} (at least {need} needed); {hint}")
    matrix = fit_points(model, src[inl], dst[inl])
    return Transform(matrix, model, "features", int(inl.sum()), len(src), extra={"detector": detector})


def _detect(img8: np.ndarray, detector: str):
    scale = min(1.0, MAX_SIDE / max(img8.shape))
    small = img8 if scale == 1.0 else cv2.resize(img8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    det = cv2.SIFT_create(nfeatures=8000) if detector == "sift" else cv2.ORB_create(nfeatures=8000)
    kps, desc = det.detectAndCompute(small, None)
    if scale != 1.0:  # INTER_AREA by s: small pixel centre x' <-> full (x' + 0.5) / s - 0.5
        kps = [cv2.KeyPoint((k.pt[0] + 0.5) / scale - 0.5, (k.pt[1] + 0.5) / scale - 0.5, k.size / scale)
               for k in kps]
    return kps, desc


def _match(km, dm, kr, dr, detector: str) -> tuple[np.ndarray, np.ndarray]:
    norm = cv2.NORM_L2 if detector == "sift" else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(dm, dr, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    src = np.float64([km[g.queryIdx].pt for g in good]).reshape(-1, 2)
    dst = np.float64([kr[g.trainIdx].pt for g in good]).reshape(-1, 2)
    return src, dst


def _robust_fit(model: str, src: np.ndarray, dst: np.ndarray):
    """-> (3×3 matrix or None, bool inlier mask (N,))."""
    if len(src) < 4:
        return None, np.zeros(len(src), bool)
    if model == "translation":
        d = dst - src
        inl = np.linalg.norm(d - np.median(d, axis=0), axis=1) < THRESHOLD_PX
        return np.eye(3), inl
    if model == "homography":
        m, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, THRESHOLD_PX, maxIters=5000, confidence=0.999)
    else:
        fit = cv2.estimateAffine2D if model == "affine" else cv2.estimateAffinePartial2D
        m, mask = fit(src, dst, method=cv2.RANSAC, ransacReprojThreshold=THRESHOLD_PX, maxIters=5000,
                      confidence=0.999)
    if m is None or mask is None:
        return None, np.zeros(len(src), bool)
    return m, mask.ravel().astype(bool)
