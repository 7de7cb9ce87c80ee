"""Information-theoretic metrics: MI, NMI, Q_NCIE, TE and VIFB's MI in nats.

All joint statistics use 256x256 joint histograms over integer grey levels (pixel ``v`` goes to
level ``floor(v)``, clipped to 0..255). Inputs are 2-D arrays on a 0..255 scale.
Reference: MEFB ``mutual_info.m``, ``metricsNMI.m``, ``metricsQncie.m``, ``metricsTE.m`` and VIFB
``metricsMutinf.m`` under GNU Octave (``shared/reference/metrics/values.json``).
"""

from __future__ import annotations

import numpy as np

from refusion_core.metrics._common import check_triple, matlab_round, normalize1

__all__ = ["mi", "mi_vifb_nats", "nmi", "q_ncie", "te", "joint_histogram256", "mutual_information"]


def _levels(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x), 0, 255).astype(np.intp).ravel()


def joint_histogram256(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """256x256 joint probability ``p[i, j] = P(X = i, Y = j)`` over integer levels (``floor``)."""
    h = np.bincount(_levels(x) * 256 + _levels(y), minlength=256 * 256).astype(np.float64)
    return (h / x.size).reshape(256, 256)


def _h(p: np.ndarray, log) -> float:
    p = p[p > 0]
    return float(-np.sum(p * log(p)))


def _entropies(pxy: np.ndarray, log=np.log2) -> tuple[float, float, float]:
    """``(H(X), H(Y), H(X,Y))`` from a joint probability table."""
    return _h(pxy.sum(axis=1), log), _h(pxy.sum(axis=0), log), _h(pxy, log)


def mutual_information(x: np.ndarray, y: np.ndarray, log=np.log2) -> float:
    """``MI(X, Y) = H(X) + H(Y) - H(X, Y)`` from the 256x256 joint histogram (bits with log2)."""
    hx, hy, hxy = _entropies(joint_histogram256(x, y), log)
    return hx + hy - hxy


def mi(a, b, f) -> float:
    """MI, mutual information between the sources and the fused image, in bits. Higher is better.

    ``MI = MI(A, F) + MI(B, F)``, ``MI(X, F) = sum_ij p(i,j) log2(p(i,j) / (pX(i) pF(j)))``
    with a 256x256 joint histogram of the raw grey levels (no normalisation; level ``floor(v)``).
    Range 0..16. Matches ``MI_bits`` = MEFB ``mutual_info(A,F) + mutual_info(B,F)``: the usual "MI"
    of image-fusion papers and Python toolkits.
    """
    a, b, f = check_triple(a, b, f)
    return mutual_information(a, f) + mutual_information(b, f)


def _vifb_quantise(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros_like(x)
    return matlab_round(((x - lo) / (hi - lo)) * 255.0)


def mi_vifb_nats(a, b, f) -> float:
    """MI as VIFB's ``metricsMutinf.m`` computes it: in nats, after a min-max stretch. Higher is better.

    Each image is mapped from its own min..max to [0, 1] and quantised to 256 levels by rounding
    ``x * 255`` half away from zero; then ``MI(A,F) + MI(B,F)`` with natural logs
    (``MI = H(X) + H(F) - H(X,F)``). Equals ``mi`` * ln 2 only when the images span 0..255.
    """
    a, b, f = check_triple(a, b, f)
    qa, qb, qf = (_vifb_quantise(x) for x in (a, b, f))
    return mutual_information(qa, qf, np.log) + mutual_information(qb, qf, np.log)


def nmi(a, b, f) -> float:
    """NMI, Hossny et al.'s normalised mutual information. Higher is better.

    After ``normalize1`` (each image stretched to 0..255, rounded half away from zero):
    ``NMI = 2 (MI(A,F) / (H(A) + H(F)) + MI(B,F) / (H(B) + H(F)))`` with 256x256 joint histograms and
    log2. It is a sum of two normalised terms, range 0..2. Matches MEFB ``metricsNMI.m``.
    """
    a, b, f = check_triple(a, b, f)
    a, b, f = normalize1(a), normalize1(b), normalize1(f)
    total = 0.0
    for x in (a, b):
        hx, hf, hxf = _entropies(joint_histogram256(x, f))
        den = hx + hf
        total += 2.0 * (hx + hf - hxf) / den if den > 0 else 0.0
    return total


def q_ncie(a, b, f) -> float:
    """Q_NCIE, Wang et al.'s nonlinear correlation information entropy. Higher is better.

    After ``normalize1`` of each image, the nonlinear correlation coefficient of two images is
    ``NCC(X,Y) = (H(X) + H(Y) - H(X,Y)) / log2(256)`` (256x256 joint histogram, log2). With
    ``R = [[1, NCC_AB, NCC_AF], [NCC_AB, 1, NCC_BF], [NCC_AF, NCC_BF, 1]]`` and its eigenvalues
    ``r_i``, ``Q_NCIE = 1 + sum_i (r_i / 3) log_256(r_i / 3)`` (terms with ``r_i <= 0`` are skipped).
    Range 0..1. Matches MEFB ``metricsQncie.m``.
    """
    a, b, f = check_triple(a, b, f)
    a, b, f = normalize1(a), normalize1(b), normalize1(f)

    def ncc(x, y):
        return mutual_information(x, y) / np.log2(256.0)

    nab, naf, nbf = ncc(a, b), ncc(a, f), ncc(b, f)
    r = np.array([[1.0, nab, naf], [nab, 1.0, nbf], [naf, nbf, 1.0]])
    lam = np.linalg.eigvalsh(r) / 3.0
    lam = lam[lam > 0]
    return float(1.0 + np.sum(lam * np.log(lam) / np.log(256.0)))


def te(a, b, f, q: float = 1.85) -> float:
    """TE, Cvejic et al.'s Tsallis-entropy mutual information, q = 1.85, as MEFB computes it. Higher is better.

    After ``normalize1``: ``T(X, F) = (1 - sum_ij h(i,j)^q / (P_F(i) P_X(j))^(q-1)) / (1 - q)`` with
    ``h`` the 256x256 joint probability (``i`` the source level, ``j`` the fused level) and
    ``TE = T(A,F) + T(B,F)``. QUIRK reproduced from MEFB ``metricsTE.m``: the marginals are paired
    transposed (``P_F(i) P_X(j)`` instead of ``P_X(i) P_F(j)``), which is why values range from tens
    to hundreds of thousands. Only cells with ``h > 0`` and a non-zero denominator are summed.
    """
    a, b, f = check_triple(a, b, f)
    a, b, f = normalize1(a), normalize1(b), normalize1(f)
    total = 0.0
    for x in (a, b):
        h = joint_histogram256(x, f)
        px, pf = h.sum(axis=1), h.sum(axis=0)
        den = np.outer(pf, px)
        ok = (h > 0) & (den > 0)
        s = np.sum(h[ok] ** q / den[ok] ** (q - 1.0))
        total += (1.0 - s) / (1.0 - q)
    return float(total)
