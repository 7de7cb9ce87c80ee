"""``transforms.json``: the report of a registration, written by ``refusion align`` and the app's Align dialog."""

from __future__ import annotations

import json
from pathlib import Path

from refusion_core.io.images import atomic_write_bytes

TRANSFORMS_FILE = "transforms.json"


def write_transforms_report(out: Path, ref: Path, moving: list[Path], model: str, res, outputs: list[Path],
                            reference_written: bool) -> Path:
    """``out/transforms.json``: the moving -> reference matrices of an :class:`AlignedStack` ``res`` (used by
    ``refusion align`` and the app's Align dialog, so both write the same report)."""
    h, w = res.reference.shape[:2] if res.box is None else (res.box[3], res.box[2])
    report = {
        "reference": ref.name,
        "reference_output": outputs[0].name if reference_written else None,
        "convention": "matrix maps moving pixel coordinates (x right, y down, pixel centres at integers) "
                      "to reference pixel coordinates of the uncropped reference",
        "model": model,
        "crop": None if res.box is None else dict(zip(("x", "y", "width", "height"), res.box)),
        "output_size": [w, h],
        "frames": [{"input": p.name, "output": o.name, **t.to_dict()}
                   for p, o, t in zip(moving, outputs[1:], res.transforms)],
    }
    atomic_write_bytes(out / TRANSFORMS_FILE, json.dumps(report, indent=1).encode())
    return out / TRANSFORMS_FILE
