import numpy as np
import pytest

from refusion_core.errors import InputError
from refusion_core.io.images import check_pair, read_image, write_image


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
def test_round_trip_is_lossless(tmp_path, suffix, dtype, channels):
    rng = np.random.default_rng(0)
    shape = (17, 23) if channels == 1 else (17, 23, 3)
    img = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    path = write_image(tmp_path / f"x{suffix}", img)
    back = read_image(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, img)


def test_rgb_order_is_kept(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200  # red
    back = read_image(write_image(tmp_path / "red.png", img))
    assert back[0, 0].tolist() == [200, 0, 0]


def test_grey_stored_as_three_equal_channels_reads_as_grey(tmp_path):
    g = np.arange(48, dtype=np.uint8).reshape(6, 8)
    back = read_image(write_image(tmp_path / "g.png", np.dstack([g, g, g])))
    assert back.shape == (6, 8)


def test_non_ascii_path(tmp_path):
    folder = tmp_path / "Bilder – überbelichtet 画像"
    img = np.full((5, 6), 77, np.uint8)
    path = write_image(folder / "Brücke.png", img)
    np.testing.assert_array_equal(read_image(path), img)


def test_depth_conversion_and_float(tmp_path):
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert read_image(write_image(tmp_path / "f.png", x)).dtype == np.uint16
    eight = read_image(write_image(tmp_path / "e.png", x, bit_depth=8))
    assert eight.dtype == np.uint8 and eight.max() == 255
    assert read_image(write_image(tmp_path / "j.jpg", (x * 65535).astype(np.uint16))).dtype == np.uint8


@pytest.mark.parametrize("content,match", [(None, "not found"), (b"", "empty"),
                                           (b"\x89PNG\r\n\x1a\n garbage", "corrupt"),
                                           (b"hello world", "not an image")])
def test_bad_files(tmp_path, content, match):
    name = "x.txt" if match == "not an image" else "x.png"
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_image(path)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        write_image(tmp_path / "x.xyz", np.zeros((3, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_check_pair_names_both_sizes():
    with pytest.raises(InputError, match=r"a.png is 4×3 but b.png is 5×3.*registered"):
        check_pair(np.zeros((3, 4)), np.zeros((3, 5)), ("a.png", "b.png"))


def test_non_ascii_path_16_bit_colour_and_exif_reader(tmp_path):
    from refusion_core.io.images import read_image_exif

    img = np.random.default_rng(1).integers(0, 65536, size=(7, 9, 3), dtype=np.uint16)
    path = write_image(tmp_path / "Ordner ß" / "Wärmebild 熱画像.tif", img)
    back, exif = read_image_exif(path)
    np.testing.assert_array_equal(back, img)
    assert exif is None


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width × height (8-bit grey) with a tiny, truncated image stream."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(30000, 30000))
    with pytest.raises(InputError, match="declares 30000 × 30000 pixels"):
        read_image(bomb)
    monkeypatch.setenv("REFUSION_MAX_PIXELS", "1000")
    small = tmp_path / "small.png"
    write_image(small, np.zeros((40, 40), np.uint8))
    with pytest.raises(InputError, match="REFUSION_MAX_PIXELS"):
        read_image(small)
    monkeypatch.setenv("REFUSION_MAX_PIXELS", "2000")
    assert read_image(small).shape == (40, 40)


def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    import os
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_image(fifo)  # without the check, reading would block until a writer appeared


def test_float_images_without_finite_values_are_refused(tmp_path):
    import cv2
    nan = tmp_path / "nan.tif"
    cv2.imwrite(str(nan), np.full((16, 16), np.nan, np.float32))
    with pytest.raises(InputError, match="no finite pixel"):
        read_image(nan)
    some = tmp_path / "some.tif"
    x = np.linspace(0, 4, 256, dtype=np.float32).reshape(16, 16)
    x[0, :4] = [np.nan, np.inf, -np.inf, np.nan]
    cv2.imwrite(str(some), x)
    img = read_image(some)
    assert img.dtype == np.uint16 and img.max() == 65535 and img[0, :4].tolist() == [0, 0, 0, 0]
