"""The aligner works without its dialog: read, estimate, write, each a job; errors in one sentence."""

from app.controllers.aligning import Aligner
from app.core.align import TRANSFORMS_FILE, AlignSettings
from app.core.pairing import make_stack
from app.qt.errors import ErrorHandler
from app.screenshot import synthetic_misaligned


def test_read_estimate_write(qtbot, tmp_path):
    aligner = Aligner(make_stack(synthetic_misaligned(tmp_path, 96, 128)), ErrorHandler())
    with qtbot.waitSignal(aligner.loaded, timeout=20000):
        aligner.load()
    qtbot.waitUntil(lambda: not aligner.busy)  # the step's job has ended, not only delivered
    with qtbot.waitSignal(aligner.estimated, timeout=30000) as est:
        assert aligner.estimate(AlignSettings("features", "homography"))
    assert est.args[0] is aligner.estimation and len(aligner.estimation.transforms) == 1
    qtbot.waitUntil(lambda: not aligner.busy)
    with qtbot.waitSignal(aligner.written, timeout=20000) as written:
        assert aligner.write(tmp_path / "aligned")
    assert [p.name for p in written.args[0]] == ["moved_a.png", "moved_b.png", TRANSFORMS_FILE]
    qtbot.waitUntil(lambda: not aligner.busy)
    assert aligner.forget_estimate() and aligner.estimation is None and not aligner.write(tmp_path / "again")


def test_a_failed_step_says_why_once(qtbot, tmp_path, dialogs, images):
    aligner = Aligner(make_stack([images["grey"], images["corrupt"]]), ErrorHandler())
    with qtbot.waitSignal(aligner.failed, timeout=20000) as failed:
        aligner.load()
    qtbot.waitUntil(lambda: not aligner.busy)
    assert "broken.png is corrupt" in failed.args[0] and len(dialogs.shown) == 1 and aligner.sources is None
