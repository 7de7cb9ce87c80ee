"""Planar transforms between two images: the :class:`Transform` record, least-squares fits, sanity checks.

Convention used everywhere in the engine: a transform's ``matrix`` is a 3×3 float64 homography that maps
**moving-image pixel coordinates to reference-image pixel coordinates**, ``(x_ref, y_ref, 1) ~ M @ (x, y, 1)``,
with x to the right, y down and (0, 0) the centre of the top-left pixel (OpenCV's convention). So
``cv2.warpPerspective(moving, M, (W_ref, H_ref))`` puts the moving image onto the reference grid.

Models (degrees of freedom): ``translation`` (2), ``euclidean`` (3: rotation + translation, no scale),
``affine`` (6), ``homography`` (8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refusion_core.errors import RefusionError

MODELS = ("homography", "affine", "euclidean", "translation")
MIN_POINTS = {"translation": 1, "euclidean": 2, "affine": 3, "homography": 4}
"""The fewest point pairs that determine each model."""


class RegistrationError(RefusionError):
    """Registration failed: too few matches, no convergence, a degenerate result or bad control points."""


@dataclass
class Transform:
    """A moving -> reference mapping and how it was found.

    Attributes:
        matrix: (3, 3) float64, moving pixel coordinates -> reference pixel coordinates.
        model: one of :data:`MODELS`.
        method: ``features``, ``ecc``, ``ecc-edges``, ``points`` or ``identity``.
        inliers: feature matches consistent with the model (``features``), or control points (``points``).
        matches: feature matches tried (after the ratio test), or None.
        correlation: ECC correlation coefficient in [-1, 1] at full resolution (``ecc*``), or None.
        extra: anything else a method reports (e.g. the detector, pyramid levels).
    """

    matrix: np.ndarray
    model: str = "homography"
    method: str = "identity"
    inliers: int | None = None
    matches: int | None = None
    correlation: float | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def identity(cls, model: str = "homography") -> "Transform":
        return cls(np.eye(3), model, "identity")

    def to_dict(self) -> dict:
        """JSON-ready dict (the matrix as nested lists, row-major)."""
        return {"matrix": np.asarray(self.matrix, float).tolist(), "model": self.model, "method": self.method,
                "inliers": self.inliers, "matches": self.matches, "correlation": self.correlation, **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "Transform":
        known = {"matrix", "model", "method", "inliers", "matches", "correlation"}
        return cls(np.asarray(d["matrix"], np.float64).reshape(3, 3), d.get("model", "homography"),
                   d.get("method", "identity"), d.get("inliers"), d.get("matches"), d.get("correlation"),
                   {k: v for k, v in d.items() if k not in known})

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) moving points to (N, 2) reference points."""
        return apply_matrix(self.matrix, points)


def apply_matrix(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 3×3 homography -> (N, 2) float64."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    q = np.c_[p, np.ones(len(p))] @ np.asarray(m, np.float64).T
    return q[:, :2] / q[:, 2:3]


def check_model(model: str) -> str:
    if model not in MODELS:
        raise RegistrationError(f"Unknown transform model {model!r}; use one of {', '.join(MODELS)}")
    return model


def fit_points(model: str, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 3×3 matrix of ``model`` mapping (N, 2) ``src`` onto (N, 2) ``dst``.

    Exact when N equals :data:`MIN_POINTS` (3 pairs for affine, as ``cv2.getAffineTransform``; 4 for a
    homography, as ``cv2.getPerspectiveTransform``), least squares when there are more. Euclidean is the
    Kabsch/Umeyama solution without scale; the homography a normalised DLT (Hartley) in float64.
    Raises RegistrationError for too few or degenerate points.
    """
    src, dst = np.asarray(src, np.float64).reshape(-1, 2), np.asarray(dst, np.float64).reshape(-1, 2)
    need = MIN_POINTS[check_model(model)]
    if len(src) != len(dst) or len(src) < need:
        raise RegistrationError(f"A {model} needs at least {need} point pairs, got {min(len(src), len(dst))}")
    m = np.eye(3)
    if model == "translation":
        m[:2, 2] = (dst - src).mean(0)
    elif model == "euclidean":
        m[:2] = _rigid(src, dst)
    elif model == "affine":
        m[:2] = _affine(src, dst)
    else:
        m = _homography(src, dst)
    return m


def _rank(p: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(p - p.mean(0), tol=1e-6 * max(1.0, np.abs(p).max())))


def _normaliser(p: np.ndarray) -> np.ndarray:
    """Hartley's normalisation: centroid to the origin, mean distance sqrt(2)."""
    c = p.mean(0)
    d = np.mean(np.linalg.norm(p - c, axis=1)) or 1.0
    s = np.sqrt(2) / d
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Normalised DLT in float64: exact for 4 pairs, algebraic least squares for more."""
    if _rank(src) < 2 or _rank(dst) < 2:
        raise RegistrationError("The control points are degenerate (collinear or repeated); "
                                "pick points spread over the image")
    ts, td = _normaliser(src), _normaliser(dst)
    s, d = apply_matrix(ts, src), apply_matrix(td, dst)
    rows = []
    for (x, y), (u, v) in zip(s, d):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    h = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 3)
    m = np.linalg.inv(td) @ h @ ts
    if abs(m[2, 2]) < 1e-12:
        raise RegistrationError("The control points do not determine a homography; pick points spread "
                                "over the image")
    return m / m[2, 2]


def _rigid(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    cs, cd = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((src - cs).T @ (dst - cd))
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    r = vt.T @ np.diag([1.0, d]) @ u.T
    return np.c_[r, cd - r @ cs]


def _affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    if _rank(src) < 2:
        raise RegistrationError("The control points are collinear; an affine transform needs points that "
                                "are not all on one line")
    a = np.c_[src, np.ones(len(src))]
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)  # (3, 2)
    return sol.T


def check_transform(m: np.ndarray, moving_shape: tuple[int, ...], names: tuple[str, str]) -> np.ndarray:
    """Raise RegistrationError unless ``m`` maps the moving image to a sane, unfolded quadrilateral.

    Sane: finite; all four corners in front of the camera (positive w); the quadrilateral convex with the
    same orientation as the image (no mirror, no fold); its area between 1/25 and 25 times the image's.
    """
    h, w = moving_shape[:2]
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    bad = f"The transform found between {names[0]} and {names[1]} is degenerate; registration failed"
    if not np.all(np.isfinite(m)):
        raise RegistrationError(bad)
    wcoord = np.c_[corners, np.ones(4)] @ m[2]
    if np.any(wcoord <= 0):
        raise RegistrationError(bad)
    q = apply_matrix(m, corners)
    edges = np.roll(q, -1, axis=0) - q
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    area = 0.5 * float(np.sum(q[:, 0] * np.roll(q[:, 1], -1) - np.roll(q[:, 0], -1) * q[:, 1]))
    ratio = area / max((w - 1) * (h - 1), 1)
    if np.any(cross <= 0) or not 1 / 25 < ratio < 25:
        raise RegistrationError(bad + " (the image would be mirrored, folded or scaled out of proportion)")
    return m
