"""``refusion fuse-volume``: fuse two co-registered medical volumes (research use, not diagnosis)."""

from __future__ import annotations

import sys
from pathlib import Path

from refusion_core.cli.common import model_args, resolve_task
from refusion_core.errors import InputError


def register(sub) -> None:
    v = sub.add_parser("fuse-volume", help="fuse two co-registered medical volumes (research use, not diagnosis)",
                       description="Fuse two co-registered volumes (NIfTI files, DICOM series folders or "
                                   "multi-frame DICOM files) slice by slice into a NIfTI file on A's grid, "
                                   "values in [0, 1]. Research use, not diagnosis.")
    v.add_argument("a", type=Path, metavar="A")
    v.add_argument("b", type=Path, metavar="B")
    v.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.nii.gz")
    model_args(v, default_task="mif")
    for side in ("a", "b"):
        v.add_argument(f"--window-{side}", metavar="C,W", help=f"window of {side.upper()}: CENTER,WIDTH in its "
                       "units, or brain, soft-tissue, bone, lung, auto (default: bone for CT, else auto)")
    v.add_argument("--dtype", choices=("float32", "uint16"), default="float32",
                   help="float32, or uint16 with scl_slope 1/65535 (readers still see [0, 1])")
    v.set_defaults(func=run)


def run(args) -> int:
    """Fuse two co-registered volumes slice by slice into a NIfTI file (research use, not diagnosis)."""
    from tqdm import tqdm

    from refusion_core.fusing.fuser import Fuser
    from refusion_core.io.images import check_not_an_input
    from refusion_core.medical.volumes import NIFTI_SUFFIXES, check_same_grid, fuse_volumes, read_volume, write_nifti
    from refusion_core.medical.windowing import parse_window
    from refusion_core.models.checkpoint import load_model

    if not args.out.name.lower().endswith(NIFTI_SUFFIXES):
        raise InputError(f"Cannot write {args.out.name}: use a .nii or .nii.gz file name")
    check_not_an_input(args.out, [args.a, args.b])
    win_a, win_b = parse_window(args.window_a) if args.window_a else None, \
        parse_window(args.window_b) if args.window_b else None
    task = resolve_task(args.task, args.weights, default="mif")
    vol_a, vol_b = read_volume(args.a), read_volume(args.b)
    check_same_grid(vol_a, vol_b)
    fuser = Fuser(load_model(args.weights, task), args.device)
    with tqdm(total=vol_a.data.shape[0], desc="fusing", unit="slice", disable=None, leave=False) as bar:
        fused, info = fuse_volumes(fuser, vol_a, vol_b, win_a, win_b,
                                   progress=lambda d, t: bar.update(d - bar.n))
    write_nifti(args.out, fused, args.dtype)
    desc = [f"{v.name} ({v.modality or 'modality unknown'}, window {c:g}/{w:g})"
            for v, (c, w) in ((vol_a, info["window_a"]), (vol_b, info["window_b"]))]
    print(f"fused {desc[0]} + {desc[1]} -> {args.out} ({args.dtype}, [0, 1]); research use, not diagnosis",
          file=sys.stdout)
    return 0
