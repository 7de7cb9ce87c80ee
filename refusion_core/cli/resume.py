"""``refusion resume``: resume a stopped training run."""

from __future__ import annotations

from pathlib import Path

from refusion_core.cli.train import drive


def register(sub) -> None:
    r = sub.add_parser("resume", help="resume a stopped training run")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    r.set_defaults(func=run)


def run(args) -> int:
    from refusion_core.training.trainer import Trainer

    trainer = Trainer.resume(args.run_dir, args.device)
    return drive(trainer, announce=f"resuming {args.run_dir} at step {trainer.step} of {trainer.total_steps}")
