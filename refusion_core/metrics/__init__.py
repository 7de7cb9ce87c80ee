"""Objective image-fusion metrics, matched to the MEFB / VIFB benchmark code.

Conventions (all metrics):

* Every metric is a function ``name(a, b, f) -> float`` of the two sources ``a``, ``b`` and the fused
  image ``f``: 2-D arrays of one shape, float64-convertible, on a **0..255 scale**. Colour images
  are evaluated on their luminance ``Y = 0.299 R + 0.587 G + 0.114 B``; use :func:`to_gray255` to
  get the Y channel on the 0..255 scale from uint8 / uint16 / float images. Metrics that need only
  the fused image (EN, SD, SF, AG, EI) keep the same signature.
* The values reproduce the benchmark's MATLAB code as run under GNU Octave (see
  ``shared/reference/metrics/README.md``) including its quirks: MATLAB rounding (half away from
  zero), ``normalize1`` min-max stretching for Q_CB / Q_CV / Q_NCIE / NMI / TE, 256-bin histograms
  with log2, zero-padded Sobel filtering in Qabf, and so on. Each function's docstring gives its
  formula and conventions.

Registry: :data:`METRICS` (the metrics the app reports), :data:`EXTRA_METRICS` (further
benchmark metrics), :data:`PAPER_METRICS` (the six metrics the ReFusion paper reports per task) and
:func:`compute_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from refusion_core.metrics._common import check_triple, matlab_round, normalize1, to_gray255
from refusion_core.metrics.basic import ag, ce, ei, en, psnr, scd, sd, sf
from refusion_core.metrics.gradient import qabf
from refusion_core.metrics.information import mi, mi_vifb_nats, nmi, q_ncie, te
from refusion_core.metrics.mef import mef_ms_ssim, mef_ssim
from refusion_core.metrics.perceptual import q_cb, q_cv, vif
from refusion_core.metrics.structural import qw, ssim, ssim_vifb_sum

__all__ = [
    "MetricInfo",
    "METRICS",
    "EXTRA_METRICS",
    "PAPER_METRICS",
    "DEFAULT_METRICS",
    "compute_metrics",
    "to_gray255",
    "matlab_round",
    "normalize1",
    "en",
    "sd",
    "sf",
    "ag",
    "ei",
    "psnr",
    "ce",
    "scd",
    "ssim",
    "ssim_vifb_sum",
    "qw",
    "qabf",
    "mi",
    "mi_vifb_nats",
    "nmi",
    "q_ncie",
    "te",
    "q_cb",
    "q_cv",
    "vif",
    "mef_ssim",
    "mef_ms_ssim",
]


@dataclass(frozen=True)
class MetricInfo:
    """One metric: display ``name``, ``func(a, b, f) -> float``, its direction and a one-line description."""

    name: str
    func: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    higher_is_better: bool
    description: str


def _info(name, func, higher, description):
    return name, MetricInfo(name, func, higher, description)


METRICS: dict[str, MetricInfo] = dict(
    [
        _info("EN", en, True, "Entropy of the fused image (bits, 256-bin histogram)."),
        _info("SD", sd, True, "Standard deviation of the fused image (contrast)."),
        _info("SF", sf, True, "Spatial frequency of the fused image (detail activity)."),
        _info("AG", ag, True, "Average gradient of the fused image (sharpness)."),
        _info("SCD", scd, True, "Sum of correlations of differences: corr(A, F-B) + corr(B, F-A)."),
        _info("SSIM", ssim, True, "Mean structural similarity of the fused image to the two sources."),
        _info("VIF", vif, True, "Visual information fidelity for fusion (Han et al.), 4 scales."),
        _info("Qabf", qabf, True, "Edge information transferred from the sources (Xydeas-Petrovic Q^AB/F)."),
        _info("MI", mi, True, "Mutual information MI(A,F) + MI(B,F) in bits."),
        _info("Q_CB", q_cb, True, "Chen-Blum perceptual quality (contrast preservation with a CSF)."),
        _info("Q_NCIE", q_ncie, True, "Nonlinear correlation information entropy (Wang et al.)."),
        _info("MEF-SSIM", mef_ssim, True, "Multi-exposure fusion SSIM (Ma et al.), 3 scales; for exposure stacks."),
    ]
)
"""The metrics the app reports, keyed by display name."""

EXTRA_METRICS: dict[str, MetricInfo] = dict(
    [
        _info("EI", ei, True, "Edge intensity: mean Sobel magnitude of the fused image."),
        _info("PSNR", psnr, True, "MEFB's non-standard PSNR (L2 norm / pixel count as 'mse')."),
        _info("CE", ce, False, "Cross entropy (KL divergence) of the sources' histograms to the fused one."),
        _info("NMI", nmi, True, "Normalised mutual information (Hossny), range 0..2."),
        _info("TE", te, True, "Tsallis-entropy mutual information, q = 1.85, as MEFB computes it."),
        _info("Q_CV", q_cv, False, "Chen-Varshney HVS-weighted distortion."),
        _info("Qw", qw, True, "Piella-Heijmans edge-dependent weighted fusion quality (MEFB variant)."),
        _info("MI_VIFB", mi_vifb_nats, True, "VIFB's mutual information: min-max quantised, in nats."),
        _info("SSIM_VIFB", ssim_vifb_sum, True, "VIFB's SSIM: SSIM(A,F) + SSIM(B,F), range up to 2."),
    ]
)
"""Further benchmark metrics, accepted by :func:`compute_metrics` when named."""

PAPER_METRICS: dict[str, list[str]] = {
    "ivif": ["EN", "SD", "SF", "AG", "SCD", "SSIM"],
    "mif": ["EN", "SD", "SF", "AG", "SCD", "SSIM"],
    "mfif": ["EN", "SD", "SF", "VIF", "Q_CB", "Q_NCIE"],
    "meif": ["EN", "SD", "SF", "VIF", "Q_CB", "Q_NCIE"],
}
"""The six metrics the ReFusion paper reports for each task."""

DEFAULT_METRICS: tuple[str, ...] = tuple(name for name in METRICS if name != "MEF-SSIM")
"""What :func:`compute_metrics` computes when no names are given (MEF-SSIM only on request)."""


def _lookup(name: str) -> MetricInfo:
    info = METRICS.get(name) or EXTRA_METRICS.get(name)
    if info is None:
        known = ", ".join([*METRICS, *EXTRA_METRICS])
        raise KeyError(f"Unknown metric {name!r}; known metrics: {known}.")
    return info


def compute_metrics(a, b, f, names: Iterable[str] | None = None) -> dict[str, float]:
    """Compute several metrics of one fusion result; returns ``{name: value}`` in the order asked.

    ``a``, ``b``, ``f``: 2-D arrays of one shape on a 0..255 scale (see :func:`to_gray255`).
    ``names``: display names from :data:`METRICS` or :data:`EXTRA_METRICS`; default
    :data:`DEFAULT_METRICS` (all of :data:`METRICS` except MEF-SSIM, which is meant for exposure
    stacks and is computed only when asked for). Unknown names raise ``KeyError``.
    """
    selected = DEFAULT_METRICS if names is None else tuple(names)
    infos = [_lookup(n) for n in selected]
    a, b, f = check_triple(a, b, f)
    return {info.name: float(info.func(a, b, f)) for info in infos}
