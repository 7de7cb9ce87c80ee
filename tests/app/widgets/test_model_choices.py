"""Model choices: a released checkpoint imported from a file, another model as the comparison,
and the device box when CUDA is missing."""

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from app.core.methods import MethodKey

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def released_pth():
    path = REPO.parent / "shared" / "anchors" / "refusion_official" / "ReFusion_IVIF.pth"
    if not path.is_file():
        pytest.skip("../shared with the authors' released checkpoints is not beside the checkout")
    return path


def test_import_released_checkpoint_and_fuse(window, images, released_pth, monkeypatch, wait_idle, dialogs):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(released_pth), ""))
    window.act["import"].trigger()
    assert window.state.choices.model == MethodKey.pth(released_pth)
    assert window.model_box.currentText() == "ReFusion_IVIF.pth (released)"
    window.pair_list.add_paths([images["grey"], images["colour"]])
    assert window.fusing.fuse()
    wait_idle(window)
    assert dialogs.shown == [], dialogs.text()
    assert window.state.workspace.fused.source["sha256"] and window.state.workspace.maps.arrays == {}  # F only: no maps
    assert "no loss proposal module" in window.maps.title.text()


def test_compare_with_another_model(window, images, model_file, wait_idle):
    import shutil

    from refusion_core.paths import user_models_dir

    other = Path(shutil.copy(model_file, user_models_dir() / "other.safetensors"))
    window.state.models.refresh()
    index = window.compare.compare_box.index_of(MethodKey.user(other))
    assert index >= 0
    assert window.compare.compare_box.index_of(window.state.choices.model) < 0  # not itself
    window.pair_list.add_paths([images["grey"], images["colour"]])
    window.state.choices.set_compare(MethodKey.user(other))
    assert window.fusing.fuse()
    wait_idle(window)
    assert window.state.workspace.second.label == "other" and window.state.workspace.second.source["kind"] == "user"
    assert set(window.state.workspace.metrics) == {"tiny", "other"}


def test_missing_cuda_falls_back_to_auto(window):
    window.state.choices.set_device("cuda")
    window.device_box.set_cuda_usable(False)
    assert window.state.choices.device == "auto" and window.device_box.currentData() == "auto"
    item = window.device_box.model().item(window.device_box.findData("cuda"))
    assert not item.isEnabled()


def test_models_of_another_task_come_last_and_say_so(window, model_file, tmp_path):
    from refusion_core.models.checkpoint import load_model, save_model
    from refusion_core.paths import user_models_dir

    from app.core.engine import model_task

    mfif = save_model(user_models_dir() / "focus.safetensors", load_model(model_file, "ivif"), task="mfif")
    released = tmp_path / "ReFusion_MEIF.pth"
    released.write_bytes(b"not read here")
    assert model_task(mfif) == "mfif" and model_task(model_file) == "ivif" and model_task(released) == "meif"
    labels = [e.label for e in window.state.models.entries("ivif")]
    assert labels.index("tiny") < labels.index("focus — mfif model")
    window.state.choices.set_task("mfif")
    labels = [window.model_box.itemText(i) for i in range(window.model_box.count())]
    assert "focus" in labels and "tiny — ivif model" in labels
    assert labels.index("focus") < labels.index("tiny — ivif model")
