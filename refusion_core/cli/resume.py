"""``refusion resume``: resume a stopped training run.

``--distributed`` (under torchrun, as for ``refusion train``): the run goes on with any number of processes,
from the step it stopped at; ``--batch`` stays per process (see :mod:`refusion_core.training.trainer`).
"""

from __future__ import annotations

from pathlib import Path

from refusion_core.cli.train import add_distributed, drive, process_group


def register(sub) -> None:
    r = sub.add_parser("resume", help="resume a stopped training run")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_distributed(r)
    r.set_defaults(func=run)


def run(args) -> int:
    from refusion_core.training.trainer import Trainer

    with process_group(args) as device:
        trainer = Trainer.resume(args.run_dir, device)
        return drive(trainer, announce=f"resuming {args.run_dir} at step {trainer.step} of {trainer.total_steps}")
