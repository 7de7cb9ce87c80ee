"""What goes into the ReFusion Studio bundle and what stays out; used by ReFusionStudio.spec and build.py.

Plain data and small functions (no PyInstaller import), so tests/packaging can check them cheaply.

* :func:`resource_datas` -- the ``resources/`` files to ship: default weights (``weights/*.safetensors``)
  with their model cards (``weights/*.md``), the sample pairs with ``manifest.json`` and the icons. It takes
  whatever is there at build time; missing weights are reported by build.py and by ``--self-test``.
* :data:`EXCLUDES` -- modules PyInstaller must not follow: other Qt bindings, Tk, test frameworks,
  notebooks, build tools. None of them is imported when the app runs (checked with ``sys.modules`` after
  a fuse, a training step and building the main window).
* :data:`DROP` / :data:`KEEP` -- files the hooks collect that the app never loads (PyTorch's C++ test
  programs, test libraries, headers, CMake files); :data:`QT_PLUGIN_DROP` -- Qt plugins left out before
  their dependencies are resolved; :data:`STRIP` -- libraries stripped of their symbol tables (Linux);
  :data:`MODULE_COLLECTION_MODE` -- the engine's sources ship too (TorchScript). Sizes are in
  docs/PACKAGING.md.
* :data:`DESKTOP_ENTRY` / :data:`DOCUMENT_TYPES` -- opening files with the app from the desktop: the
  freedesktop entry the Linux build puts beside the executable (``Exec=refusion-studio %F``, the image
  MIME types), and the file types the macOS bundle declares (Finder's "Open With", drops on the Dock icon).
* :data:`CUDA_LIBS` -- patterns of CUDA runtime libraries: a CPU build must contain none (build.py checks);
  a GPU build (``--gpu``) keeps them.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

APP_NAME = "ReFusionStudio"  # the folder, the executable and (on macOS) the .app; = refusion_core.paths.APP_NAME
CLI_NAME = "refusion"  # the console executable on Windows (the engine CLI and --self-test with output)
BUNDLE_ID = "org.refusion.ReFusionStudio"

DESKTOP_ENTRY = "refusion-studio.desktop"  # in packaging/; Icon=refusion-studio: a PNG of that name goes beside it
DESKTOP_ICON = "refusion-studio.png"

# macOS (Info.plist): the images the app reads (refusion_core.io.images.IMAGE_SUFFIXES) by their UTI, the
# netpbm ones and the volumes by extension (no system UTI; .nii.gz is left out), and folders (two folders =
# pairs by file name). Rank Alternate: the app is offered in "Open With" but never takes over as the default
# viewer. Finder passes the files as file-open events, not arguments: app/qt/file_open.py.
DOCUMENT_TYPES = [
    {"CFBundleTypeName": "Image", "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
     "LSItemContentTypes": ["public.png", "public.jpeg", "public.tiff", "com.microsoft.bmp", "org.webmproject.webp"]},
    {"CFBundleTypeName": "Netpbm image", "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
     "CFBundleTypeExtensions": ["pgm", "ppm", "pnm"]},
    {"CFBundleTypeName": "Medical volume (NIfTI, DICOM)", "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
     "CFBundleTypeExtensions": ["nii", "dcm"]},  # not "gz": the app would be offered for every archive
    {"CFBundleTypeName": "Folder", "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
     "LSItemContentTypes": ["public.folder"]},
]

RESOURCE_PATTERNS = (
    "weights/*.safetensors",
    "weights/*.md",
    "samples/*.png",
    "samples/*/*.png",  # the focus stack and the misaligned pair
    "samples/*/*.nii.gz",  # the volume pair
    "samples/manifest.json",
    "samples/README.md",
    "icons/*.svg",
)

EXCLUDES = [
    # other Qt bindings and GUI toolkits: the app is PySide6 only; QtNetwork (and its TLS plugins) is unused
    "PyQt5", "PyQt6", "PySide2", "sip", "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib",
    "PySide6.QtNetwork",
    # test frameworks and test helpers that only tests import
    "pytest", "_pytest", "pytestqt", "pluggy", "hypothesis", "expecttest", "skimage", "benchmarks", "tests",
    "numpy.tests", "numpy.testing.tests", "scipy.conftest", "torch.fx.passes.tests",
    # notebooks, docs, plotting back-ends the app does not use
    "IPython", "ipykernel", "jupyter_client", "notebook", "matplotlib", "sphinx", "docutils",
    # PyTorch parts for development, export and profiling, never imported by the app
    "torch.utils.tensorboard", "tensorboard", "torch.utils.benchmark", "torch.utils.bottleneck",
    "torch.testing._internal.opinfo", "torch.testing._internal.common_methods_invocations",
    "torch.testing._internal.distributed.rpc", "torch.testing._internal.optests",
    "torch.testing._internal.generated", "torch.testing._internal.test_module",
    "torch.testing._internal.codegen", "torch.testing._internal.data",
    "onnx", "onnxruntime", "onnxscript",
    # optional TLS back-end of urllib3 (only requests' downloads reach it; the app downloads nothing)
    "cryptography", "OpenSSL",
    # build tooling
    "setuptools", "pkg_resources", "distutils", "pip", "wheel", "Cython", "pybind11",
]

DROP = [
    # PyTorch: C++ test programs and protoc (torch_shm_manager stays: see KEEP), headers, CMake files,
    # test-only libraries
    "torch/bin/*", "torch/test/*", "torch/include/*", "torch/share/*", "torch/lib/*.a",
    "torch/lib/libtorchbind_test*", "torch/lib/libjitbackend_test*", "torch/lib/libbackend_with_compiler*",
    "torch/lib/libaoti_custom_ops*", "*.pyi", "*.cmake", "*.h", "*.hpp", "*.cuh", "*.cpp",
    "hypothesis-*.dist-info/*",  # metadata of an excluded test library
]
KEEP = ["torch/bin/torch_shm_manager*"]  # `import torch` checks that it exists (shared-memory tensors)

# Qt plugins the QtGui hook would collect (see hooks/hook-PySide6.QtGui.py), filtered before PyInstaller
# resolves their library dependencies: displays for embedded systems (EGL full screen, framebuffer, VNC,
# Vulkan), evdev/TUIO input, the GTK 3 theme (it would bring cairo/pango/gdk-pixbuf from the build machine
# and mix them with the user's GTK; Qt's own style and the XDG portal theme remain), the virtual keyboard.
QT_PLUGIN_DROP = [
    "*/plugins/platforms/*eglfs*", "*/plugins/platforms/*minimalegl*", "*/plugins/platforms/*linuxfb*",
    "*/plugins/platforms/*vnc*", "*/plugins/platforms/*vkkhrdisplay*", "*/plugins/egldeviceintegrations/*",
    "*/plugins/generic/*", "*/plugins/platformthemes/*gtk3*", "*/plugins/platforminputcontexts/*virtualkeyboard*",
    "*/plugins/imageformats/*qpdf*",
]

# Linux: libraries with a full symbol table that only debuggers use; `strip --strip-unneeded` takes
# 85 MiB off libtorch_cpu.so (434 -> 345 MB) in seconds. Only these: stripping libraries that auditwheel
# patched (the *.libs folders) can break them.
STRIP = ["torch/lib/libtorch_cpu.so", "torch/lib/libtorch_python.so", "torch/lib/libc10.so"]

# Modules collected as bytecode *and* .py source. The engine's sources (0.3 MB) ship so that TorchScript
# and `inspect` work on them: the fast path once scripted refusion_core/fusing/kernels.py, and a bytecode-only
# bundle then failed its self-test ("OSError: Can't get source for conv3"). torch's own hook already does
# this for torch (41 MiB of sources; `import torch` needs some of them: with bytecode only it fails with
# "OSError: could not get source code"), so torch is left as its hook says.
MODULE_COLLECTION_MODE = {"refusion_core": "pyz+py"}

CUDA_LIBS = [
    "*libcudart*", "*libcublas*", "*libcudnn*", "*libcufft*", "*libcurand*", "*libcusolver*",
    "*libcusparse*", "*libnccl*", "*libnvrtc*", "*libnvJitLink*", "*libnvToolsExt*", "*libcupti*",
    "*libtorch_cuda*", "*libc10_cuda*", "*cudart64_*", "*cublas64_*", "*cudnn*64_*", "nvidia/*", "triton/*",
]


def resource_datas(resources: Path) -> list[tuple[str, str]]:
    """(source file, destination folder) for every resource file to ship, relative to the bundle root."""
    out = []
    for pattern in RESOURCE_PATTERNS:
        for path in sorted(resources.glob(pattern)):
            if path.is_file():
                out.append((str(path), str(Path("resources") / path.parent.relative_to(resources))))
    return out


def missing_resources(resources: Path, tasks) -> list[str]:
    """What a complete bundle needs but ``resources`` lacks (weights and model cards per task, samples, icons)."""
    need = [f"weights/{t}.safetensors" for t in tasks] + [f"weights/{t}.md" for t in tasks]
    need += ["samples/manifest.json", "icons/app.svg"]
    return [n for n in need if not (resources / n).is_file()]


def matches(dest: str, patterns) -> bool:
    """Whether a bundle path (``/`` or ``\\`` separated, relative to the bundle root) matches any pattern."""
    dest = dest.replace("\\", "/")
    return any(fnmatch(dest, p) for p in patterns)


def drop(toc, patterns=DROP, keep=KEEP):
    """``toc`` (PyInstaller's (dest, src, kind) entries) without those whose dest matches ``patterns``
    (unless it matches ``keep``)."""
    return [e for e in toc if not matches(e[0], patterns) or matches(e[0], keep)]


def strip_copies(toc, out_dir: Path, patterns=STRIP, strip: str | None = None):
    """``toc`` with the libraries matching ``patterns`` replaced by stripped copies in ``out_dir`` (Linux;
    without a ``strip`` program ``toc`` is returned as it is). Copies are reused while newer than the source."""
    import shutil
    import subprocess

    strip = strip or shutil.which("strip")
    if not strip:
        return list(toc)
    out = []
    for dest, src, kind in toc:
        if matches(dest, patterns):
            target = out_dir / dest
            if not target.exists() or target.stat().st_mtime < Path(src).stat().st_mtime:
                target.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([strip, "--strip-unneeded", "-o", str(target), src], check=True)
            src = str(target)
        out.append((dest, src, kind))
    return out
