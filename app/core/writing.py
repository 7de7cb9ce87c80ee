"""Writing results to disk (runs in a worker, no Qt): the fused image, the four maps (16-bit PNG and
a colour-mapped PNG), the metrics as CSV, and a JSON sidecar per pair that says how to redo it."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app import __version__
from app.core import engine
from app.core.pairing import Pair
from app.core.results import Result


@dataclass
class ExportOptions:
    folder: Path
    fmt: str = "png"  # png | tif
    bit_depth: int = 8  # 8 | 16
    fused: bool = True
    second: bool = False
    maps: bool = True
    metrics: bool = True
    scope: str = "current"  # current | all
    keep_exif: bool = True  # copy the EXIF of source A (orientation reset) into fused images where the format allows

    def to_dict(self) -> dict:
        d = asdict(self)
        d["folder"] = str(self.folder)
        return d


@dataclass
class ExportSummary:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    folder: Path | None = None

    def text(self) -> str:
        """What the export did, in one message: ``N files written to FOLDER``, then the items skipped and why."""
        n = len(self.written)
        lines = [f"{n} file{'s' if n != 1 else ''} written to {self.folder}"
                 + (" (cancelled before the end)" if self.cancelled else "")]
        if self.failed:
            lines.append(f"{len(self.failed)} item(s) were skipped:")
            lines += [f"• {name}: {why}" for name, why in self.failed[:10]]
            lines += ["…"] if len(self.failed) > 10 else []
        return "\n".join(lines)


def stem(pair: Pair) -> str:
    if pair.is_stack:
        name = f"{pair.a.stem}__{pair.rest[-1].stem}_stack{len(pair.paths)}"
    else:
        name = pair.a.stem if pair.a.stem == pair.b.stem else f"{pair.a.stem}__{pair.b.stem}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def pair_files(pair: Pair, opt: ExportOptions, has_maps: bool = True) -> list[Path]:
    s, d = stem(pair), opt.folder
    out = []
    if opt.fused:
        out.append(d / f"{s}_fused.{opt.fmt}")
    if opt.second:
        out.append(d / f"{s}_compare.{opt.fmt}")
    if opt.maps and has_maps:
        for m in engine.MAP_NAMES:
            out += [d / f"{s}_{m}.png", d / f"{s}_{m}_color.png"]
    out.append(d / f"{s}.refusion.json")
    return out


def metrics_file(folder: Path, task: str) -> Path:
    """One metrics CSV per task (``metrics_ivif.csv``): each task has its own paper metrics as columns."""
    return folder / f"metrics_{task}.csv"


def planned_files(pairs: list[Pair], opt: ExportOptions, tasks: list[str] = ()) -> list[Path]:
    """The files an export of ``pairs`` writes; ``tasks``: the tasks of the pairs (their metrics files)."""
    files = [f for p in pairs for f in pair_files(p, opt, has_maps=not p.is_stack)]
    if opt.metrics:
        files += [metrics_file(opt.folder, t) for t in dict.fromkeys(tasks)]
    return files


def colour_map(m: np.ndarray) -> np.ndarray:
    """float [0, 1] (H, W) -> uint8 RGB (H, W, 3) with the viridis colour map (as in the maps panel)."""
    u8 = np.round(np.clip(m, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def write_pair(pair: Pair, fused: Result, second: Result | None, opt: ExportOptions, context: dict) -> list[Path]:
    s, d = stem(pair), opt.folder
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    exif = engine.read_exif(pair.a) if opt.keep_exif and (opt.fused or opt.second) else None
    context = {**context, "exif_copied_from": str(pair.a) if exif else None}
    if opt.fused:
        written.append(engine.write_image(d / f"{s}_fused.{opt.fmt}", fused.image, bit_depth=opt.bit_depth, exif=exif))
    if opt.second and second is not None:
        written.append(engine.write_image(d / f"{s}_compare.{opt.fmt}", second.image, bit_depth=opt.bit_depth,
                                          exif=exif))
    if opt.maps:
        for name in engine.MAP_NAMES:
            if name in fused.maps:
                written.append(engine.write_image(d / f"{s}_{name}.png", fused.maps[name], bit_depth=16))
                written.append(engine.write_image(d / f"{s}_{name}_color.png", colour_map(fused.maps[name])))
    sidecar = d / f"{s}.refusion.json"
    record = sidecar_record(pair, fused, second, opt, context, [p.name for p in written])
    engine.atomic_write_bytes(sidecar, json.dumps(record, indent=2, default=str).encode("utf-8"))
    return written + [sidecar]


def sidecar_record(pair: Pair, fused: Result, second: Result | None, opt: ExportOptions, context: dict,
                   outputs: list[str]) -> dict:
    """The engine's sidecar record (:mod:`refusion_core.io.sidecar`, the one ``refusion fuse --out-dir`` writes),
    filled with what the app knows: the result's model and comparison, the app's settings and export options."""
    sources = ({"frames": [str(p) for p in pair.paths], "fusion": "tree of pairwise fusions"}
               if pair.is_stack else {"a": str(pair.a), "b": str(pair.b)})
    return engine.sidecar_record(
        sources, context.get("task"), fused.source, outputs,
        metrics={r.label: r.metrics for r in (fused, second) if r is not None and r.metrics},
        input_scaling=context.get("stretch", "auto"), exif_copied_from=context.get("exif_copied_from"),
        comparison=second.source if second is not None else None, settings=context.get("settings", {}),
        export=opt.to_dict(), app_version=__version__, **redo(pair, fused, opt, context))


def redo(pair: Pair, fused: Result, opt: ExportOptions, context: dict) -> dict:
    """``{"redo": the refusion command that makes the fused image again}``, or ``{"redo_not_possible": why}``
    (a model fine-tuned in this session and not saved exists nowhere on disk)."""
    if fused.source.get("kind") == "session":
        return {"redo_not_possible": fused.source.get("note") or "the model was not saved"}
    return {"redo": engine.redo_command(pair.paths, f"{stem(pair)}_fused.{opt.fmt}", context.get("task"),
                                        fused.source, opt.bit_depth, context.get("stretch", "auto"), opt.keep_exif)}


def metrics_rows(pair: Pair, task: str, results: list[Result]) -> list[dict]:
    """One row per result: the pair, its task, the result's role (``fused``: the item's model; ``compare``),
    the method by one name (its label), and for a model the file and its sha256 (empty for a classical method or
    an unsaved fine-tuned model: the sidecar says why), then the task's metrics."""
    return [{"pair": pair.name, "a": str(pair.a), "b": str(pair.b), "task": task, "role": role, "method": r.label,
             "model_file": r.source.get("path") or "", "model_sha256": r.source.get("sha256") or "", **r.metrics}
            for role, r in zip(("fused", "compare"), results) if r is not None and r.metrics]


def metrics_files(folder: Path, rows: list[dict]) -> dict[Path, str]:
    """The CSV text of each task's rows, by file (:func:`metrics_file`)."""
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    return {metrics_file(folder, task): metrics_csv(task_rows) for task, task_rows in by_task.items()}


def metrics_csv(rows: list[dict]) -> str:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()
