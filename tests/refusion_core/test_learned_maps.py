"""The shipped models' learned maps behave as the paper's figures say (Figs. 8–11).

Multi-focus: v favours the sharp half of each source. Multi-exposure: the gradient weight favours the
well-exposed source where the other is clipped. These need the default weights in resources/weights/.
"""

import numpy as np
import pytest

from refusion_core.checkpoint import load_model
from refusion_core.inference import Fuser
from refusion_core.paths import default_weights_path
from refusion_core.synthetic import clipped_mask, exposure_pair, multifocus_pair

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
    va = maps["va"]
    assert va[:, w // 2 + margin:].mean() > 0.6  # A is sharp on the right
    assert maps["vb"][:, : w // 2 - margin].mean() > 0.6  # B is sharp on the left


def test_exposure_gradient_weight_favours_the_well_exposed_source():
    img = skimage_data.astronaut().astype(np.float32) / 255
    under, over = exposure_pair(img, stops=2.0)
    maps = fuser_for("meif").fuse(under, over).maps
    y = lambda x: x @ np.array([0.299, 0.587, 0.114], np.float32)
    blown = clipped_mask(y(over), which="high") & ~clipped_mask(y(under))  # over clipped, under fine
    crushed = clipped_mask(y(under), which="low") & ~clipped_mask(y(over))  # under clipped, over fine
    assert blown.sum() > 500 and crushed.sum() > 500
    assert maps["va"][blown].mean() > 0.5  # gradients from the under-exposed source A
    assert maps["vb"][crushed].mean() > 0.5  # gradients from the over-exposed source B
