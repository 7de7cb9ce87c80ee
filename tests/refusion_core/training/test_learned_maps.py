"""The shipped models' learned maps behave as the paper's figures say (Figs. 8–11).

Multi-focus: v favours the sharp half of each source. Multi-exposure: the gradient weight favours the
well-exposed source where the other is clipped. These need the default weights in resources/weights/.
"""

import numpy as np
import pytest

from refusion_core.fusing.fuser import Fuser
from refusion_core.models.checkpoint import load_model
from refusion_core.paths import default_weights_path
from refusion_core.training.synthetic import exposure_pair, exposure_regions, multifocus_pair

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the test image")


def fuser_for(task):
    if not default_weights_path(task).exists():
        pytest.skip(f"default weights for {task} are not in resources/weights yet")
    return Fuser(load_model(None, task), device="cpu")


def test_multifocus_v_favours_the_sharp_half():
    img = skimage_data.camera().astype(np.float32) / 255  # 512 x 512
    a, b = multifocus_pair(img, sigma=3.0)  # A: left half blurred; B: right half blurred
    maps = fuser_for("mfif").fuse(a, b).maps
    w = img.shape[1]
    margin = 16  # leave out the seam
    left, right = slice(None, w // 2 - margin), slice(w // 2 + margin, None)
    va, vb = maps["va"], maps["vb"]
    assert va[:, right].mean() > 0.6  # A is sharp on the right (the criterion)
    assert va[:, right].mean() > va[:, left].mean()  # each source's v is higher where it is sharp
    assert vb[:, left].mean() > vb[:, right].mean()


def exposure_case():
    img = skimage_data.astronaut().astype(np.float32) / 255
    under, over = exposure_pair(img, stops=2.0)
    maps = fuser_for("meif").fuse(under, over).maps
    blown, crushed = exposure_regions(under, over)  # over clipped & under fine; under clipped & over fine
    assert blown.sum() > 500 and crushed.sum() > 500
    return maps, blown, crushed, ~(blown | crushed)


def test_exposure_gradient_weight_avoids_blown_highlights():
    maps, blown, _, rest = exposure_case()
    assert maps["va"][blown].mean() > 0.5  # gradients from the under-exposed source A
    assert maps["va"][blown].mean() > maps["va"][rest].mean()  # because of the clipping, not a global bias


def test_exposure_gradient_weight_avoids_crushed_shadows():
    maps, _, crushed, rest = exposure_case()
    assert maps["vb"][crushed].mean() > 0.5  # gradients from the over-exposed source B
    assert maps["vb"][crushed].mean() > maps["vb"][rest].mean()


def test_multifocus_model_fuses_rather_than_copies_one_source():
    """A guard against a collapse seen in a longer CPU run (v_a -> 1 everywhere, F copying A): the fused
    image must take detail from both sources, and v must not sit on one source everywhere."""
    import cv2

    img = skimage_data.camera().astype(np.float32) / 255
    a, b = multifocus_pair(img, sigma=3.0)  # A sharp on the right, B on the left
    res = fuser_for("mfif").fuse(a, b)
    energy = lambda y: cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2  # noqa: E731
    w, m = img.shape[1], 16
    halves = lambda e: np.array([e[:, :w // 2 - m].mean(), e[:, w // 2 + m:].mean()])  # noqa: E731
    kept = halves(energy(res.fused_y)) / np.maximum(halves(energy(a)), halves(energy(b)))
    assert kept.min() > 0.15, kept  # detail from both halves (the 6-epoch model keeps more than 0.2)
    assert 0.05 < res.maps["va"].mean() < 0.95, res.maps["va"].mean()  # the collapsed model: 0.997
