"""ReFusion engine: networks F, R, P, losses, meta-learning trainer, inference, I/O, metrics, CLI.

Pure Python + PyTorch. This package never imports Qt (enforced by tests/refusion_core/test_no_qt.py).
"""

__version__ = "0.1.0"

TASKS = ("ivif", "mif", "mfif", "meif")

MAP_NAMES = ("wa", "wb", "va", "vb")
"""P's four loss-weight maps, in its output order: intensity weights of A and B, gradient weights of A and B."""


def task_from_name(stem: str) -> str | None:
    """The task a file name ends with (``ReFusion_MFIF`` -> ``mfif``), or None."""
    low = stem.lower()
    for t in sorted(TASKS, key=len, reverse=True):  # "mfif"/"meif" before "mif"
        if low.endswith("_" + t) or low == t:
            return t
    return None


TASK_NAMES = {
    "ivif": "infrared + visible",
    "mif": "medical (MRI + CT/PET/SPECT)",
    "mfif": "multi-focus",
    "meif": "multi-exposure",
}
