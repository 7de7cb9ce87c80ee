"""Registration: known warps recovered to < 1 px at the corners, control points, crop, clear failures."""

import cv2
import numpy as np
import pytest

from refusion_core.registration.align import (
    RegistrationError,
    Transform,
    align_stack,
    common_area,
    estimate_transform,
    read_control_points,
    transform_from_points,
    valid_mask,
    warp_to,
)
from refusion_core.training.synthetic import similarity_homography, warp_pair
from refusion_core.registration.transforms import apply_matrix, fit_points

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """RGB float32 (256, 256, 3) in [0, 1]: a textured photograph."""
    img = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255


def known_warp(shape, **kw) -> np.ndarray:
    """A similarity plus a little perspective: moving = warpPerspective(ref, H)."""
    h = similarity_homography(shape, **({"tx": 6.3, "ty": -4.2, "angle_deg": 3.0, "scale": 1.04} | kw))
    h[2, :2] = (4e-5, -2e-5)
    return h


def corner_error(t: Transform, h_true: np.ndarray, shape) -> float:
    """Largest distance between where the estimate and the truth put the image corners (px)."""
    hh, ww = shape[:2]
    corners = np.array([[0, 0], [ww - 1, 0], [ww - 1, hh - 1], [0, hh - 1]], float)
    return float(np.abs(apply_matrix(t.matrix, corners) - apply_matrix(np.linalg.inv(h_true), corners)).max())


@pytest.mark.parametrize("method", ["features", "ecc"])
def test_recovers_known_homography(astronaut, method):
    h = known_warp(astronaut.shape)
    ref, moving = warp_pair(astronaut, h)
    t = estimate_transform(ref, moving, "homography", method)
    err = corner_error(t, h, ref.shape)
    assert err < 1.0, f"{method}: corner error {err:.3f} px"
    assert (t.inliers or 0) > 50 if method == "features" else t.correlation > 0.95


@pytest.mark.parametrize("model,kw", [("affine", {}), ("euclidean", {"scale": 1.0}),
                                      ("translation", {"angle_deg": 0.0, "scale": 1.0})])
def test_lower_models(astronaut, model, kw):
    h = similarity_homography(astronaut.shape, **({"tx": 5.5, "ty": -3.25, "angle_deg": 2.0, "scale": 1.03} | kw))
    ref, moving = warp_pair(astronaut, h)
    for method in ("features", "ecc"):
        t = estimate_transform(ref, moving, model, method)
        assert t.model == model and corner_error(t, h, ref.shape) < 1.0, method


def test_ecc_edges_on_infrared_visible_like_pair():
    """VIS = the photo's luminance; 'IR' = inverted, gamma-remapped and blurred: intensities are
    anti-correlated and features do not match, but edges sit in the same places. Both cameras see a
    scene larger than the frame (the warp is applied to the whole 512² photo, then both are cropped), so
    there are no artificial borders; 'IR' is stored as narrow-range 16-bit like raw thermal."""
    vis_full = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    ir_full = cv2.GaussianBlur((1.0 - vis_full) ** 2, (0, 0), 1.0)
    h = known_warp(vis_full.shape)
    ir_full = warp_pair(ir_full, h)[1]
    c = np.array([[1, 0, -128], [0, 1, -128], [0, 0, 1.0]])  # full -> crop coordinates
    vis, ir = vis_full[128:384, 128:384], ir_full[128:384, 128:384]
    ir16 = (ir * 4000 + 29000).astype(np.uint16)
    with pytest.raises(RegistrationError):
        estimate_transform(vis, ir16, "homography", "ecc")
    t = estimate_transform(vis, ir16, "homography", "ecc-edges")
    assert corner_error(t, c @ h @ np.linalg.inv(c), vis.shape) < 1.0


def test_control_points_exact(astronaut):
    h = known_warp(astronaut.shape)
    hinv = np.linalg.inv(h)
    mov = np.array([[10, 12], [240, 20], [230, 240], [15, 220], [128, 128]], float)
    ref = apply_matrix(hinv, mov)
    t = transform_from_points(ref[:4], mov[:4], "homography")
    np.testing.assert_allclose(t.matrix, hinv / hinv[2, 2], atol=1e-6)
    np.testing.assert_allclose(t.apply(mov[:4]), ref[:4], atol=1e-6)
    a = similarity_homography(astronaut.shape, tx=3, ty=2, angle_deg=5)
    t3 = transform_from_points(apply_matrix(a, mov[:3]), mov[:3], "affine")
    np.testing.assert_allclose(t3.matrix, a, atol=1e-9)
    np.testing.assert_allclose(t3.matrix[:2], cv2.getAffineTransform(mov[:3].astype(np.float32),
                                                                     apply_matrix(a, mov[:3]).astype(np.float32)),
                               atol=1e-4)
    assert t.extra["rms_px"] < 1e-6
    with pytest.raises(RegistrationError, match="at least 4 point pairs"):
        transform_from_points(ref[:3], mov[:3], "homography")
    with pytest.raises(RegistrationError, match="collinear"):
        fit_points("affine", np.array([[0, 0], [1, 1], [2, 2.0]]), np.array([[0, 0], [1, 1], [2, 2.0]]))


def test_read_control_points(tmp_path):
    single = tmp_path / "p.json"
    single.write_text('{"ref": [[1, 2], [3, 4], [5, 7]], "moving": [[0, 0], [2, 2], [4, 5]]}')
    pts = read_control_points(single, ["m.png"])
    assert pts["m.png"][0].shape == (3, 2)
    with pytest.raises(Exception, match="one set of control points"):
        read_control_points(single, ["a.png", "b.png"])
    keyed = tmp_path / "k.json"
    keyed.write_text('{"a.png": {"ref": [[1, 2]], "moving": [[0, 0]]}}')
    with pytest.raises(Exception, match="no control points for b.png"):
        read_control_points(keyed, ["a.png", "b.png"])


def test_failures_are_plain_sentences(astronaut):
    rng = np.random.default_rng(0)
    noise = rng.random(astronaut.shape[:2]).astype(np.float32)
    flat = np.full((64, 64), 0.5, np.float32)
    with pytest.raises(RegistrationError, match="feature matches|Too few features"):
        estimate_transform(astronaut, noise, "homography", "features", names=("a.png", "b.png"))
    with pytest.raises(RegistrationError, match="Too few features found in b.png"):
        estimate_transform(astronaut, flat, "homography", "features", names=("a.png", "b.png"))
    with pytest.raises(RegistrationError, match="ECC"):
        estimate_transform(astronaut, noise, "homography", "ecc", names=("a.png", "b.png"))
    with pytest.raises(RegistrationError, match="Unknown transform model"):
        estimate_transform(astronaut, astronaut, "spline")


def test_warp_and_crop_to_common_area(astronaut):
    frames, hs = [], []
    for i, kw in enumerate([{"tx": 8, "ty": 3}, {"tx": -6, "ty": -5, "angle_deg": 2.0}]):
        h = similarity_homography(astronaut.shape, **kw)
        frames.append(warp_pair(astronaut, h)[1])
        hs.append(h)
    u16 = (frames[0] * 65535).astype(np.uint16)
    assert warp_to(astronaut.shape, u16, np.eye(3)).dtype == np.uint16
    res = align_stack(astronaut, frames, "euclidean", "ecc", crop=True, names=["ref", "f1", "f2"])
    x, y, w, hh = res.box
    assert res.reference.shape == res.frames[0].shape == (hh, w, 3)
    assert 200 < w < 256 and 200 < hh < 256
    for f, m in zip(res.frames, res.masks):
        assert m.all()  # every pixel of the crop is covered by every frame
        assert np.abs(f - res.reference).mean() < 0.02
    masks = [valid_mask(astronaut.shape, astronaut.shape, Transform(np.linalg.inv(h))) for h in hs]
    bx, by, bw, bh = common_area(masks)
    assert all(m[by:by + bh, bx:bx + bw].all() for m in masks)


def test_common_area_fails_without_overlap():
    a, b = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    a[:, :5], b[:, 5:] = True, True
    with pytest.raises(RegistrationError, match="no area in common"):
        common_area([a, b])


@pytest.mark.parametrize("ref_name,moving_name", [("ivif_vis", "ivif_ir"), ("mif_mri", "mif_ct")])
def test_ecc_edges_on_bundled_cross_modal_samples(ref_name, moving_name):
    """Real pairs (a black medical background included): warping the moving image by a known transform
    moves the estimate by exactly that transform (the bundled pairs are themselves only about registered)."""
    from refusion_core.io.images import read_image
    from refusion_core.paths import resources_dir

    folder = resources_dir() / "samples"
    ref, moving = read_image(folder / f"{ref_name}.png"), read_image(folder / f"{moving_name}.png")
    h = similarity_homography(moving.shape, tx=4, ty=-3, angle_deg=1.5)
    warped = cv2.warpPerspective(moving, h, moving.shape[1::-1])
    t0 = estimate_transform(ref, moving, "homography", "ecc-edges")
    t1 = estimate_transform(ref, warped, "homography", "ecc-edges")
    assert corner_error(t1, h @ np.linalg.inv(t0.matrix), ref.shape) < 1.0
