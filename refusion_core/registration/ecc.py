"""Area-based registration with ECC (Evangelidis & Psarakis 2008, ``cv2.findTransformECC``), coarse to fine.

Two signals: ``ecc`` uses the intensities (photographs of the same modality); ``ecc-edges`` uses normalised
gradient-magnitude maps (:func:`edge_map`), for pairs whose intensities are unrelated or inverted
(infrared–visible, MRI–CT) but whose edges sit in the same places.

Pyramid: ``cv2.pyrDown`` halvings until the short side would drop below :data:`MIN_SIDE` (at most
:data:`MAX_LEVELS`); ECC runs from the coarsest level down to the first level no longer than
:data:`MAX_SIDE` px (full resolution for images up to 2048 px). Coarse pixel i lies at fine pixel 2i,
so a warp moves down a level as ``S W S⁻¹`` with ``S = diag(2, 2, 1)``. ECC's warp maps reference -> moving coordinates; the returned
:class:`Transform` holds its inverse (moving -> reference, the engine's convention). A level that does
not converge keeps the previous estimate, except the finest, which must converge; the final correlation
must reach ``min_correlation`` (defaults: 0.5 for intensities, 0.3 for edges, which correlate less).

No-data areas (e.g. the black corners of an already warped frame) and the image borders (where blurs and
gradients see reflected, made-up content, different in the two images) would pull ECC towards their
artificial edges, so pixels marked invalid with a small margin (:data:`NODATA_MARGIN`) and a band along the
border as wide as the smoothing reaches (:data:`MARGIN`) are left out of the correlation
(``cv2.findTransformECCWithMask`` where OpenCV has it, 4.12+; otherwise only the moving image's mask).
"""

from __future__ import annotations

import cv2
import numpy as np

from refusion_core.registration.transforms import RegistrationError, Transform

MIN_SIDE = 48
MAX_SIDE = 2048
MAX_LEVELS = 8
MIN_CORRELATION = {"ecc": 0.5, "ecc-edges": 0.3}
MARGIN = {"ecc": 3, "ecc-edges": 8}
"""Pixels (at each pyramid level) left out along the image border."""
NODATA_MARGIN = 2
"""Pixels (at each level) left out around no-data areas: enough for the fill's edge, small enough to keep
the real outline next to a black background (a head on a medical image's zero background: with 8 px the
MRI–CT sample pair no longer registered, with 2 px it lands within 0.6–0.9 px of the unwarped pair)."""
_MOTION = {"translation": cv2.MOTION_TRANSLATION, "euclidean": cv2.MOTION_EUCLIDEAN,
           "affine": cv2.MOTION_AFFINE, "homography": cv2.MOTION_HOMOGRAPHY}


def edge_map(y: np.ndarray, sigma: float = 1.0, local: float = 6.0) -> np.ndarray:
    """Local-contrast-normalised gradient magnitude of a float32 (H, W) image (float32, (H, W), mean 1).

    Blur by ``sigma`` px, Sobel gradient magnitude ``m``, divide by its local level (``m`` blurred by
    ``local`` px, plus 10 % of the global mean so that flat noise is not amplified), blur by ``sigma``
    again, divide by the mean. The normalisation gives an edge the same weight in both modalities even
    when one shows it with much more contrast (infrared vs visible), which would otherwise pull the
    blurred edges of neighbouring structures towards the stronger one. Small blurs keep the estimate
    sharp (0.2–0.4 px on the synthetic IR/VIS test instead of 1–2.5 px with 1.5 + 3 px blurs); the
    pyramid provides the capture range.
    """
    g = cv2.GaussianBlur(y, (0, 0), sigma)
    m = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    m = m / (cv2.GaussianBlur(m, (0, 0), local) + 0.1 * float(m.mean()) + 1e-12)
    m = cv2.GaussianBlur(m, (0, 0), sigma)
    return (m / max(float(m.mean()), 1e-12)).astype(np.float32)


def pyramid(y: np.ndarray, levels: int) -> list[np.ndarray]:
    """[finest, ..., coarsest], ``levels + 1`` float32 images."""
    pyr = [y]
    for _ in range(levels):
        pyr.append(cv2.pyrDown(pyr[-1]))
    return pyr


def n_levels(*shapes: tuple[int, ...]) -> int:
    short = min(min(s[:2]) for s in shapes)
    return int(max(0, min(MAX_LEVELS, np.floor(np.log2(max(short, 1) / MIN_SIDE)))))


def finest_level(*shapes: tuple[int, ...]) -> int:
    """The first pyramid level whose long side is at most :data:`MAX_SIDE` (ECC stops there: its cost grows
    with the pixel count, and at 2048 px the estimate is already a small fraction of a pixel at full size)."""
    long = max(max(s[:2]) for s in shapes)
    return int(max(0, np.ceil(np.log2(long / MAX_SIDE))))


def _rescale(w: np.ndarray, k: int) -> np.ndarray:
    """A warp moved ``k`` levels finer (k > 0) or coarser (k < 0): S^k W S^-k with S = diag(2, 2, 1)."""
    s = np.diag([2.0 ** k, 2.0 ** k, 1.0])
    return s @ w @ np.linalg.inv(s)


def mask_pyramid(shape: tuple[int, ...], nodata: np.ndarray | None, levels: int, margin: int) -> list[np.ndarray]:
    """uint8 validity masks (255 = use) per level: no-data blocks dilated by :data:`NODATA_MARGIN` px, and a
    band of ``margin`` px along the image border (where the smoothing sees reflected, made-up content)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * NODATA_MARGIN + 1, 2 * NODATA_MARGIN + 1))
    cur = np.zeros(shape[:2], np.uint8) if nodata is None else nodata.astype(np.uint8) * 255
    out = []
    for lvl in range(levels + 1):
        if lvl:
            h, w = cur.shape
            cur = cv2.resize(cur, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
            cur = np.where(cur > 0, 255, 0).astype(np.uint8)  # any no-data in the block
        valid = 255 - cv2.dilate(cur, kernel) if cur.any() else np.full_like(cur, 255)
        m = min(margin, (min(valid.shape) - 1) // 4)
        if m > 0:
            valid[:m], valid[-m:], valid[:, :m], valid[:, -m:] = 0, 0, 0, 0
        out.append(valid)
    return out


def ecc_transform(ref_y: np.ndarray, mov_y: np.ndarray, model: str, names: tuple[str, str],
                  edges: bool = False, init: np.ndarray | None = None,
                  min_correlation: float | None = None, ref_nodata: np.ndarray | None = None,
                  mov_nodata: np.ndarray | None = None) -> Transform:
    """Estimate the moving -> reference transform by pyramidal ECC.

    Args:
        ref_y, mov_y: float32 (H, W) luminance in [0, 1] (sizes may differ).
        model: one of ``refusion_core.registration.transforms.MODELS``.
        names: the two images' names for error messages.
        edges: align :func:`edge_map` s instead of intensities (``ecc-edges``).
        init: optional 3×3 moving -> reference starting guess (e.g. from control points); identity if None.
        min_correlation: fail below this final correlation (None: :data:`MIN_CORRELATION`).
        ref_nodata, mov_nodata: optional (H, W) bool masks of pixels without data.
    """
    method = "ecc-edges" if edges else "ecc"
    levels = n_levels(ref_y.shape, mov_y.shape)
    top = min(levels, finest_level(ref_y.shape, mov_y.shape))
    pr, pm = pyramid(ref_y, levels), pyramid(mov_y, levels)
    if edges:
        pr, pm = ([edge_map(x) if i >= top else None for i, x in enumerate(p)] for p in (pr, pm))
    mr = mask_pyramid(ref_y.shape, ref_nodata, levels, MARGIN[method])
    mm = mask_pyramid(mov_y.shape, mov_nodata, levels, MARGIN[method])
    s = np.diag([2.0, 2.0, 1.0])
    w = np.linalg.inv(init) if init is not None else np.eye(3)  # reference -> moving
    w = _rescale(w, -levels)
    cc = None
    for lvl in range(levels, top - 1, -1):
        w, cc = _ecc_level(pr[lvl], pm[lvl], (mr[lvl], mm[lvl]), w, model, lvl == top, names)
        if lvl > top:
            w = s @ w @ np.linalg.inv(s)
    w = _rescale(w, top)
    threshold = MIN_CORRELATION[method] if min_correlation is None else min_correlation
    if cc is None or cc < threshold:
        raise RegistrationError(f"The ECC correlation between {names[0]} and {names[1]} is only {cc or 0:.2f} "
                                f"(at least {threshold} needed), too weak to register them; try another "
                                "--method or control points")
    m = np.linalg.inv(w)
    return Transform(m / m[2, 2], model, method, correlation=float(cc),
                     extra={"levels": levels + 1 - top, "finest_scale": 2.0 ** -top})


def _ecc_level(ref: np.ndarray, mov: np.ndarray, masks: tuple, w: np.ndarray, model: str, finest: bool,
               names: tuple[str, str]) -> tuple[np.ndarray, float | None]:
    """One ECC run; returns the refined 3×3 reference -> moving warp and its correlation."""
    warp = (w if model == "homography" else w[:2]).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100 if finest else 200, 1e-6)
    ref_mask, mov_mask = masks
    blur = 1 if finest else 5
    try:
        if hasattr(cv2, "findTransformECCWithMask"):
            cc, warp = cv2.findTransformECCWithMask(ref, mov, ref_mask, mov_mask, warp, _MOTION[model],
                                                    criteria, blur)
        else:
            cc, warp = cv2.findTransformECC(ref, mov, warp, _MOTION[model], criteria, mov_mask, blur)
    except cv2.error:
        if finest:
            raise RegistrationError(f"ECC did not converge aligning {names[1]} to {names[0]}; the images may "
                                    "not overlap enough or differ too much (try --method features, "
                                    "ecc-edges or control points)") from None
        return w, None
    out = np.eye(3)
    out[: warp.shape[0]] = warp
    return out, float(cc)
