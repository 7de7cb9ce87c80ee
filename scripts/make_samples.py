"""Build the bundled samples in ``resources/samples/`` from images that ship with scikit-image.

Every sample is SYNTHETIC: it is derived from one public-domain / CC0 photo in ``skimage.data`` (or
the Shepp-Logan phantom) by ``refusion_core.training.synthetic`` or by the simple recipes below. No other
data is used and nothing is downloaded. The output is deterministic (fixed seeds, no randomness
elsewhere), so re-running the script reproduces the same pixels and voxels.

Besides the four pairs (one per task, in the folder itself) it writes, for the app's real-world-input
features: ``stack/`` (a 4-frame focus stack, fused as one stack item), ``misaligned/`` (a hand-held-like
exposure bracket whose second frame moved by a known homography, for Align) and ``volumes/`` (an
MRI-like and a PET-like NIfTI volume on one grid, for the volume browser).

Usage::

    python scripts/make_samples.py [--out resources/samples]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from refusion_core.training.synthetic import exposure_pair, focus_stack, multifocus_pair, similarity_homography  # noqa: E402

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
    """Write a float [0, 1] (H, W) or RGB (H, W, 3) image as an 8-bit PNG (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


# ---------------------------------------------------------------------------------------------- stack
STACK_SIDE = 320
STACK_REGIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
STACK_DESCRIPTION = ("Focus stack (synthetic): skimage 'coins' (Greek coins from Pompeii, Brooklyn Museum, no "
                     "known copyright restrictions) downscaled to 320 px; frame i is sharp only in quadrant i "
                     "(top-left, top-right, bottom-left, bottom-right) and Gaussian-blurred (sigma 3 px) elsewhere.")


def make_stack() -> dict[str, np.ndarray]:
    """Focus stack: ``focus_stack(n=4, sigma=3)`` of skimage 'coins' (grey): frame i sharp in quadrant i."""
    frames = focus_stack(_fit(data.coins(), STACK_SIDE), n=4, sigma=3.0, band=4.0)
    return {f"stack/coins_{i + 1}.png": f for i, f in enumerate(frames)}


# ------------------------------------------------------------------------------------------ misaligned
MISALIGN_SIDE = 352  # the scene; each frame is the scene less MISALIGN_PAD px on every side
MISALIGN_PAD = 16
MISALIGN_MOTION = {"tx": 6.0, "ty": -4.0, "angle_deg": 1.2, "perspective": (2e-5, -1.5e-5)}
MISALIGN_DESCRIPTION = ("Hand-held exposure bracket (synthetic): skimage 'coffee' (CC0, Rachel Michetti) at 352 px; "
                        "a = 2 EV under, b = 2 EV over after the camera moved by a known homography (6 px right, "
                        "4 px up, 1.2 deg rotation, slight keystone); both frames are 320 x 203 crops of the "
                        "scene, so there are no empty borders. 'b_to_a' maps b's pixel (x, y) to a's: what "
                        "Align should find for b.")


def misalign_homography(shape: tuple[int, ...]) -> np.ndarray:
    """The camera motion of the bracket's second frame, in scene pixels (scene -> moved scene)."""
    m = MISALIGN_MOTION
    h = similarity_homography(shape, tx=m["tx"], ty=m["ty"], angle_deg=m["angle_deg"])
    h[2, :2] = m["perspective"]
    return h


def make_misaligned() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(images, b_to_a): an under/over bracket of 'coffee' whose over frame moved by ``misalign_homography``.

    b = the over exposure of the scene warped by the camera motion ``h``; both frames are cut from the
    middle of their scenes (offset ``c``), so frame b's pixel q shows scene point h^-1 c^-1 q and frame a's
    pixel c h^-1 c^-1 q: ``b_to_a = c h^-1 c^-1``, normalised to b_to_a[2, 2] = 1.
    """
    scene = _fit(data.coffee(), MISALIGN_SIDE)
    h_img, w_img = scene.shape[:2]
    hom = misalign_homography(scene.shape)
    moved = cv2.warpPerspective(scene, hom, (w_img, h_img), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    under, _ = exposure_pair(scene, stops=2.0)
    _, over = exposure_pair(np.clip(moved, 0.0, 1.0), stops=2.0)
    p = MISALIGN_PAD
    crop = (slice(p, h_img - p), slice(p, w_img - p))
    c = np.array([[1.0, 0.0, -p], [0.0, 1.0, -p], [0.0, 0.0, 1.0]])
    b_to_a = c @ np.linalg.inv(hom) @ np.linalg.inv(c)
    return ({"misaligned/coffee_under.png": under[crop], "misaligned/coffee_over_moved.png": over[crop]},
            b_to_a / b_to_a[2, 2])


# --------------------------------------------------------------------------------------------- volumes
VOL_SLICES, VOL_SIDE = 12, 128
VOL_SPACING = (1.75, 1.75, 10.0)  # mm: column (x), row (y), slice (z)
VOL_Z0 = -30.0  # mm, slice 0; slices go up to +80 mm, near the top of a head of semi-axis VOL_HEAD_RZ
VOL_HEAD_RZ = 95.0
VOL_LESION = (0.60, 0.42, 30.0, 10.0, 14.0)  # centre column, row (fractions, displayed), z (mm), radii (mm)
VOL_HOT = (0.36, 0.62, 45.0, 8.0, 12.0)
VOLUME_DESCRIPTION = ("Pseudo MRI + PET head (synthetic, NOT real scans): 12 axial slices of 128 x 128 on one grid "
                      "(1.75 x 1.75 x 10 mm, RAS, z -30 .. +80 mm), each the Shepp-Logan phantom shrunk to the "
                      "cross-section of an ellipsoid head at that height. a = MRI-like (T2-like contrast, "
                      "descrip 'MR ...'), b = PET-like (smooth uptake in the brain plus two hot spots, one on a "
                      "faint MRI lesion; blurred and sampled at half resolution; descrip 'PT ...').")


def _phantom_slice(img400: np.ndarray, scale: float) -> np.ndarray:
    """A 400 x 400 phantom rendering shrunk by ``scale`` about its centre, then area-averaged to 128 x 128."""
    m = cv2.getRotationMatrix2D((199.5, 199.5), 0.0, scale)
    shrunk = cv2.warpAffine(img400, m, (400, 400), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return cv2.resize(shrunk, (VOL_SIDE, VOL_SIDE), interpolation=cv2.INTER_AREA)


def _ellipsoid(spec: tuple[float, ...], z: np.ndarray) -> np.ndarray:
    """A Gaussian 3-D bump (S, H, W) on the displayed grid: centre (fx, fy of the side, z mm), radii (in-plane, z)."""
    fx, fy, zc, r_xy, r_z = spec
    y, x = np.mgrid[0:VOL_SIDE, 0:VOL_SIDE].astype(np.float32)
    d2 = ((x - fx * VOL_SIDE) ** 2 + (y - fy * VOL_SIDE) ** 2) * (VOL_SPACING[0] / r_xy) ** 2
    return np.exp(-0.5 * (d2[None] + ((z[:, None, None] - zc) / r_z) ** 2)).astype(np.float32)


def make_volumes() -> dict[str, tuple[np.ndarray, str]]:
    """{file: (data (S, H, W) as displayed: anterior up, patient right on the left; NIfTI descrip)}.

    Per slice at height z the phantom is shrunk by sqrt(1 - (z / 95 mm)^2) (an ellipsoid head). MRI-like:
    the intensity mapping of ``make_mif`` (T2-like: bright fluid, dark skull), a faint bright lesion, blur
    sigma 0.7 px, no noise, x 500, int16. PET-like: uptake 1 in the brain (inside the skull), 0.25 in the
    skull, 0 in the ventricles, x 4 at the lesion and x 5 at a second spot, 15 % seeded noise, blurred
    sigma 2.5 px in-plane and 0.6 slice, averaged over 2 x 2 px and repeated (half resolution), x 100, int16.
    (Coarse integer units keep the gzipped files small: about 50 and 30 KB.)
    """
    p = np.round(data.shepp_logan_phantom(), 3).astype(np.float32)
    head = ndimage.binary_fill_holes(p > 0)
    fluid = head & (p == 0)
    mr_lut = {0.0: 0.0, 0.098: 0.30, 0.2: 0.45, 0.298: 0.70, 0.4: 0.90, 1.0: 0.12}
    mr2d, brain2d, skull2d = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for v, m in mr_lut.items():
        mr2d[np.isclose(p, v, atol=2e-3)] = m
    mr2d[fluid] = 0.95
    skull2d[np.isclose(p, 1.0, atol=2e-3)] = 1.0
    brain2d[head & ~np.isclose(p, 1.0, atol=2e-3) & ~fluid & (p > 0.15)] = 1.0
    z = VOL_Z0 + VOL_SPACING[2] * np.arange(VOL_SLICES, dtype=np.float32)
    scales = np.sqrt(np.clip(1.0 - (z / VOL_HEAD_RZ) ** 2, 0.0, 1.0))
    mr = np.stack([_phantom_slice(mr2d, s) for s in scales])
    brain = np.stack([_phantom_slice(brain2d, s) for s in scales])
    skull = np.stack([_phantom_slice(skull2d, s) for s in scales])
    lesion, hot = _ellipsoid(VOL_LESION, z), _ellipsoid(VOL_HOT, z)
    mr = mr + 0.12 * lesion * brain
    mr = np.stack([cv2.GaussianBlur(s, (0, 0), 0.7) for s in mr])
    rng = np.random.default_rng(SEED + 2)
    uptake = brain * (1.0 + 3.0 * lesion + 4.0 * hot) + 0.25 * skull
    uptake = uptake * (1.0 + rng.normal(0.0, 0.15, uptake.shape).astype(np.float32))
    uptake = ndimage.gaussian_filter(uptake, sigma=(0.6, 2.5, 2.5))
    half = uptake.reshape(VOL_SLICES, VOL_SIDE // 2, 2, VOL_SIDE // 2, 2).mean(axis=(2, 4))
    pet = np.repeat(np.repeat(half, 2, axis=1), 2, axis=2)
    return {"volumes/head_mr.nii.gz": (np.round(np.clip(mr, 0.0, None) * 500.0).astype(np.int16),
                                       "MR T2-like synthetic head phantom; ReFusion sample, not a real scan"),
            "volumes/head_pet.nii.gz": (np.round(np.clip(pet, 0.0, None) * 100.0).astype(np.int16),
                                        "PT FDG-like synthetic head phantom; ReFusion sample, not a real scan")}


def volume_affine() -> np.ndarray:
    """RAS+ affine of the sample volumes: (column, row, slice) -> mm, centred in x and y."""
    dx, dy, dz = VOL_SPACING
    aff = np.diag([dx, dy, dz, 1.0])
    aff[:3, 3] = (-(VOL_SIDE - 1) / 2 * dx, -(VOL_SIDE - 1) / 2 * dy, VOL_Z0)
    return aff


def _save_nifti(path: Path, displayed: np.ndarray, descrip: str) -> None:
    """Write (S, H, W) data drawn anterior-up / right-on-the-left as NIfTI-1 (gzip without a time stamp).

    The volume browser draws RAS data with rows and columns flipped (A up, R on the left), so the stored
    slices are the displayed ones flipped both ways; the file's (i, j, k) array is (S, H, W) transposed.
    """
    import nibabel as nib

    stored = displayed[:, ::-1, ::-1]
    img = nib.Nifti1Image(np.ascontiguousarray(stored.transpose(2, 1, 0)), volume_affine())
    img.set_qform(volume_affine(), code=1)
    img.set_sform(volume_affine(), code=1)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = descrip[:79].encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(img.to_bytes(), 9, mtime=0))


# ----------------------------------------------------------------------------------------------- build
def build(out: Path) -> dict[str, list[dict]]:
    """Write every sample into ``out`` and return the manifest (also written as ``out/manifest.json``).

    ``pairs`` keeps its original form ``{"task", "a", "b", "description", "synthetic"}`` (read by the
    screenshots, the self-test and the packaging tests); ``stacks``, ``misaligned`` and ``volumes`` are
    extra keys, their file names relative to ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for task, maker, description in PAIRS:
        images = maker()
        for name, img in images.items():
            _save(out / name, img)
        a_name, b_name = images
        entries.append({"task": task, "a": a_name, "b": b_name, "description": description, "synthetic": True})

    frames = make_stack()
    for name, img in frames.items():
        _save(out / name, img)
    stacks = [{"task": "mfif", "frames": list(frames), "sharp": list(STACK_REGIONS),
               "description": STACK_DESCRIPTION, "synthetic": True}]

    images, b_to_a = make_misaligned()
    for name, img in images.items():
        _save(out / name, img)
    a_name, b_name = images
    motion = dict(MISALIGN_MOTION, perspective=list(MISALIGN_MOTION["perspective"]))
    misaligned = [{"task": "meif", "a": a_name, "b": b_name, "b_to_a": [[round(float(v), 9) for v in row]
                                                                         for row in b_to_a],
                   "camera_motion": motion, "description": MISALIGN_DESCRIPTION, "synthetic": True}]

    vols = make_volumes()
    for name, (displayed, descrip) in vols.items():
        _save_nifti(out / name, displayed, descrip)
    a_name, b_name = vols
    volumes = [{"task": "mif", "a": a_name, "b": b_name, "modality_a": "MR", "modality_b": "PT",
                "shape": [VOL_SLICES, VOL_SIDE, VOL_SIDE], "spacing_mm": [VOL_SPACING[2], VOL_SPACING[1],
                                                                         VOL_SPACING[0]],
                "description": VOLUME_DESCRIPTION, "synthetic": True}]

    manifest = {"pairs": entries, "stacks": stacks, "misaligned": misaligned, "volumes": volumes}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    manifest = build(args.out)
    for e in manifest["pairs"]:
        print(f"{e['task']:5s} {e['a']:16s} {e['b']:16s}")
    for e in manifest["stacks"]:
        print(f"stack {', '.join(e['frames'])}")
    for key in ("misaligned", "volumes"):
        for e in manifest[key]:
            print(f"{key:10s} {e['a']}  {e['b']}")
    files = [f for f in args.out.rglob("*") if f.is_file() and f.name != "README.md"]
    total = sum(f.stat().st_size for f in files)
    print(f"total size: {total / 1e6:.2f} MB in {len(files)} files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
