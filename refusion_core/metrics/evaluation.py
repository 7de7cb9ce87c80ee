"""Evaluating fusion methods on a set of pairs with the metrics of :mod:`refusion_core.metrics`.

Every method goes through the same pipeline, so numbers are comparable: sources are read as they are
stored, the method fuses luminance (Y of YCrCb), chroma is fused by Eq. 15, the result is rounded to the
inputs' bit depth, and metrics are computed on Y of the sources and of that result on a 0..255 scale.
Models run with raw output (no stretching). Classical baselines (:mod:`refusion_core.fusing.baselines`) are
methods like any other.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from refusion_core.fusing.methods import FusionMethod, baseline_method, model_method  # noqa: F401 (re-exported)
from refusion_core.io.images import check_pair, read_image
from refusion_core.metrics import DEFAULT_METRICS, METRICS, PAPER_METRICS, compute_metrics, to_gray255
from refusion_core.training.data import Pair


def metric_names(task: str) -> list[str]:
    """All reported metrics; MEF-SSIM is added for multi-exposure."""
    return list(DEFAULT_METRICS) + (["MEF-SSIM"] if task == "meif" else [])


def fuse_with(method: FusionMethod, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Run a method on a stored pair; returns the result as it would be saved (uint8/uint16)."""
    return method.fuse([a, b]).fused


def evaluate(methods: list[FusionMethod], pairs: list[Pair], task: str, names: list[str] | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Per-pair metrics and means for each method. Returns a JSON-ready dict."""
    names = names or metric_names(task)
    per = {m.name: {} for m in methods}
    seconds = {m.name: 0.0 for m in methods}
    total = len(pairs) * len(methods)
    for i, (pa, pb) in enumerate(pairs):
        a, b = read_image(pa), read_image(pb)
        check_pair(a, b, (pa.name, pb.name))
        ga, gb = to_gray255(a), to_gray255(b)
        for j, m in enumerate(methods):
            t0 = time.perf_counter()
            fused = fuse_with(m, a, b)
            seconds[m.name] += time.perf_counter() - t0
            per[m.name][pa.stem] = compute_metrics(ga, gb, to_gray255(fused), names)
            if progress:
                progress(i * len(methods) + j + 1, total)
    return {
        "task": task, "metrics": names, "pairs": [pa.stem for pa, _ in pairs],
        "higher_is_better": {n: METRICS[n].higher_is_better for n in names},
        "paper_metrics": PAPER_METRICS[task],
        "methods": {m.name: {**m.info, "mean": _mean(per[m.name], names), "per_pair": per[m.name],
                             "seconds_per_pair": seconds[m.name] / max(len(pairs), 1)} for m in methods},
    }


def _mean(per_pair: dict, names: list[str]) -> dict[str, float]:
    return {n: float(np.mean([v[n] for v in per_pair.values()])) for n in names} if per_pair else {}


def markdown_table(result: dict, names: list[str] | None = None, reference: str | None = None) -> str:
    """Means as a Markdown table; the best value of each metric is bold. ``reference`` marks a row
    against which each other row's wins are counted (column "wins vs <reference>")."""
    names = names or result["metrics"]
    methods = result["methods"]
    hib = result["higher_is_better"]
    best = {n: (max if hib[n] else min)(m["mean"][n] for m in methods.values()) for n in names}
    head = ["method", *[f"{n} {'↑' if hib[n] else '↓'}" for n in names]]
    if reference:
        head.append(f"wins vs {reference}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in methods.items():
        cells = [f"**{m['mean'][n]:.4g}**" if m["mean"][n] == best[n] else f"{m['mean'][n]:.4g}" for n in names]
        if reference:
            cells.append("—" if name == reference else f"{wins(m['mean'], methods[reference]['mean'], names, hib)}/{len(names)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wins(ours: dict, ref: dict, names: list[str], hib: dict) -> int:
    """How many metrics ``ours`` is at least as good as ``ref`` on."""
    return sum((ours[n] >= ref[n]) if hib[n] else (ours[n] <= ref[n]) for n in names)
