"""Fuzzing the volume reader (issue 17): mutated NIfTI (.nii, .nii.gz) and DICOM (single-frame series,
multi-frame) files either read as a well-formed volume - float32, finite, positive spacing, a finite affine,
windowing to [0, 1] - or raise a one-line InputError; hostile headers are refused from the header, under a
memory ceiling. Bounded in time (twice ``REFUSION_FUZZ_SECONDS``: 6 s by default; the volume reader has
the most ways to fail); ``scripts/fuzz_readers.py``
runs the same cases for longer; ``python scripts/fuzz_readers.py --repro CASE`` reproduces a failure."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

from refusion_core.errors import InputError  # noqa: E402
from refusion_core.medical.volumes import read_volume  # noqa: E402

SEED = 17
SECONDS = 2 * float(os.environ.get("REFUSION_FUZZ_SECONDS", "3"))


def _fuzzing():
    """tests/refusion_core/io/fuzzing.py, loaded by path (tests/ is no package); one module for all users."""
    name = "refusion_fuzz_fuzzing"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "io" / "fuzzing.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


fz = _fuzzing()


def test_mutated_volumes_read_or_give_one_line(tmp_path):
    counts, failures = fz.fuzz("read_volume", SEED, SECONDS, tmp_path)
    report = "\n".join(f"{case.repro}\n    {outcome.detail}" for case, outcome in failures[:20])
    assert counts["ok"] + counts["InputError"] >= min(50, sum(counts.values())), counts
    assert not failures, f"{len(failures)} of {sum(counts.values())} cases failed:\n{report}"


def test_hostile_volume_headers_are_refused_under_a_memory_ceiling(tmp_path):
    names = [n for n, case in fz.HOSTILE.items() if case.reader == "read_volume"]
    results = fz.run_hostile(names, tmp_path)
    bad = {n: r for n, r in results.items() if r[0] != "InputError" or not re.search(fz.HOSTILE_MESSAGE, r[1])}
    assert not bad, bad


# --- the failures the fuzzing found, as plain regression tests ---------------------------------------------

FOUND = [  # one case of each kind of failure the first runs found (scripts/fuzz_readers.py --repro CASE)
    "read_volume:nii_int16_scaled:nifti_huge:199660018",  # IndexError in the message builder
    "read_volume:nii_int16_scaled:nifti_specials:1102038750",  # NaN in the affine
    "read_volume:nii_float32:nifti_specials:1970064706",  # 30 NaN voxels returned
    "read_volume:nii_int16_scaled:nifti_specials:398927203",  # NaN spacing
    "read_volume:nii_int16_scaled:nifti_field:1048150287",  # a side of 0: an empty volume returned
    "read_volume:sample_head_pet:nifti_field:257625391",  # infinite spacing
    "read_volume:sample_head_mr:inner_flip:1818979746",  # a 2-D file: ValueError unpacking its zooms
    "read_volume:dicom_multiframe:dicom_field:391007874",  # infinite slice spacing
    "read_volume:dicom_multiframe:dicom_field:1906323538",  # NaN slice spacing
    "read_volume:dicom_multiframe:dicom_field:1917777826",  # NumberOfFrames 'abc': ValueError
    "read_volume:dicom_multiframe:dicom_field:628870067",  # PixelSpacing with one value: TypeError
    "read_volume:dicom_series_signed8:interesting:1784762270",  # a damaged DS value: ValueError
    "read_volume:dicom_series_signed8:dicom_field:1604336467",  # multi-frame slices: a 4-D result
    "read_volume:dicom_series:dicom_field:119075906",  # two-valued orientation: ValueError in np.cross
    "read_volume:dicom_series_signed8:insert:267091360",  # slices of other sizes: ValueError in np.stack
    "read_volume:dicom_series_signed8:flip:480367070",  # unknown VR: NotImplementedError
    "read_volume:dicom_multiframe:overwrite:1945691993",  # a newline inside the message (transfer syntax)
]


@pytest.mark.parametrize("case", FOUND)
def test_what_the_fuzzing_found_stays_fixed(case, tmp_path):
    outcome = fz.run_case(fz.Case.parse(case), tmp_path)
    assert not outcome.failed, outcome.detail


def _nii(tmp_path, data: np.ndarray, name="v.nii") -> Path:
    path = tmp_path / name
    path.write_bytes(fz._nifti_bytes(data) if not name.endswith(".gz") else
                     __import__("gzip").compress(fz._nifti_bytes(data)))
    return path


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_huge_nifti_dimensions_are_refused_from_the_header(tmp_path, name):
    """The message builder itself raised IndexError (nibabel's empty message); 32767³ is over the limit and
    600³ over what the file can hold."""
    path = _nii(tmp_path, fz._volume_array(), name)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = __import__("gzip").decompress(raw)
    for side, match in ((32767, r"declares 32767 × 32767 × 32767 voxels .* above the limit"),
                        (600, r"600 × 600 × 600 voxels .*(but the file has|cannot hold)")):
        data = fz._nifti_dims(raw, side)
        path.write_bytes(__import__("gzip").compress(data) if name.endswith(".gz") else data)
        with pytest.raises(InputError, match=match):
            read_volume(path)


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_nan_slice_is_read_as_the_background_and_said(tmp_path):
    """The documented choice: NaN and ±inf voxels take the volume's lowest finite value, with a warning; no
    finite value at all is refused. (Before: 1,024 NaN voxels in an output said to be in [0, 1].)"""
    from refusion_core.medical.windowing import window

    x = fz._volume_array()  # (4, 6, 5) slices, rows, columns; min -100
    x[2] = np.nan
    x[0, 0, 0] = np.inf
    said, logger = _Lines(), logging.getLogger("refusion")
    logger.addHandler(said)  # directly: the CLI's setup may have turned propagation off
    try:
        vol = read_volume(_nii(tmp_path, x))
    finally:
        logger.removeHandler(said)
    assert np.isfinite(vol.data).all() and (vol.data[2] == -90).all() and vol.data[0, 0, 0] == -90
    assert said.lines == ["v.nii: 31 NaN or infinite voxel(s) read as the lowest value, -90"]
    w, _ = window(vol.data, None, vol.modality)
    assert np.isfinite(w).all() and 0 <= w.min() and w.max() <= 1
    with pytest.raises(InputError, match="no finite voxel value"):
        read_volume(_nii(tmp_path, np.full((2, 3, 4), np.nan, np.float32), "nan.nii"))


def _series(tmp_path, edit=None, n=3) -> Path:
    folder = tmp_path / "series"
    folder.mkdir(parents=True, exist_ok=True)
    raw = np.arange(n * 6 * 5).reshape(n, 6, 5) * 7 + 100
    sets = [fz.dicom_dataset(raw[i], 5.0 + 2.5 * i, i + 1) for i in range(n)]
    if edit:
        edit(sets)
    for i, ds in enumerate(sets):
        (folder / f"IM{i}").write_bytes(fz.dicom_bytes(ds))
    return folder


def test_dicom_slices_sharing_one_position_are_refused(tmp_path):
    def same(sets):
        sets[2].ImagePositionPatient = list(sets[0].ImagePositionPatient)
    with pytest.raises(InputError, match=r"IM0 and IM2 in series lie at the same position \(5 mm"):
        read_volume(_series(tmp_path, same))


def test_a_missing_dicom_slice_is_refused(tmp_path):
    folder = _series(tmp_path, n=5)
    (folder / "IM2").unlink()
    with pytest.raises(InputError, match=r"unevenly spaced: 5 mm between IM1 and IM3 where the median step is 2.5"):
        read_volume(folder)


@pytest.mark.parametrize("keyword,value,match", [
    ("Rows", None, "IM1 has no Rows: its image size is unknown"),
    ("Columns", 0, r"declares 1 frame\(s\) of 0 × 6 pixels"),
    ("BitsAllocated", 12, "declares 12 bits per pixel"),
    ("NumberOfFrames", "abc", r"unreadable NumberOfFrames \('abc'\)"),
    ("ImagePositionPatient", ["x", 1, 2], "unreadable ImagePositionPatient"),
    ("ImagePositionPatient", [1.0, 2.0], r"ImagePositionPatient has 2 value\(s\) \(1.0, 2.0\) where DICOM gives 3"),
    ("ImageOrientationPatient", [0, 0, 0, 0, 0, 0], "does not give two perpendicular directions"),
    ("PixelSpacing", [0, 0], "PixelSpacing .* must be positive"),
    ("RescaleSlope", float("nan"), "RescaleSlope is not a finite number"),
    ("RescaleSlope", 1e38, "beyond what a float32 holds"),
    ("SamplesPerPixel", 3, "3 samples per pixel"),
    ("Rows", 4096, r"pixel data holds 60 bytes but its header declares 1 frame\(s\) of 5 × 4096 pixels"),
])
def test_odd_dicom_values_give_one_line_naming_the_attribute(tmp_path, keyword, value, match):
    def edit(sets):
        fz._dicom_set(sets[1], keyword, value)
    with pytest.raises(InputError, match=match) as err:
        read_volume(_series(tmp_path, edit))
    assert "\n" not in str(err.value)


def test_a_damaged_dicom_file_in_a_series_is_refused_not_skipped(tmp_path):
    folder = _series(tmp_path)
    data = bytearray((folder / "IM1").read_bytes())
    at = data.index(struct.pack("<HH", 0x0002, 0x0010))  # the file meta's TransferSyntaxUID: VR "UI" -> nonsense
    data[at + 4:at + 6] = b"UH"
    (folder / "IM1").write_bytes(bytes(data))
    with pytest.raises(InputError, match="IM1 is a damaged DICOM file"):
        read_volume(folder)


def test_a_named_pipe_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file or a folder"):
        read_volume(fifo)


def test_slices_without_positions_go_by_instance_number_else_by_file_name(tmp_path):
    def no_positions(sets):
        for ds, number in zip(sets, (3, 1, 2)):
            del ds.ImagePositionPatient
            ds.InstanceNumber = number
    vol = read_volume(_series(tmp_path, no_positions))
    assert vol.data[:, 0, 0].tolist() == [-404.0, 16.0, -824.0]  # IM1, IM2, IM0 (stored 100 + 210 i, x2 - 1024)

    def one_unnumbered(sets):
        no_positions(sets)
        sets[0].InstanceNumber = 1
        del sets[1].InstanceNumber  # its index in the folder, 1, must not clash with IM0's number
    vol = read_volume(_series(tmp_path / "b", one_unnumbered))
    assert vol.data[:, 0, 0].tolist() == [-824.0, -404.0, 16.0]  # IM0, IM1, IM2
