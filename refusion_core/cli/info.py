"""``refusion info``: versions, device and default weights; or a model file's metadata."""

from __future__ import annotations

import platform
from pathlib import Path

from refusion_core import TASKS, __version__


def register(sub) -> None:
    i = sub.add_parser("info", help="versions, device and default weights; or a model file's metadata")
    i.add_argument("path", nargs="?", type=Path)
    i.set_defaults(func=run)


def run(args) -> int:
    if args.path:
        return _info_model(args.path)
    import torch

    from refusion_core.devices import cuda_usable
    from refusion_core.paths import default_weights_path, resources_dir, user_data_dir

    print(f"refusion {__version__}, python {platform.python_version()}, torch {torch.__version__}, "
          f"{platform.system()} {platform.machine()}")
    cuda = cuda_usable()
    print(f"device: {'cuda: ' + torch.cuda.get_device_name(0) if cuda else 'cpu'} "
          f"(CUDA {'available' if cuda else 'not available'}; torch built with CUDA {torch.version.cuda})")
    print(f"resources: {resources_dir()}")
    print(f"user data: {user_data_dir()}")
    for t in TASKS:
        p = default_weights_path(t)
        print(f"default weights {t:5s}: {p if p.exists() else 'missing'}")
    return 0


def _info_model(path: Path) -> int:
    from refusion_core.models.checkpoint import load_model

    bundle = load_model(path)
    print(f"{path}  sha256 {bundle.sha256[:16]}")
    for k, n in bundle.parameter_counts().items():
        print(f"  {k:15s} {n:>8,d} parameters")
    for k, v in bundle.meta.items():
        print(f"  {k}: {v}")
    return 0
