"""What the bundle ships and leaves out (packaging/bundle_config.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refusion_core import TASKS

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_resource_datas_takes_whatever_weights_are_there(cfg, tmp_path):
    res = tmp_path / "resources"
    for name in ("weights/ivif.safetensors", "weights/ivif.md", "weights/run.log", "weights/old.pth",
                 "samples/manifest.json", "samples/a.png", "samples/README.md", "samples/scratch.tmp",
                 "samples/stack/f1.png", "samples/volumes/v.nii.gz", "samples/volumes/v.nii",
                 "icons/app.svg", "icons/fuse.svg"):
        _touch(res / name)
    shipped = {(Path(src).relative_to(res).as_posix(), Path(dest).as_posix())
               for src, dest in cfg.resource_datas(res)}
    assert shipped == {
        ("weights/ivif.safetensors", "resources/weights"), ("weights/ivif.md", "resources/weights"),
        ("samples/manifest.json", "resources/samples"), ("samples/a.png", "resources/samples"),
        ("samples/README.md", "resources/samples"), ("samples/stack/f1.png", "resources/samples/stack"),
        ("samples/volumes/v.nii.gz", "resources/samples/volumes"),
        ("icons/app.svg", "resources/icons"), ("icons/fuse.svg", "resources/icons"),
    }
    missing = cfg.missing_resources(res, TASKS)
    assert "weights/ivif.safetensors" not in missing and "weights/mif.safetensors" in missing
    assert "weights/meif.md" in missing and "samples/manifest.json" not in missing


def test_the_real_resources_ship_samples_and_icons(cfg):
    shipped = {Path(src).relative_to(RESOURCES).as_posix() for src, _ in cfg.resource_datas(RESOURCES)}
    manifest = json.loads((RESOURCES / "samples" / "manifest.json").read_text(encoding="utf-8"))
    assert "samples/manifest.json" in shipped
    for pair in manifest["pairs"] + manifest.get("misaligned", []) + manifest.get("volumes", []):
        assert {f"samples/{pair['a']}", f"samples/{pair['b']}"} <= shipped
    for stack in manifest.get("stacks", []):
        assert {f"samples/{f}" for f in stack["frames"]} <= shipped
    assert {f"icons/{p.name}" for p in (RESOURCES / "icons").glob("*.svg")} <= shipped
    assert {f"weights/{p.name}" for p in (RESOURCES / "weights").glob("*.safetensors")} <= shipped


@pytest.mark.parametrize("module", ["PyQt5", "PyQt6", "PySide2", "tkinter", "_tkinter", "pytest", "_pytest",
                                    "matplotlib", "IPython", "torch.utils.tensorboard", "PySide6.QtNetwork"])
def test_excludes(cfg, module):
    assert module in cfg.EXCLUDES


@pytest.mark.parametrize("module", ["torch", "torch._dynamo", "torch._inductor", "sympy", "torch.testing",
                                    "torch.testing._internal", "torch.onnx", "scipy", "kornia", "PySide6.QtTest",
                                    "PySide6.QtOpenGL", "PySide6.QtSvg", "pydicom", "nibabel", "PIL", "requests"])
def test_modules_the_app_imports_are_not_excluded(cfg, module):
    """Each of these is in sys.modules after a fuse, a training step and building the main window."""
    assert not any(module == e or module.startswith(e + ".") for e in cfg.EXCLUDES)


@pytest.mark.parametrize("dest, dropped", [
    ("torch/bin/test_api", True), ("torch/bin/protoc", True), ("torch/bin/torch_shm_manager", False),
    ("torch/test/test_jit", True), ("torch/include/ATen/ATen.h", True), ("torch/share/cmake/Torch/x.cmake", True),
    ("torch/lib/libtorchbind_test.so", True), ("torch/lib/libjitbackend_test.so", True),
    ("torch/lib/libtorch_cpu.so", False), ("torch/lib/libshm.so", False), ("torch/lib/libc10.so", False),
    ("torch/_C/__init__.pyi", True), ("torch/nn/modules/conv.py", False),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", False), ("hypothesis-6.1.dist-info/METADATA", True),
    ("numpy-2.4.6.dist-info/METADATA", False),
])
def test_drop(cfg, dest, dropped):
    toc = [(dest, f"/site/{dest}", "BINARY")]
    assert (cfg.drop(toc) == []) is dropped


def test_drop_handles_windows_separators(cfg):
    assert cfg.drop([("torch\\bin\\test_api.exe", "x", "BINARY")]) == []


@pytest.mark.parametrize("path, dropped", [
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", True), ("PySide6/Qt/plugins/platforms/libqvnc.so", True),
    ("PySide6/Qt/plugins/platforms/libqlinuxfb.so", True), ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", True),
    ("PySide6/Qt/plugins/generic/libqevdevmouseplugin.so", True),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", False), ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False), ("PySide6/plugins/platforms/qwindows.dll", False),
    ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", False), ("PySide6/Qt/plugins/imageformats/libqsvg.so", False),
    ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", False),
    ("PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", False),
])
def test_qt_plugins(cfg, path, dropped):
    assert cfg.matches(path, cfg.QT_PLUGIN_DROP) is dropped


@pytest.mark.parametrize("path, cuda", [
    ("torch/lib/libtorch_cuda.so", True), ("nvidia/cublas/lib/libcublas.so.12", True),
    ("torch/lib/libcudnn.so.9", True), ("torch/lib/cudart64_12.dll", True), ("torch/lib/libc10_cuda.so", True),
    ("torch/lib/libtorch_cpu.so", False), ("torch/cuda/__init__.py", False), ("torch/lib/libc10.so", False),
])
def test_cuda_patterns(cfg, path, cuda):
    assert cfg.matches(path, cfg.CUDA_LIBS) is cuda


def test_strip_copies_replaces_only_the_listed_libraries(cfg, tmp_path):
    src = tmp_path / "libtorch_cpu.so"
    src.write_bytes(b"\x7fELF")
    fake_strip = tmp_path / "strip.sh"
    fake_strip.write_text('#!/bin/sh\ncp "$4" "$3"\necho "$@" >> "$0.log"\n')
    fake_strip.chmod(0o755)
    toc = [("torch/lib/libtorch_cpu.so", str(src), "BINARY"), ("cv2/cv2.abi3.so", "/x/cv2.so", "EXTENSION")]
    out = cfg.strip_copies(toc, tmp_path / "stripped", strip=str(fake_strip))
    assert out[1] == toc[1]
    assert out[0][1] == str(tmp_path / "stripped" / "torch/lib/libtorch_cpu.so")
    assert Path(out[0][1]).read_bytes() == b"\x7fELF"
    cfg.strip_copies(toc, tmp_path / "stripped", strip=str(fake_strip))  # reused: not stripped again
    calls = (tmp_path / "strip.sh.log").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("--strip-unneeded -o")
