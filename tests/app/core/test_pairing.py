"""The drop rules of the pair list, without Qt widgets."""

from pathlib import Path

from app.core.pairing import Pair, plan_drop

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


def test_three_or_more_files_make_one_stack_in_name_order(tmp_path):
    frames = [tmp_path / f"IMG_{i:04d}.tif" for i in (3, 1, 2, 4)]
    for f in frames:
        f.write_bytes(b"x")
    plan = plan_drop(frames, None, SUFFIXES)
    assert len(plan.pairs) == 1 and plan.pending is None
    stack = plan.pairs[0]
    assert stack.is_stack and [p.name for p in stack.paths] == [f"IMG_{i:04d}.tif" for i in (1, 2, 3, 4)]
    assert stack.a.name == "IMG_0001.tif" and stack.b.name == "IMG_0002.tif"  # A/B views show the first two
    assert stack.name == "IMG_0001 … IMG_0004 (stack of 4)"
    assert len(stack.consecutive_pairs()) == 3 and stack.key.count("|") == 3


def test_a_pair_is_not_a_stack():
    pair = Pair(Path("a.png"), Path("b.png"))
    assert not pair.is_stack and pair.paths == (Path("a.png"), Path("b.png"))
    assert pair.consecutive_pairs() == [(Path("a.png"), Path("b.png"))]
