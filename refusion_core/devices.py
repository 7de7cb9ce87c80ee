"""Device choice: CUDA when it is usable, the CPU otherwise. A broken CUDA install never stops the CPU path."""

from __future__ import annotations

import torch

from refusion_core.errors import RefusionError


def cuda_usable() -> bool:
    try:
        return bool(torch.cuda.is_available()) and torch.cuda.device_count() > 0
    except Exception:  # driver/runtime mismatch and the like
        return False


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto" -> cuda if usable else cpu; "cuda" without a usable GPU raises a clear error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if cuda_usable() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not cuda_usable():
        raise RefusionError("CUDA was asked for but no usable CUDA GPU was found; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise RefusionError(f"Unsupported device {device!r}; use cpu or cuda")
    return dev


def describe_device(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({torch.get_num_threads()} threads)"
