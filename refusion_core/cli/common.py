"""What several subcommands share: the model options and the progress-bar callback."""

from __future__ import annotations

import argparse
from pathlib import Path

from refusion_core import TASKS


def model_args(p: argparse.ArgumentParser, task: str = "ivif") -> None:
    """``--task`` (default ``task``), ``--weights`` and ``--device``."""
    p.add_argument("--task", choices=TASKS, default=task)
    p.add_argument("--weights", type=Path, help="project .safetensors or a released .pth")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def bar_to(bar, done: int, total: int) -> None:
    """Set a tqdm bar to ``done`` of ``total`` (the engine's ``progress(done, total)`` callbacks)."""
    bar.total = total
    bar.n = done
    bar.refresh()
