"""``refusion``: the engine on the command line (fuse, train, resume, info).

Every user error ends in one line on stderr (``refusion: error: ...``) and exit status 2; nothing is left
half-written (all outputs are written atomically).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import TASKS, __version__
from .errors import RefusionError
from .settings import ABLATIONS, PRESETS


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``refusion: error: ...``) and exit 2."""

    def error(self, message: str):
        print(f"refusion: error: {message} (see 'refusion --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="refusion", description="ReFusion image fusion engine")
    p.add_argument("--version", action="version", version=f"refusion {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fuse", help="fuse a registered pair of images")
    f.add_argument("a", type=Path)
    f.add_argument("b", type=Path)
    f.add_argument("-o", "--out", type=Path, required=True, help="output image (.png, .tif, .jpg)")
    _model_args(f)
    f.add_argument("--maps", type=Path, metavar="DIR", help="also write wa, wb, va, vb (16-bit PNG + .npy)")
    f.add_argument("--stretch", action="store_true", help="min-max stretch the fused luminance")
    f.add_argument("--bit-depth", type=int, choices=(8, 16), help="output bit depth (default: the inputs')")

    t = sub.add_parser("train", help="train or fine-tune with Algorithm 1 (meta-learned loss)")
    t.add_argument("--task", choices=TASKS, required=True)
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"), help="pairs matched by stem")
    src.add_argument("--manifest", type=Path, help="a manifest.json (its train split is used)")
    t.add_argument("--set", dest="set_name", help="the set in the manifest, e.g. roadscene")
    t.add_argument("--preset", choices=list(PRESETS), default="quick")
    t.add_argument("--init", type=Path, help="weights to start from (project .safetensors or released .pth)")
    t.add_argument("--out", type=Path, required=True, metavar="RUN_DIR")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    for name, typ in (("epochs", int), ("meta-steps", int), ("fuse-steps", int), ("crop", int),
                      ("batch", int), ("seed", int), ("inner-lr", float), ("checkpoint-every", int)):
        t.add_argument(f"--{name}", type=typ, help="override the preset")
    t.add_argument("--ablation", choices=[a for a in ABLATIONS if a], help="Table 5 ablation switch")

    r = sub.add_parser("resume", help="resume a stopped training run")
    r.add_argument("run_dir", type=Path)
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))

    e = sub.add_parser("eval", help="metrics of one or more models and classical baselines on a set of pairs")
    e.add_argument("--task", choices=TASKS, required=True)
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"))
    src.add_argument("--manifest", type=Path)
    e.add_argument("--set", dest="set_name")
    e.add_argument("--split", default="test", choices=("train", "test"))
    e.add_argument("--weights", type=Path, nargs="+", help="models (default: the task's default weights)")
    e.add_argument("--baselines", action="store_true", help="also average, Laplacian pyramid (and Mertens for meif)")
    e.add_argument("--limit", type=int, help="only the first N pairs")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    e.add_argument("--json", type=Path, required=True, metavar="OUT")

    i = sub.add_parser("info", help="versions, device and default weights; or a model file's metadata")
    i.add_argument("path", nargs="?", type=Path)
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, default="ivif")
    p.add_argument("--weights", type=Path, help="project .safetensors or a released .pth")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import commands

    try:
        return getattr(commands, f"cmd_{args.command}")(args)
    except RefusionError as err:
        print(f"refusion: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refusion: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("refusion: error: out of memory; try a smaller image or the CPU", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
