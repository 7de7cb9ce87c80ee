"""benchmarks/bench_quality.py: a run for some tasks rewrites only their sections; the verdict names both targets."""

import pytest


@pytest.fixture(scope="module")
def bq(repo_module):
    return repo_module("benchmarks", "bench_quality")


def section(task: str, body: str) -> str:
    return f"## {task}: set/{task}, test split (3 pairs)\n\n{body}\n"


def test_merge_replaces_only_the_rerun_tasks_and_keeps_their_order(bq):
    old = "\n".join([section("ivif", "old ivif"), section("mif", "old mif\n\n| table |"), section("meif", "old meif")])
    merged = bq.merge_sections(old, {"mif": section("mif", "new mif"), "mfif": section("mfif", "new mfif")})
    assert [line for line in merged.splitlines() if line.startswith("## ")] == [
        "## ivif: set/ivif, test split (3 pairs)", "## mif: set/mif, test split (3 pairs)",
        "## meif: set/meif, test split (3 pairs)", "## mfif: set/mfif, test split (3 pairs)"]
    assert "old ivif" in merged and "old meif" in merged and "new mif" in merged and "new mfif" in merged
    assert "old mif" not in merged and "| table |" not in merged  # the whole old section goes, table included
    assert bq.merge_sections("", {"mif": section("mif", "x")}) == section("mif", "x")


def test_verdict_counts_wins_against_the_released_checkpoint_and_the_laplacian_pyramid(bq):
    names = ["EN", "SD", "SF", "AG", "SCD", "SSIM"]
    mean = lambda *v: dict(zip(names, v))  # noqa: E731
    res = {"paper_metrics": names, "higher_is_better": {n: True for n in names},
           "methods": {bq.OURS: {"mean": mean(5, 5, 5, 5, 5, 5)},
                       bq.RELEASED: {"mean": mean(4, 4, 4, 4, 6, 6)},
                       "laplacian": {"mean": mean(6, 6, 6, 4, 4, 6)}}}
    v = bq.verdict(res)
    assert "released checkpoint on 4 of 6 (meets" in v and "Laplacian pyramid on 2 of 6 (misses" in v
    del res["methods"][bq.RELEASED]
    assert "no comparison" in bq.verdict(res)


def test_compose_keeps_the_hand_written_gap_section_and_what_follows_the_marker(bq):
    old = "\n".join(["# old header\n", section("ivif", "old ivif"), section("mif", "old mif"),
                     bq.GAP_HEADING + "\n\n- Medical: written by hand after a campaign stage.\n",
                     bq.KEPT_MARKER + "\n\n## Diagnostics\n\nby hand\n"])
    text = bq.compose(old, "# Quality benchmark\n", {"ivif": section("ivif", "new ivif")})
    assert text.startswith("# Quality benchmark\n") and "old header" not in text
    assert "new ivif" in text and "old ivif" not in text and "old mif" in text
    assert text.count(bq.GAP_HEADING) == 1 and "written by hand after a campaign stage" in text
    assert text.index("old mif") < text.index(bq.GAP_HEADING) < text.index(bq.KEPT_MARKER) < text.index("by hand\n")
    assert bq.compose(text, "# Quality benchmark\n", {}) == text  # a rerun changes nothing by hand
    fresh = bq.compose("", "# Quality benchmark\n", {"mif": section("mif", "x")})
    assert bq.GAP_HEADING in fresh and "x" in fresh
