"""Medical volumes: NIfTI and DICOM (series and multi-frame) read with HU and geometry; windows; slice-by-slice
fusion; NIfTI output on the reference grid. All test data are built here."""

import numpy as np
import pytest

from refusion_core.fusing.baselines import average
from refusion_core.errors import InputError
from refusion_core.medical.volumes import Volume, check_same_grid, fuse_volumes, read_volume, write_nifti
from refusion_core.medical.windowing import apply_window, auto_window, parse_window, resolve_window

SHAPE = (3, 6, 5)  # slices, rows, columns


def ramp(offset: float = 0.0) -> np.ndarray:
    return (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) * 10 - 1000 + offset)


def nifti(path, data_srw: np.ndarray, zooms=(0.8, 0.9, 2.5), descrip=b"") -> str:
    nib = pytest.importorskip("nibabel")
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = (-10, 20, 5)
    img = nib.Nifti1Image(np.ascontiguousarray(data_srw.transpose(2, 1, 0)), affine)
    img.header["descrip"] = descrip
    nib.save(img, str(path))
    return str(path)


def test_windows():
    x = np.array([-1000, 0, 40, 80, 2000], np.float32)
    np.testing.assert_allclose(apply_window(x, 40, 80), [0, 0, 0.5, 1, 1])
    assert resolve_window(x, "bone") == (400.0, 1800.0) and parse_window("40, 400") == (40.0, 400.0)
    assert resolve_window(x, None, "CT") == (400.0, 1800.0)
    c, w = auto_window(np.r_[np.zeros(1000), np.linspace(10, 110, 1001)])  # background 0 is left out
    assert c == pytest.approx(60, abs=1) and w == pytest.approx(99, abs=1.5)
    for bad in ("wide", "40", "40,0"):
        with pytest.raises(InputError):
            parse_window(bad)


def test_nifti_round_trip_and_geometry(tmp_path):
    vol = read_volume(nifti(tmp_path / "ct.nii.gz", ramp()))
    np.testing.assert_array_equal(vol.data, ramp())
    assert vol.spacing == pytest.approx((2.5, 0.9, 0.8)) and vol.orientation == "RAS"
    assert vol.modality == "CT"  # guessed: nothing but CT goes down to -900
    unit = (ramp() + 1000) / 1000  # 0 .. 0.89
    out = write_nifti(tmp_path / "Ergebnis – 融合" / "f.nii.gz", Volume(unit, vol.spacing, vol.affine), "uint16")
    back = pytest.importorskip("nibabel").load(str(out))
    assert back.get_data_dtype() == np.uint16
    np.testing.assert_allclose(back.affine, vol.affine)
    np.testing.assert_allclose(read_volume(out).data, unit, atol=1 / 65535)


def test_fuse_volumes_slice_by_slice(tmp_path):
    a = read_volume(nifti(tmp_path / "a.nii", ramp(), descrip=b"CT"))
    b = read_volume(nifti(tmp_path / "b.nii", ramp(700) * 3, descrip=b"MR"))
    ticks = []
    fused, info = fuse_volumes(average, a, b, window_a="-500,1000", progress=lambda d, t: ticks.append(d))
    assert fused.data.shape == SHAPE and fused.data.dtype == np.float32 and ticks == [1, 2, 3]
    wa = apply_window(a.data, -500, 1000)
    wb = apply_window(b.data, *info["window_b"])
    np.testing.assert_allclose(fused.data, (wa + wb) / 2, atol=1e-6)
    np.testing.assert_allclose(fused.affine, a.affine)
    assert info["window_a"] == (-500.0, 1000.0)


def test_geometry_mismatch_names_both(tmp_path):
    a = read_volume(nifti(tmp_path / "a.nii", ramp()))
    b = read_volume(nifti(tmp_path / "b.nii", ramp()[:2]))
    with pytest.raises(InputError, match=r"a.nii is 3×6×5 voxels of 2.5×0.9×0.8 mm but b.nii is 2×6×5"):
        check_same_grid(a, b)
    c = read_volume(nifti(tmp_path / "c.nii", ramp(), zooms=(0.8, 0.9, 3.0)))
    with pytest.raises(InputError, match="3×0.9×0.8 mm"):
        fuse_volumes(average, a, c)


# --- DICOM ---------------------------------------------------------------------------------------------

def dicom_slice(path, pixels: np.ndarray, z: float, number: int, series: str, frames: int = 1):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = "CT", series, number
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-10.0, -20.0, z]
    ds.PixelSpacing, ds.SliceThickness = [0.9, 0.8], 2.5
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    try:
        pydicom.dcmwrite(str(path), ds, enforce_file_format=True)  # pydicom 3
    except TypeError:
        pydicom.dcmwrite(str(path), ds, write_like_original=False)  # pydicom 2.4


def stored() -> np.ndarray:
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 7 + 100).astype(np.uint16)


def test_dicom_series_sorted_by_position_with_hu(tmp_path):
    pytest.importorskip("pydicom")
    folder = tmp_path / "Serie – 序列"
    folder.mkdir()
    raw = stored()
    for i in (2, 0, 1):  # written out of order, instance numbers deliberately reversed
        dicom_slice(folder / f"IM{i}", raw[i], z=5.0 + 2.5 * i, number=10 - i, series="1.2.3")
    (folder / "notes.txt").write_text("not DICOM")
    vol = read_volume(folder)
    np.testing.assert_array_equal(vol.data, raw.astype(np.float32) * 2 - 1024)
    assert vol.modality == "CT" and vol.units == "HU" and vol.orientation == "LPS"
    assert vol.spacing == pytest.approx((2.5, 0.9, 0.8))
    np.testing.assert_allclose(vol.affine @ [0, 0, 1, 1], [10, 20, 7.5, 1])  # RAS of slice 1's corner
    dicom_slice(folder / "other", raw[0], 0.0, 1, series="9.9")
    with pytest.raises(InputError, match="2 DICOM series"):
        read_volume(folder)


def test_dicom_multi_frame(tmp_path):
    pytest.importorskip("pydicom")
    dicom_slice(tmp_path / "mf.dcm", stored(), z=0.0, number=1, series="1.2", frames=SHAPE[0])
    vol = read_volume(tmp_path / "mf.dcm")
    assert vol.data.shape == SHAPE and vol.spacing == pytest.approx((2.5, 0.9, 0.8))
    np.testing.assert_array_equal(vol.data, stored().astype(np.float32) * 2 - 1024)


def test_not_a_volume(tmp_path):
    pytest.importorskip("pydicom")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="no DICOM images"):
        read_volume(tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_volume(tmp_path / "missing.nii")


@pytest.mark.parametrize("descrip,modality", [(b"MR", "MR"), (b"CT", "CT"), (b"PT", "PT"), (b"phantom", "")])
def test_modality_from_a_bare_nifti_description(tmp_path, descrip, modality):
    # the header field is zero-padded: a bare "MR" must still read as MR (values > 0 rule out the CT guess)
    vol = read_volume(nifti(tmp_path / "v.nii", ramp(700) * 3 + 1000, descrip=descrip))
    assert vol.modality == modality


def test_written_volume_keeps_its_modality(tmp_path):
    vol = read_volume(nifti(tmp_path / "v.nii", ramp(700) * 3 + 1000, descrip=b"PT"))
    back = read_volume(write_nifti(tmp_path / "out.nii.gz", vol))
    assert back.modality == "PT"  # our own descrip "ReFusion PT; research use..." reads back
