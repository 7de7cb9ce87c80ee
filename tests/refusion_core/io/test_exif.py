"""EXIF: orientation applied on load, EXIF kept on export with Orientation reset to 1, non-ASCII paths."""

import numpy as np
import pytest

from refusion_core.io.exif import orientation, reset_orientation
from refusion_core.io.images import keeps_exif, read_image, read_image_exif, write_image

Image = pytest.importorskip("PIL.Image", reason="Pillow writes the EXIF test files")


def landscape_with_marker() -> np.ndarray:
    """20×40 RGB, a red 5×5 block in the top-left corner (RGB so that it is not read back as grey)."""
    img = np.zeros((20, 40, 3), np.uint8)
    img[:5, :5] = (255, 0, 0)
    return img


def exif_block(orient: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orient
    ex[0x010F] = "TestCam"
    ex[0x8769] = {0x9003: "2024:01:02 03:04:05"}
    return ex.tobytes()


def marker_centre(img: np.ndarray) -> np.ndarray:
    return np.argwhere(img[..., 0] > 128).mean(0)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_orientation_is_applied_on_load(tmp_path, suffix):
    path = tmp_path / f"o6{suffix}"
    Image.fromarray(landscape_with_marker()).save(path, exif=exif_block(6))  # 6 = rotate 90° clockwise
    img = read_image(path)
    assert img.shape[:2] == (40, 20)
    r, c = marker_centre(img)
    assert r < 5 and c > 15  # top-left corner went to the top-right


@pytest.mark.parametrize("orient,corner", [(1, (0, 0)), (3, (1, 1)), (8, (1, 0))])
def test_other_orientations(tmp_path, orient, corner):
    path = tmp_path / "o.jpg"
    Image.fromarray(landscape_with_marker()).save(path, exif=exif_block(orient), quality=95)
    img = read_image(path)
    r, c = marker_centre(img)
    h, w = img.shape[:2]
    assert (r > h / 2, c > w / 2) == tuple(map(bool, corner))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_exif_is_kept_with_orientation_reset(tmp_path, suffix, dtype):
    src = tmp_path / f"src{suffix}"
    Image.fromarray(landscape_with_marker()).save(src, exif=exif_block(6))
    img, exif = read_image_exif(src)
    assert orientation(exif) == 6
    out_img = img.astype(np.uint16) * 257 if dtype == np.uint16 else img
    out = write_image(tmp_path / "Ausgabe – 画像" / f"out{suffix}", out_img, exif=exif)
    if not keeps_exif(out, out_img):  # 16-bit RGB TIFF: Pillow cannot write it with EXIF
        assert suffix == ".tif" and dtype == np.uint16
        return
    back, back_exif = read_image_exif(out)
    assert orientation(back_exif) == 1
    assert back.shape == img.shape  # not rotated a second time
    pe = Image.open(out).getexif()
    assert pe[0x010F] == "TestCam" and pe.get_ifd(0x8769)[0x9003] == "2024:01:02 03:04:05"


def test_reset_orientation_both_byte_orders():
    for order in ("<", ">"):
        ex = Image.Exif()
        ex[0x0112] = 8
        block = ex.tobytes()
        if order == ">":  # Pillow writes little-endian; build a big-endian block by hand
            block = b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00"
        assert orientation(block) == 8
        assert orientation(reset_orientation(block)) == 1


def test_write_without_exif_is_unchanged(tmp_path):
    img = landscape_with_marker()
    _, exif = read_image_exif(write_image(tmp_path / "plain.png", img))
    assert exif is None
