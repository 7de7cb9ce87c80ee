"""Model files: the project's format (safetensors, all three modules + metadata) and the authors' .pth.

Project format: one ``.safetensors`` file; tensors are named ``fusion.<name>``, ``reconstruction.<name>``
and ``proposal.<name>``; the file's metadata holds one key, ``refusion``, a JSON object with
``format`` ("refusion-studio"), ``format_version``, ``task``, ``arch`` (each module's version and widths),
``settings`` (training settings), ``steps``, ``provenance`` (who made it, from what, when) and anything
else the writer adds. The authors' released checkpoints hold F only, every convolution stored twice
(``<name>.weight`` and ``<name>.conv.weight``, the same tensor): the importer checks the duplicates agree
and keeps one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from refusion_core import TASKS, __version__, task_from_name
from refusion_core.errors import WeightsError
from refusion_core.io.images import atomic_write_bytes
from refusion_core.models import FusionNet, LossProposalNet, ReconstructionNet
from refusion_core.models import fusion as fusion_mod
from refusion_core.models import loss_proposal as proposal_mod
from refusion_core.models import reconstruction as recon_mod
from refusion_core.models.loss_proposal import proposal_for_state
from refusion_core.paths import default_weights_path

FORMAT = "refusion-studio"
FORMAT_VERSION = 1
PREFIXES = ("fusion", "reconstruction", "proposal")


@dataclass
class ModelBundle:
    """F, and R and P where the file has them, with the file's metadata."""

    fusion: nn.Module
    reconstruction: nn.Module | None = None
    proposal: nn.Module | None = None
    meta: dict = field(default_factory=dict)
    sha256: str | None = None
    path: Path | None = None

    @property
    def has_maps(self) -> bool:
        return self.proposal is not None

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    def modules(self) -> dict[str, nn.Module]:
        mods = {"fusion": self.fusion, "reconstruction": self.reconstruction, "proposal": self.proposal}
        return {k: m for k, m in mods.items() if m is not None}

    def parameter_counts(self) -> dict[str, int]:
        return {k: sum(p.numel() for p in m.parameters()) for k, m in self.modules().items()}

    def to(self, device) -> "ModelBundle":
        for m in self.modules().values():
            m.to(device)
        return self


def new_bundle(task: str | None = None, seed: int | None = None) -> ModelBundle:
    """Freshly initialised F, R, P (P starts at w = v = 1/2)."""
    if seed is not None:
        torch.manual_seed(seed)
    meta = {"task": task, "arch": arch_meta(), "steps": 0,
            "provenance": {"created_by": f"refusion-studio {__version__}", "init": "random"}}
    return ModelBundle(FusionNet(), ReconstructionNet(), LossProposalNet(), meta)


def arch_meta(proposal: LossProposalNet | None = None) -> dict:
    """Each module's version and widths; P's version is that of ``proposal`` (default: a new P's)."""
    p_version = proposal.arch_version if proposal is not None else proposal_mod.ARCH_VERSION
    return {"fusion": {"version": fusion_mod.ARCH_VERSION, "dim": 16, "heads": 8},
            "reconstruction": {"version": recon_mod.ARCH_VERSION, "dim": 16, "heads": 8, "blocks": 1},
            "proposal": {"version": p_version, "dim": 16, "heads": 8}}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over a model's tensors alone, ``{"<module>.<name>": tensor}``: names and bytes, modules in
    PREFIXES order, names sorted within each. Saved in the metadata (``tensors_sha256``) and verified on load, so
    that flipped bytes inside the tensors are caught (safetensors checks the layout, not the values); unlike the
    file's SHA-256 it survives re-saving the same weights with new metadata."""
    h = hashlib.sha256()
    for prefix in PREFIXES:
        for name in sorted(k for k in tensors if k.startswith(prefix + ".")):
            h.update(name.encode())
            h.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_model(path: str | os.PathLike, bundle: ModelBundle, **meta_updates) -> Path:
    """Write ``bundle`` in the project's format, atomically. Extra keyword args go into the metadata."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {f"{prefix}.{k}": v.detach().cpu().contiguous()
               for prefix, m in bundle.modules().items() for k, v in m.state_dict().items()}
    meta = {**bundle.meta, **meta_updates, "format": FORMAT, "format_version": FORMAT_VERSION,
            "tensors_sha256": tensors_checksum(tensors)}
    if bundle.proposal is not None:  # P's version from the tensors, whatever the bundle's metadata said
        meta["arch"] = {**meta.get("arch", {}), **arch_meta(bundle.proposal)}
    meta.setdefault("arch", arch_meta())
    atomic_write_bytes(path, save(tensors, metadata={"refusion": json.dumps(meta, default=str)}))
    return path


def load_model(path: str | os.PathLike | None = None, task: str = "ivif", device="cpu") -> ModelBundle:
    """Load the project's ``.safetensors`` or a released ``.pth``; ``path=None`` = the task's default."""
    if path is None:
        if task not in TASKS:
            raise WeightsError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}")
        path = default_weights_path(task)
        if not path.exists():
            raise WeightsError(f"No default weights for task {task!r} yet ({path} is missing); "
                               "pass --weights with a model file or train one with 'refusion train'")
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}")
    loader = _load_pth if path.suffix.lower() in (".pth", ".pt") else _load_safetensors
    bundle = loader(path, task)
    bundle.sha256, bundle.path = file_sha256(path), path
    for m in bundle.modules().values():
        m.eval()
    return bundle.to(device)


def _load_safetensors(path: Path, task: str) -> ModelBundle:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("refusion", "{}"))
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as err:  # safetensors raises several types for bad files
        raise WeightsError(f"{path.name} is not a readable model file ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsError(f"{path.name} is a safetensors file but not a ReFusion Studio model")
    if meta.get("tensors_sha256") not in (None, tensors_checksum(tensors)):  # files before 2026-12 have none
        raise WeightsError(f"{path.name} is damaged: its tensors do not match the checksum recorded in it")
    bundle = ModelBundle(FusionNet(), meta=meta)
    groups = {p: {k[len(p) + 1:]: v for k, v in tensors.items() if k.startswith(p + ".")} for p in PREFIXES}
    _load_into(bundle.fusion, groups["fusion"], path, "F")
    if groups["reconstruction"]:
        bundle.reconstruction = ReconstructionNet()
        _load_into(bundle.reconstruction, groups["reconstruction"], path, "R")
    if groups["proposal"]:
        bundle.proposal = proposal_for_state(groups["proposal"])  # p-1, p-2 or p-3: the tensors say which
        _load_into(bundle.proposal, groups["proposal"], path, "P")
    return bundle


def _load_pth(path: Path, task: str) -> ModelBundle:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path.name} is not a readable PyTorch checkpoint ({type(err).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} does not hold a state dict of tensors")
    state = dedupe_released_state(state, path)
    bundle = ModelBundle(FusionNet(), meta={
        "task": task_from_name(path.stem) or task, "arch": {"fusion": arch_meta()["fusion"]},
        "provenance": {"source": "released checkpoint of the ReFusion authors (F only)", "file": path.name}})
    _load_into(bundle.fusion, state, path, "F")
    return bundle


def dedupe_released_state(state: dict, path: Path) -> dict:
    """Drop the ``.conv.weight`` duplicates of the released files after checking they agree."""
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")
        if k.endswith(".conv.weight"):
            twin = state.get(k[: -len(".conv.weight")] + ".weight")
            if twin is not None and not torch.equal(twin, v):
                raise WeightsError(f"{path.name}: {k} differs from its duplicate; the file is damaged")
            if twin is not None:
                continue
            k = k[: -len(".conv.weight")] + ".weight"
        out[k] = v
    return out


def _load_into(module: nn.Module, state: dict, path: Path, label: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                  else f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}")
        raise WeightsError(f"{path.name} does not fit this version's {label} network ({detail})")
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise WeightsError(f"{path.name} holds NaN or infinite values in {label} ({bad}); it cannot fuse")
    module.load_state_dict({k: v.float() for k, v in state.items()})
