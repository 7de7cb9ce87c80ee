"""A :class:`Result` (one fused image) and making one from a model or a classical method (runs in workers).

Used by the fuse action, the comparison's second result and the batch export alike, so a result
and its sidecar always come from the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from app.core import engine
from app.core.catalog import ModelCatalog, ModelEntry
from app.core.engine import WeightsError
from app.core.methods import MethodKey


@dataclass
class Result:
    """One fused image shown in the comparison area.

    ``image`` is grey ``(H, W)`` or RGB ``(H, W, 3)``, uint8/uint16 as the engine returns it for models
    and classical methods alike; ``y`` its luminance, float32 ``(H, W)`` in [0, 1]; ``maps`` the weight maps
    ``wa, wb, va, vb`` (float32 in [0, 1]) when the method has them; ``source`` what made it
    (model label, path, sha256, kind), written into export sidecars.
    """

    image: np.ndarray
    y: np.ndarray
    label: str
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def is_stack(self) -> bool:
        """A stack fused as a tree of pairs (no maps, no metrics)."""
        return "stack" in self.source


def compare_choices(catalog: ModelCatalog, task: str, current_model: MethodKey) -> list[tuple[MethodKey, str]]:
    """``(key, label)`` of everything the second panel can show: the baselines, then the models that can fuse
    except the current one."""
    out = [(MethodKey.baseline(n), f"Classical: {MethodKey.baseline(n).label}") for n in engine.baseline_names()]
    out += [(e.key, f"Model: {e.label}") for e in catalog.entries(task) if e.can_fuse and e.key != current_model]
    return out


def find_model(key: MethodKey, catalog: ModelCatalog, task: str) -> ModelEntry:
    entry = catalog.get(key, task)
    if entry is None:
        raise WeightsError("That model is no longer available (was its file moved?); choose another one.")
    return entry


def resolve_bundle(entry: ModelEntry, catalog: ModelCatalog, task: str):  # noqa: ANN201 - ModelBundle
    if entry.kind == "scratch":
        raise WeightsError("The new model has not been trained yet: train it first (Train in the toolbar) "
                           "or choose a trained model in the model box.")
    if entry.kind == "session":
        bundle = catalog.session_bundle(entry.key)
        if bundle is None:
            raise WeightsError("That fine-tuned model is no longer in memory; choose another model.")
        return bundle
    if entry.kind == "default" and not engine.default_weights(task).exists():
        raise WeightsError(
            f"The default weights for the {task} task are not installed. Import a released checkpoint "
            "(Model ▸ Import released checkpoint…), choose one of your models, or train a new model from scratch."
        )
    return engine.load_bundle(entry.path, task)


def describe_bundle(entry: ModelEntry, bundle, device: str) -> dict:  # noqa: ANN001
    meta = dict(getattr(bundle, "meta", {}) or {})
    note = ("Fine-tuned in this session and not saved: save it (Model > Save fine-tuned model) to redo this "
            "result; meta.settings has its training settings." if entry.kind == "session" else None)
    return {
        "note": note,
        "kind": entry.kind,
        "label": entry.label,
        "key": str(entry.key),
        "path": str(entry.path) if entry.path else None,
        "sha256": getattr(bundle, "sha256", None),
        "device": device,
        "meta": {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, type(None), dict, list))},
    }


def model_result(entry: ModelEntry, bundle, a: np.ndarray, b: np.ndarray, device: str, progress=None) -> Result:  # noqa: ANN001
    start = time.perf_counter()
    res, used = engine.fuse(bundle, a, b, device=device, progress=progress)
    source = describe_bundle(entry, bundle, used)
    source["seconds"] = round(time.perf_counter() - start, 3)
    return Result(res.fused, res.fused_y, entry.label, dict(res.maps or {}), source)


def baseline_source(key: MethodKey) -> dict:
    return {"kind": "baseline", "label": key.label, "key": str(key), "method": key.name, "sha256": None}


def baseline_result(key: MethodKey, a: np.ndarray, b: np.ndarray) -> Result:
    image, y = engine.fuse_baseline(key.name, [a, b])
    return Result(image, y, key.label, {}, baseline_source(key))


def with_metrics(result: Result, a: np.ndarray, b: np.ndarray, task: str) -> Result:
    result.metrics = engine.compute_metrics(a, b, result.image, task)
    return result


def make_stack_result(key: MethodKey, catalog: ModelCatalog, task: str, device: str, frames: list[np.ndarray],
                      progress=None) -> Result:  # noqa: ANN001
    """A stack of N >= 3 frames fused as a balanced tree of pairs (``refusion_core.fusing.stack``): no weight
    maps (P's maps weight one pair's loss) and no metrics (the fusion metrics are defined for pairs)."""
    start = time.perf_counter()
    n = len(frames)
    if key.is_baseline:
        image, y = engine.fuse_baseline(key.name, frames, progress)
        label, source = key.label, baseline_source(key)
    else:
        entry = find_model(key, catalog, task)
        bundle = resolve_bundle(entry, catalog, task)
        res, used = engine.fuse_stack(bundle, frames, device, progress)
        image, y, label, source = res.fused, res.fused_y, entry.label, describe_bundle(entry, bundle, used)
    source["stack"] = {"frames": n, "strategy": "tree of pairwise fusions"}
    source["seconds"] = round(time.perf_counter() - start, 3)
    return Result(image, y, f"{label} · stack of {n}", {}, source)


def make_result(key: MethodKey, catalog: ModelCatalog, task: str, device: str, a: np.ndarray, b: np.ndarray,
                progress=None) -> Result:  # noqa: ANN001
    """The result of the method ``key`` (a baseline, or a model of the catalog) on the pair ``a, b``."""
    if key.is_baseline:
        return baseline_result(key, a, b)
    entry = find_model(key, catalog, task)
    bundle = resolve_bundle(entry, catalog, task)
    return model_result(entry, bundle, a, b, device, progress)
