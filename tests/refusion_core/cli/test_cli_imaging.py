"""The CLI's imaging commands as a user runs them: fuse with N images, input stretch, EXIF, non-ASCII paths;
align; fuse-volume. One-line errors with exit status 2 and nothing written."""

import numpy as np
import pytest

from refusion_core.cli.main import main
from refusion_core.io.images import read_image, write_image
from tests.refusion_core.cli.conftest import error_line

# --- stacks, input stretch, EXIF and non-ASCII paths (fuse) -----------------------------------------------

def test_fuse_stack_of_three_with_non_ascii_paths(pair_dirs, tmp_path, weights, capsys):
    folder = tmp_path / "Fokus – 焦点"
    paths = [write_image(folder / f"Bild {i} ü.png", read_image(pair_dirs[i % 2] / f"p{i}.png")) for i in range(3)]
    out = folder / "Ergebnis 融合.png"
    assert main(["fuse", *map(str, paths), "-o", str(out), "--weights", str(weights), "--device", "cpu"]) == 0
    assert read_image(out).shape == (48, 56, 3)
    capsys.readouterr()
    assert main(["fuse", *map(str, paths), "-o", str(tmp_path / "m.png"), "--weights", str(weights),
                 "--maps", str(tmp_path / "maps")]) == 2
    assert "only for pairs" in error_line(capsys)
    assert main(["fuse", str(paths[0]), "-o", str(tmp_path / "m.png")]) == 2
    assert "at least two images" in error_line(capsys)
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "maps").exists()


def test_fuse_stretches_raw_thermal_and_keeps_16_bits(pair_dirs, tmp_path, weights, capsys):
    ir = (29315 + read_image(pair_dirs[0] / "p0.png").astype(np.uint16) * 8).astype(np.uint16)  # narrow range
    ir_path = write_image(tmp_path / "ir.png", ir)
    vis = pair_dirs[1] / "p0.png"
    out = tmp_path / "f.png"
    assert main(["fuse", str(ir_path), str(vis), "-o", str(out), "--weights", str(weights)]) == 0
    assert "ir.png stretched" in capsys.readouterr().err and read_image(out).dtype == np.uint16
    assert main(["fuse", str(ir_path), str(vis), "-o", str(out), "--weights", str(weights),
                 "--stretch-input", "none"]) == 0
    assert "stretched" not in capsys.readouterr().err
    assert main(["fuse", str(ir_path), str(vis), "-o", str(out), "--weights", str(weights),
                 "--stretch-input", "none,auto,none"]) == 2
    assert "3 modes for 2 images" in error_line(capsys)


def test_fuse_keeps_exif_of_the_first_input(pair_dirs, tmp_path, weights):
    Image = pytest.importorskip("PIL.Image")
    from refusion_core.io.exif import orientation
    from refusion_core.io.images import read_image_exif

    ex = Image.Exif()
    ex[0x0112], ex[0x010F] = 6, "TestCam"
    a = tmp_path / "a.jpg"
    Image.fromarray(read_image(pair_dirs[1] / "p0.png")).save(a, exif=ex.tobytes(), quality=95)
    b = write_image(tmp_path / "b.png", np.rot90(read_image(pair_dirs[1] / "p1.png"), -1))  # upright like a
    out = tmp_path / "f.jpg"
    assert main(["fuse", str(a), str(b), "-o", str(out), "--weights", str(weights)]) == 0
    img, exif = read_image_exif(out)
    assert img.shape[:2] == (56, 48) and orientation(exif) == 1 and Image.open(out).getexif()[0x010F] == "TestCam"


# --- align ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def misaligned(tmp_path_factory):
    """A textured reference and two warped copies, in a folder with a non-ASCII name."""
    import cv2
    from skimage import data

    from refusion_core.training.synthetic import similarity_homography, warp_pair

    img = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    folder = tmp_path_factory.mktemp("align") / "Aufnahmen – 写真"
    hs = [similarity_homography(img.shape, tx=5, ty=-3, angle_deg=2), similarity_homography(img.shape, tx=-4, ty=6)]
    ref = write_image(folder / "ref.png", img)
    moving = [write_image(folder / f"bewegt {i} é.png", warp_pair(img, h)[1]) for i, h in enumerate(hs)]
    return ref, moving, hs


def test_align_writes_registered_images_and_transforms(misaligned, tmp_path, capsys):
    import json

    from refusion_core.registration.transforms import apply_matrix

    ref, moving, hs = misaligned
    out = tmp_path / "Ausgabe ä"
    assert main(["align", str(ref), *map(str, moving), "-o", str(out), "--model", "euclidean", "--crop"]) == 0
    report = json.loads((out / "transforms.json").read_text())
    assert report["model"] == "euclidean" and len(report["frames"]) == 2
    w, h = report["output_size"]
    assert read_image(out / "ref.png").shape[:2] == (h, w)
    for frame, hh, path in zip(report["frames"], hs, moving):
        assert frame["input"] == path.name and frame["method"] == "features" and frame["inliers"] > 20
        corners = np.array([[0, 0], [159, 0], [159, 159], [0, 159]], float)
        got, want = (apply_matrix(m, corners) for m in (np.array(frame["matrix"]), np.linalg.inv(hh)))
        assert np.abs(got - want).max() < 0.5
        assert read_image(out / path.name).shape[:2] == (h, w)


def test_align_with_control_points_and_ecc(misaligned, tmp_path):
    import json

    from refusion_core.registration.transforms import apply_matrix

    ref, moving, hs = misaligned
    mov_pts = np.array([[20, 20], [140, 25], [130, 140], [25, 130]], float)
    pts = {"ref": apply_matrix(np.linalg.inv(hs[0]), mov_pts).tolist(), "moving": mov_pts.tolist()}
    pfile = tmp_path / "punkte.json"
    pfile.write_text(json.dumps(pts))
    out = tmp_path / "o"
    assert main(["align", str(ref), str(moving[0]), "-o", str(out), "--points", str(pfile), "--model", "affine"]) == 0
    frame = json.loads((out / "transforms.json").read_text())["frames"][0]
    assert frame["method"] == "points" and frame["inliers"] == 4
    assert main(["align", str(ref), str(moving[1]), "-o", str(out), "--method", "ecc"]) == 0
    frame = json.loads((out / "transforms.json").read_text())["frames"][0]
    assert frame["method"] == "ecc" and frame["correlation"] > 0.9


def test_align_errors_are_one_line_and_write_nothing(misaligned, tmp_path, capsys):
    ref, moving, _ = misaligned
    noise = write_image(tmp_path / "noise.png", (np.random.default_rng(0).random((160, 160)) * 255).astype(np.uint8))
    out = tmp_path / "never"
    assert main(["align", str(ref), str(moving[0]), str(noise), "-o", str(out)]) == 2
    assert "noise.png" in error_line(capsys)
    assert main(["align", str(ref), str(moving[0]), "-o", str(ref.parent)]) == 2
    assert "would overwrite the input" in error_line(capsys)
    assert not out.exists()


# --- fuse-volume ------------------------------------------------------------------------------------------------

def test_fuse_volume(tmp_path, weights, capsys):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(0)
    affine = np.diag([0.9, 0.9, 3.0, 1.0])
    ct = nib.Nifti1Image((rng.random((24, 20, 3)) * 2000 - 1000).astype(np.int16), affine)
    mr = nib.Nifti1Image((rng.random((24, 20, 3)) * 800).astype(np.float32), affine)
    a, b = tmp_path / "ct – 断层.nii.gz", tmp_path / "mr.nii"
    nib.save(ct, str(a))
    nib.save(mr, str(b))
    out = tmp_path / "fused.nii.gz"
    assert main(["fuse-volume", str(a), str(b), "-o", str(out), "--weights", str(weights),
                 "--window-b", "400,800", "--dtype", "uint16"]) == 0
    assert "research use, not diagnosis" in capsys.readouterr().out
    img = nib.load(str(out))
    assert img.shape == (24, 20, 3) and img.get_data_dtype() == np.uint16
    np.testing.assert_allclose(img.affine, affine)
    assert 0 <= img.get_fdata().min() and img.get_fdata().max() <= 1
    assert main(["fuse-volume", str(a), str(b), "-o", str(tmp_path / "x.nii"), "--window-a", "wide"]) == 2
    assert "Cannot read the window" in error_line(capsys)
    nib.save(nib.Nifti1Image(np.zeros((24, 20, 2), np.float32), affine), str(tmp_path / "short.nii"))
    assert main(["fuse-volume", str(a), str(tmp_path / "short.nii"), "-o", str(tmp_path / "x.nii")]) == 2
    assert "3×20×24 voxels" in error_line(capsys) and not (tmp_path / "x.nii").exists()


def test_fuse_volume_help_says_research_use(capsys):
    with pytest.raises(SystemExit):
        main(["fuse-volume", "--help"])
    assert "research use, not diagnosis" in " ".join(capsys.readouterr().out.split()).lower()
