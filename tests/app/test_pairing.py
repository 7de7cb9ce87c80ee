"""The drop rules of the pair list, without Qt widgets."""

from pathlib import Path

from app.pairing import Pair, plan_drop

SUFFIXES = frozenset({".png", ".jpg", ".tif"})


def test_two_files_make_a_pair(images):
    plan = plan_drop([images["grey"], images["colour"]], None, SUFFIXES)
    assert plan.pairs == [Pair(images["grey"], images["colour"])]
    assert plan.pending is None and not plan.skipped


def test_single_files_fill_a_then_b(images):
    plan = plan_drop([images["grey"]], None, SUFFIXES)
    assert plan.pairs == [] and plan.pending == images["grey"]
    plan = plan_drop([images["colour"]], plan.pending, SUFFIXES)
    assert plan.pairs == [Pair(images["grey"], images["colour"])] and plan.pending is None


def test_two_folders_pair_by_stem(images):
    plan = plan_drop([images["dir_a"], images["dir_b"]], None, SUFFIXES)
    assert [p.a.stem for p in plan.pairs] == ["s0", "s1", "s2"]
    assert all(p.b.parent == images["dir_b"] and p.b.suffix == ".jpg" for p in plan.pairs)
    assert "lonely" in plan.skipped[0][1]  # the unmatched file is reported, not silently dropped


def test_one_folder_with_two_subfolders(images):
    plan = plan_drop([images["dir_a"].parent], None, SUFFIXES)
    assert len(plan.pairs) == 3


def test_non_images_and_missing_files_are_skipped(images, tmp_path):
    plan = plan_drop([images["text"], tmp_path / "nope.png", images["grey"]], None, SUFFIXES)
    assert plan.pairs == [] and plan.pending == images["grey"]
    reasons = dict((p.name, why) for p, why in plan.skipped)
    assert "not an image" in reasons["notes.txt"] and "does not exist" in reasons["nope.png"]


def test_pair_name():
    assert Pair(Path("x/01.png"), Path("y/01.png")).name == "01"
    assert Pair(Path("ir.png"), Path("vis.png")).name == "ir + vis"
