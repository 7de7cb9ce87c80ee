"""Build the bundled sample pairs in ``resources/samples/`` from images that ship with scikit-image.

Every pair is SYNTHETIC: it is derived from one public-domain / CC0 photo in ``skimage.data`` (or
the Shepp-Logan phantom) by ``refusion_core.synthetic`` or by the simple recipes below. No other
data is used and nothing is downloaded. The output is deterministic (fixed seeds, no randomness
elsewhere), so re-running the script reproduces the same PNGs.

Usage::

    python scripts/make_samples.py [--out resources/samples]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from refusion_core.synthetic import exposure_pair, multifocus_pair  # noqa: E402

MAX_SIDE = 512
SEED = 20240607
OUT_DEFAULT = Path(__file__).resolve().parent.parent / "resources" / "samples"


def _fit(img: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """uint8 image -> float32 in [0, 1], downscaled (INTER_AREA) so its longer side is <= max_side."""
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s < 1.0:
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255.0


def _save(path: Path, x: np.ndarray) -> None:
    """Write a float [0, 1] (H, W) or RGB (H, W, 3) image as an 8-bit PNG."""
    u8 = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if u8.ndim == 3:
        u8 = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), u8, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"Could not write {path}.")


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB float image, (H, W) in [0, 1]."""
    return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def _blob(shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Elliptical Gaussian bump of peak 1 centred at (cx, cy) with radii (rx, ry) in px."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return np.exp(-0.5 * (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)).astype(np.float32)


def make_mfif() -> dict[str, np.ndarray]:
    """Multi-focus: skimage 'chelsea', left half defocused in a, right half in b."""
    a, b = multifocus_pair(_fit(data.chelsea()), sigma=3.0)
    return {"mfif_a.png": a, "mfif_b.png": b}


def make_meif() -> dict[str, np.ndarray]:
    """Multi-exposure: skimage 'coffee' shot 2 EV under and 2 EV over."""
    under, over = exposure_pair(_fit(data.coffee()), stops=2.0)
    return {"meif_under.png": under, "meif_over.png": over}


def make_ivif() -> dict[str, np.ndarray]:
    """Pseudo infrared + visible: a thermal-LIKE grey image built from skimage 'astronaut'.

    IR = 0.45 * heavily smoothed luminance (sigma 6 px, no fine texture) + warm blobs: the face
    and neck (positions chosen by hand) and three seeded blobs, one of them guaranteed to sit in
    the dark lower-right corner where the visible image shows nothing.
    """
    vis = _fit(data.astronaut())
    h, w = vis.shape[:2]
    ir = 0.45 * cv2.GaussianBlur(_luma(vis), (0, 0), 6.0)
    ir += 0.55 * _blob((h, w), 225, 125, 38, 50) + 0.35 * _blob((h, w), 225, 200, 30, 18)
    rng = np.random.default_rng(SEED)
    centres = [(440.0, 330.0)] + [tuple(rng.uniform(40, 470, size=2)) for _ in range(2)]
    for cx, cy in centres:
        r = float(rng.uniform(8, 16))
        ir += 0.6 * _blob((h, w), cx, cy, r, r)
    return {"ivif_ir.png": np.clip(ir, 0, 1), "ivif_vis.png": vis}


def make_mif() -> dict[str, np.ndarray]:
    """Pseudo medical: two renderings of the Shepp-Logan phantom with different contrasts.

    CT-like: bright sharp skull, soft tissue at low contrast. MRI-like: dark skull, stretched
    soft-tissue contrast, fluid (phantom value 0 inside the head) bright, slightly smoothed and
    with mild seeded noise.
    """
    p = np.round(data.shepp_logan_phantom(), 3).astype(np.float32)
    head = ndimage.binary_fill_holes(p > 0)
    fluid = head & (p == 0)
    ct_lut = {0.0: 0.0, 0.098: 0.30, 0.2: 0.33, 0.298: 0.36, 0.4: 0.40, 1.0: 1.0}
    mr_lut = {0.0: 0.0, 0.098: 0.30, 0.2: 0.45, 0.298: 0.70, 0.4: 0.90, 1.0: 0.12}
    ct, mr = np.zeros_like(p), np.zeros_like(p)
    for v in ct_lut:
        sel = np.isclose(p, v, atol=2e-3)
        ct[sel], mr[sel] = ct_lut[v], mr_lut[v]
    ct[fluid], mr[fluid] = 0.26, 0.95
    rng = np.random.default_rng(SEED + 1)
    mr = cv2.GaussianBlur(mr, (0, 0), 1.5) + rng.normal(0, 0.015, p.shape).astype(np.float32) * head
    return {"mif_ct.png": ct, "mif_mri.png": np.clip(mr, 0, 1)}


PAIRS = [
    ("mfif", make_mfif, "Multi-focus (synthetic): skimage 'chelsea' (CC0, Stefan van der Walt); a has its "
     "left half Gaussian-blurred (sigma 3 px), b its right half."),
    ("meif", make_meif, "Multi-exposure (synthetic): skimage 'coffee' (CC0, Rachel Michetti) rendered 2 EV "
     "under and 2 EV over (gamma 2.2, clipped): shadows crush in a, highlights clip in b."),
    ("ivif", make_ivif, "Pseudo infrared + visible (synthetic, NOT a real thermal image): a = smoothed "
     "luminance of skimage 'astronaut' (public domain, NASA) plus warm blobs; b = the RGB photo."),
    ("mif", make_mif, "Pseudo medical (synthetic, NOT real scans): Shepp-Logan phantom rendered "
     "'CT-like' (a: bright skull) and 'MRI-like' (b: soft-tissue contrast, bright fluid)."),
]


def build(out: Path) -> list[dict[str, str]]:
    """Write every pair into ``out`` and return the manifest entries."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for task, maker, description in PAIRS:
        images = maker()
        for name, img in images.items():
            _save(out / name, img)
        a_name, b_name = images
        entries.append({"task": task, "a": a_name, "b": b_name, "description": description, "synthetic": True})
    (out / "manifest.json").write_text(json.dumps({"pairs": entries}, indent=2) + "\n", encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    for e in build(args.out):
        print(f"{e['task']:5s} {e['a']:16s} {e['b']:16s}")
    total = sum(f.stat().st_size for f in args.out.glob("*.png"))
    print(f"total PNG size: {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
