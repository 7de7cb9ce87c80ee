"""A classical method's result in the app is made like a model's: through the engine's one pipeline."""

import numpy as np

from app.core import engine
from app.core.methods import MethodKey
from app.core.results import baseline_result


def test_a_baseline_result_has_the_dtype_and_colour_of_a_model_result():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    res = baseline_result(MethodKey.baseline("laplacian"), a, b)
    assert res.image.dtype == np.uint8 and res.image.shape == (24, 32, 3)
    assert res.y.dtype == np.float32 and res.y.shape == (24, 32)


def test_the_adapter_fuses_a_pair_and_a_stack_the_same_way():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 65536, (16, 20), dtype=np.uint16) for _ in range(3)]
    pair, _ = engine.fuse_baseline("average", frames[:2])
    stack, _ = engine.fuse_baseline("average", frames)
    assert pair.dtype == stack.dtype == np.uint16
    expected = np.round((frames[0].astype(np.float64) + frames[1]) / 2)
    assert np.abs(pair.astype(np.float64) - expected).max() <= 1
