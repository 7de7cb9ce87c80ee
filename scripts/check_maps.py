"""Print the learned-map criteria of issue 4 (tests/refusion_core/training/test_learned_maps.py) for any weights file,
so that a candidate model can be checked before it is shipped to resources/weights/.

    python scripts/check_maps.py --task meif runs/refine/meif_a/model.safetensors [more.safetensors ...]

meif: mean v_a over the over-exposed source's blown highlights and mean v_b over the under-exposed source's
crushed shadows (both should exceed 0.5), v_a everywhere, and w_a everywhere (the intensity weight: a P that
drifts toward the under-exposed source gives a darker, flatter fused image).
mfif: mean v_a over A's sharp half (> 0.6) and over its blurred half, and v_a everywhere; and what F keeps of the
sharp source's detail on each half of that pair and in the weakest quarter of a 4-frame focus stack (issue 13's
target: 0.9; tests/refusion_core/fusing/test_stack.py).
The synthetic pairs are made from scikit-image's images, never from the benchmark data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refusion_core.models.checkpoint import load_model  # noqa: E402
from refusion_core.fusing.fuser import Fuser  # noqa: E402
from refusion_core.training.synthetic import (  # noqa: E402
    exposure_pair, exposure_regions, focus_stack_kept, multifocus_pair)

STACK_TARGET = 0.9  # issue 13: every quarter of the 4-frame focus stack keeps 90 % of the sharpest frame's detail


def meif_figures(path: Path) -> dict[str, float]:
    """Mean v_a over the blown highlights, v_b over the crushed shadows, v_a over the unclipped rest, v_a and
    w_a everywhere, on the synthetic astronaut exposure pair."""
    from skimage import data
    under, over = exposure_pair(data.astronaut().astype(np.float32) / 255, stops=2.0)
    maps = Fuser(load_model(path, "meif"), device="cpu").fuse(under, over).maps
    blown, crushed = exposure_regions(under, over)
    va = maps["va"]
    return {"va_blown": float(va[blown].mean()), "vb_crushed": float(maps["vb"][crushed].mean()),
            "va_rest": float(va[~(blown | crushed)].mean()), "va": float(va.mean()), "wa": float(maps["wa"].mean())}


def _meif_text(f: dict) -> str:
    return (f"va over blown {f['va_blown']:.3f}  vb over crushed {f['vb_crushed']:.3f}  "
            f"va everywhere {f['va']:.3f}  wa everywhere {f['wa']:.3f}")


def sharp_energy_kept(fused: np.ndarray, a: np.ndarray, b: np.ndarray, margin: int = 16) -> tuple[float, float]:
    """Gradient energy of the fused image over the sharper source's, on the left and on the right half
    (the seam left out): issue 13 asks for at least 0.9 on both (tests/refusion_core/fusing/test_stack.py)."""
    import cv2
    energy = lambda y: cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2  # noqa: E731
    w = fused.shape[1]
    halves = (slice(None, w // 2 - margin), slice(w // 2 + margin, None))
    ef, ea, eb = energy(fused), energy(a), energy(b)
    return tuple(float(ef[:, h].mean() / max(ea[:, h].mean(), eb[:, h].mean())) for h in halves)


def mfif_figures(path: Path) -> dict[str, float]:
    """Mean v_a over A's sharp (right) half, its blurred half and everywhere, and the sharp gradient energy
    kept on each half, on the synthetic camera multi-focus pair."""
    from skimage import data
    img = data.camera().astype(np.float32) / 255
    a, b = multifocus_pair(img, sigma=3.0)  # A sharp on the right
    result = Fuser(load_model(path, "mfif"), device="cpu").fuse(a, b)
    va, w, m = result.maps["va"], img.shape[1], 16
    left, right = sharp_energy_kept(result.fused_y, a, b)
    return {"va_sharp": float(va[:, w // 2 + m:].mean()), "va_blurred": float(va[:, :w // 2 - m].mean()),
            "va": float(va.mean()), "kept_left": left, "kept_right": right, "stack_min": float(stack_kept(path).min())}


def stack_kept(path: Path) -> np.ndarray:
    """What the model keeps of the sharpest frame's detail in each quarter of the 4-frame focus stack of
    tests/refusion_core/fusing/test_stack.py (scikit-image's astronaut at 128², σ = 3; two fusions per quarter)."""
    import cv2
    from skimage import data
    img = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return focus_stack_kept(Fuser(load_model(path, "mfif"), device="cpu"), img)


def _mfif_text(f: dict) -> str:
    return (f"va over A's sharp half {f['va_sharp']:.3f}  over its blurred half {f['va_blurred']:.3f}  "
            f"everywhere {f['va']:.3f}  sharp energy kept left {f['kept_left']:.2f} right {f['kept_right']:.2f}  "
            f"stack's weakest quarter {100 * f['stack_min']:.1f} %")


def passes(task: str, path: Path) -> tuple[bool, str]:
    """Whether ``path`` meets the learned-map tests' criteria for ``task`` (tests/refusion_core/training/test_learned_maps.py),
    and the figures: mfif v_a > 0.6 over A's sharp half and above its blurred half; meif v_a over the blown
    highlights > 0.5 and above the unclipped rest. One fusion of the synthetic pair."""
    if task == "mfif":
        f = mfif_figures(path)
        return f["va_sharp"] > 0.6 and f["va_sharp"] > f["va_blurred"], _mfif_text(f)
    f = meif_figures(path)
    return f["va_blown"] > 0.5 and f["va_blown"] > f["va_rest"], _meif_text(f)


def meif(path: Path) -> str:
    return _meif_text(meif_figures(path))


def mfif(path: Path) -> str:
    return _mfif_text(mfif_figures(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=("meif", "mfif"))
    ap.add_argument("weights", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.weights:
        print(f"{path}: {(meif if args.task == 'meif' else mfif)(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
