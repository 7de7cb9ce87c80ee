"""ReFusion engine: networks F, R, P, losses, meta-learning trainer, inference, I/O, metrics, CLI.

Pure Python + PyTorch. This package never imports Qt (enforced by tests/refusion_core/test_no_qt.py).
"""

__version__ = "0.1.0"

TASKS = ("ivif", "mif", "mfif", "meif")
TASK_NAMES = {
    "ivif": "infrared + visible",
    "mif": "medical (MRI + CT/PET/SPECT)",
    "mfif": "multi-focus",
    "meif": "multi-exposure",
}
