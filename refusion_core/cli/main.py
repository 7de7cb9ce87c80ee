"""``refusion``: the engine on the command line (fuse, align, fuse-volume, train, resume, eval, info).

Every user error ends in one line on stderr (``refusion: error: ...``) and exit status 2; nothing is left
half-written (all outputs are written atomically).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from refusion_core import TASKS, __version__
from refusion_core.errors import RefusionError
from refusion_core.training.settings import ABLATIONS, OVERRIDABLE, PRESETS


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``refusion: error: ...``) and exit 2."""

    def error(self, message: str):
        print(f"refusion: error: {message} (see 'refusion --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="refusion", description="ReFusion image fusion engine")
    p.add_argument("--version", action="version", version=f"refusion {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="say more on stderr (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr (the log file keeps all)")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fuse", help="fuse two or more registered images",
                       description="Fuse a registered pair, or a stack of N > 2 images (fused pairwise in a "
                                   "balanced tree, neighbours first: give a focus stack in focus order)")
    f.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="two or more images of one size")
    f.add_argument("-o", "--out", type=Path, required=True, help="output image (.png, .tif, .jpg)")
    _model_args(f)
    f.add_argument("--maps", type=Path, metavar="DIR", help="also write wa, wb, va, vb (16-bit PNG + .npy); "
                   "pairs only")
    f.add_argument("--stretch", action="store_true", help="min-max stretch the fused luminance")
    f.add_argument("--bit-depth", type=int, choices=(8, 16), help="output bit depth (default: 16 if any input is)")
    f.add_argument("--stretch-input", default="auto", metavar="MODE[,MODE...]",
                   help="auto (default: stretch 16-bit grey images that use at most a quarter of 0..65535, "
                        "like raw thermal), none or percentile; one mode, or one per image")
    f.add_argument("--percentiles", default="0.5,99.5", metavar="LOW,HIGH",
                   help="percentiles of the valid pixels mapped to 0 and 1 by the input stretch")
    f.add_argument("--strategy", choices=("tree", "chain"), default="tree", help="order of the pairwise "
                   "fusions for N > 2 (default: tree)")
    f.add_argument("--no-exif", action="store_true", help="do not copy the first input's EXIF to the output")

    al = sub.add_parser("align", help="register images to a reference image",
                        description="Register each MOVING image to REF and write it, resampled onto REF's "
                                    "pixel grid and named like its input, into DIR, with transforms.json "
                                    "(3x3 matrices mapping moving to reference pixel coordinates)")
    al.add_argument("ref", type=Path, metavar="REF")
    al.add_argument("moving", nargs="+", type=Path, metavar="MOVING")
    al.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    al.add_argument("--model", choices=("homography", "affine", "euclidean", "translation"), default="homography")
    al.add_argument("--method", choices=("features", "ecc", "ecc-edges"),
                    help="features (default; photographs), ecc (intensities), ecc-edges (infrared-visible and "
                         "other cross-modal pairs); with --points, ecc/ecc-edges refine the points' estimate")
    al.add_argument("--points", type=Path, metavar="FILE.json", help='control points: {"ref": [[x, y], ...], '
                    '"moving": [[x, y], ...]} (or such objects keyed by moving file name); at least 3 pairs '
                    "for affine, 4 for homography")
    al.add_argument("--crop", action="store_true", help="crop all outputs (and write the reference) to the "
                    "largest rectangle every image covers")
    al.add_argument("--no-exif", action="store_true", help="do not keep the inputs' EXIF")

    v = sub.add_parser("fuse-volume", help="fuse two co-registered medical volumes (research use, not diagnosis)",
                       description="Fuse two co-registered volumes (NIfTI files, DICOM series folders or "
                                   "multi-frame DICOM files) slice by slice into a NIfTI file on A's grid, "
                                   "values in [0, 1]. Research use, not diagnosis.")
    v.add_argument("a", type=Path, metavar="A")
    v.add_argument("b", type=Path, metavar="B")
    v.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.nii.gz")
    _model_args(v, task="mif")
    for side in ("a", "b"):
        v.add_argument(f"--window-{side}", metavar="C,W", help=f"window of {side.upper()}: CENTER,WIDTH in its "
                       "units, or brain, soft-tissue, bone, lung, auto (default: bone for CT, else auto)")
    v.add_argument("--dtype", choices=("float32", "uint16"), default="float32",
                   help="float32, or uint16 with scl_slope 1/65535 (readers still see [0, 1])")

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
    for name, typ in OVERRIDABLE.items():
        t.add_argument(f"--{name.replace('_', '-')}", type=typ, help="override the preset")
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), help="override the preset")
    t.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="leave N of the training pairs out, for choosing between candidates "
                        "(refusion eval --split holdout --holdout N)")
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
    e.add_argument("--split", default="test", choices=("train", "test", "holdout"),
                   help="holdout: the pairs that 'refusion train --holdout N' left out of the train split (or of --pairs)")
    e.add_argument("--holdout", type=int, default=0, metavar="N", help="with --split holdout")
    e.add_argument("--weights", type=Path, nargs="+", help="models (default: the task's default weights)")
    e.add_argument("--baselines", action="store_true", help="also average, Laplacian pyramid (and Mertens for meif)")
    e.add_argument("--limit", type=int, help="only the first N pairs")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    e.add_argument("--json", type=Path, required=True, metavar="OUT")

    i = sub.add_parser("info", help="versions, device and default weights; or a model file's metadata")
    i.add_argument("path", nargs="?", type=Path)
    return p


def _model_args(p: argparse.ArgumentParser, task: str = "ivif") -> None:
    p.add_argument("--task", choices=TASKS, default=task)
    p.add_argument("--weights", type=Path, help="project .safetensors or a released .pth")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from refusion_core.cli import commands
    from refusion_core.logs import get_logger, setup_logging

    log_file = setup_logging(-1 if args.quiet else args.verbose)
    log = get_logger(__name__)
    log.debug("refusion %s: %s (log file %s)", __version__, " ".join(sys.argv if argv is None else argv), log_file)
    try:
        return getattr(commands, f"cmd_{args.command.replace('-', '_')}")(args)
    except RefusionError as err:
        log.debug("user error", exc_info=True)
        print(f"refusion: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refusion: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("refusion: error: out of memory; try a smaller image or the CPU", file=sys.stderr)
        return 2
    except RuntimeError as err:  # torch.OutOfMemoryError (CUDA) is a RuntimeError; anything else is a bug
        if "out of memory" not in str(err).lower():
            raise
        print("refusion: error: the GPU ran out of memory; use a smaller --crop or --batch (training) or a smaller "
              "image, close other GPU programs, or run with --device cpu", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
