"""Build ReFusion Studio as a one-folder application with PyInstaller, for the platform this runs on.

    python packaging/build.py [--self-test] [--archive] [--gpu] [--resources DIR] [--clean]

Output: ``dist/ReFusionStudio/ReFusionStudio`` (``.exe`` on Windows, plus the console ``refusion.exe``;
``dist/ReFusionStudio.app`` on macOS); on Linux the desktop entry ``refusion-studio.desktop`` and its icon
``refusion-studio.png`` beside the executable. Prints the build time and the bundle's size with its largest parts.

--self-test   run ``ReFusionStudio --self-test`` on the result (headless) and exit with its status
--archive     also pack the folder: ``dist/ReFusionStudio-<version>-<os>-<arch>.tar.gz`` (.zip on Windows/macOS)
--gpu         a GPU build: the installed torch must be a CUDA build; its CUDA libraries are kept
--resources   ship another resources folder (default: resources/ of this checkout)
--clean       empty PyInstaller's cache and build/ first

Exit status: 0 built (and self-test passed), 1 build or self-test failed, 2 wrong set-up (no PyInstaller,
a CUDA torch for a CPU build or the reverse).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bundle_config as cfg  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--self-test", action="store_true", help="run the bundle's --self-test after building")
    p.add_argument("--archive", action="store_true", help="also pack the folder into a .tar.gz / .zip")
    p.add_argument("--gpu", action="store_true", help="GPU build: keep the CUDA libraries of a CUDA torch")
    p.add_argument("--resources", type=Path, default=ROOT / "resources", help="resources folder to ship")
    p.add_argument("--clean", action="store_true", help="clear PyInstaller's cache and build/ first")
    p.add_argument("--dist", type=Path, default=ROOT / "dist", help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, default=ROOT / "build", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    problem = check_setup(args.gpu)
    if problem:
        print(f"build.py: {problem}", file=sys.stderr)
        return 2
    report_resources(args.resources.resolve())
    report_optional()
    t0 = time.perf_counter()
    rc = run_pyinstaller(args)
    took = time.perf_counter() - t0
    if rc != 0:
        print(f"build.py: PyInstaller failed (exit status {rc}) after {took:.0f} s", file=sys.stderr)
        return 1
    folder = args.dist / cfg.APP_NAME
    print(f"built {folder} in {took / 60:.1f} min ({took:.0f} s)")
    print_size(folder)
    cuda = [] if args.gpu else find(folder, cfg.CUDA_LIBS)
    if cuda:
        print(f"build.py: CPU build contains CUDA libraries: {', '.join(cuda[:5])}", file=sys.stderr)
        return 1
    unresolved = unresolved_qt_libs(folder)
    if unresolved:
        print("WARNING: the Qt platform plugins need libraries that were not on this machine, so the bundle "
              f"relies on the user's system for them: {', '.join(unresolved)} (Debian/Ubuntu: apt-get install "
              "libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 before building bundles them)")
    if sys.platform.startswith("linux"):
        print(f"desktop entry: {', '.join(p.name for p in desktop_entry(folder))}")
    if args.archive:
        print(f"archive: {make_archive(args.dist, folder)}")
    return self_test(folder) if args.self_test else 0


def check_setup(gpu: bool) -> str | None:
    """None if PyInstaller is there and the installed torch fits the kind of build, else the problem."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        return "PyInstaller is not installed: python -m pip install -e \".[package,medical]\""
    import torch

    if gpu and not torch.version.cuda:
        return f"--gpu needs a CUDA build of torch; this one is {torch.__version__} (CPU only)"
    if not gpu and torch.version.cuda:
        return (f"torch {torch.__version__} is a CUDA build (CUDA {torch.version.cuda}): pass --gpu for a GPU "
                "build, or install the CPU wheel (--index-url https://download.pytorch.org/whl/cpu)")
    return None


def report_resources(resources: Path) -> None:
    from refusion_core import TASKS

    shipped = cfg.resource_datas(resources)
    print(f"resources: {resources} ({len(shipped)} files)")
    missing = cfg.missing_resources(resources, TASKS)
    if missing:
        print(f"WARNING: not in {resources}, so not in the bundle: {', '.join(missing)} "
              "(--self-test will fail for tasks without default weights)")


OPTIONAL = {"pydicom": "DICOM input", "nibabel": "NIfTI input and output"}  # the medical extra


def report_optional() -> list[str]:
    """Warn about optional packages that are not installed, so not in the bundle; returns their names."""
    import importlib.util

    missing = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]
    if missing:
        print(f"WARNING: {', '.join(missing)} not installed, so the bundle lacks "
              f"{', '.join(OPTIONAL[m] for m in missing)} (pip install -e \".[package,medical]\")")
    return missing


def run_pyinstaller(args) -> int:
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)
    env = {**os.environ, "REFUSION_BUILD_RESOURCES": str(args.resources.resolve()),
           "REFUSION_BUILD_GPU": "1" if args.gpu else "0", "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "PyInstaller", str(HERE / "ReFusionStudio.spec"), "--noconfirm",
           "--log-level", "WARN", "--distpath", str(args.dist), "--workpath", str(args.work)]
    if args.clean:
        cmd.append("--clean")
    print("$", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def tree_size(path: Path) -> int:
    """Bytes under ``path``; links (PyInstaller links top-level libraries into package folders) count 0."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def print_size(folder: Path, top: int = 8) -> None:
    """Total size and the largest top-level parts (packages, libraries) of the bundle."""
    inner = folder / "_internal"
    total = tree_size(folder)
    count = sum(1 for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"bundle size: {total / 2**20:.0f} MiB ({count} files)")
    parts = sorted(((tree_size(p), p.name) for p in (inner if inner.is_dir() else folder).iterdir()), reverse=True)
    for size, name in parts[:top]:
        print(f"  {size / 2**20:7.1f} MiB  {name}")


def unresolved_qt_libs(folder: Path) -> list[str]:
    """Linux: libraries the bundled Qt platform plugins (xcb, wayland) link but neither the bundle nor this
    system has (``ldd`` says "not found")."""
    ldd = shutil.which("ldd")
    if not sys.platform.startswith("linux") or not ldd:
        return []
    internal = folder / "_internal"
    env = {**os.environ, "LD_LIBRARY_PATH": f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}"}
    missing = set()
    for plugin in (internal / "PySide6" / "Qt" / "plugins" / "platforms").glob("*.so"):
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, env=env).stdout
        missing.update(line.split()[0] for line in out.splitlines() if "not found" in line)
    return sorted(missing)


def desktop_entry(folder: Path) -> list[Path]:
    """Linux: the freedesktop entry (``Exec=refusion-studio %F``: files opened from a file manager arrive as
    arguments) and its 256 px icon, put beside the executable; the user copies them to
    ``~/.local/share/applications`` and ``~/.local/share/icons/hicolor/256x256/apps`` (docs/PACKAGING.md)."""
    from icons import render_png

    entry = Path(shutil.copyfile(HERE / cfg.DESKTOP_ENTRY, folder / cfg.DESKTOP_ENTRY))
    icon = folder / cfg.DESKTOP_ICON
    icon.write_bytes(render_png(ROOT / "resources" / "icons" / "app.svg", 256))
    return [entry, icon]


def find(folder: Path, patterns) -> list[str]:
    rels = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [r for r in rels if cfg.matches(r.removeprefix("_internal/"), patterns)]


def make_archive(dist: Path, folder: Path) -> Path:
    from refusion_core import __version__

    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    base = dist / f"{cfg.APP_NAME}-{__version__}-{system}-{platform.machine().lower()}"
    app = dist / f"{cfg.APP_NAME}.app"
    source = app if sys.platform == "darwin" and app.is_dir() else folder
    fmt = "gztar" if sys.platform.startswith("linux") else "zip"
    return Path(shutil.make_archive(str(base), fmt, root_dir=source.parent, base_dir=source.name))


def self_test(folder: Path) -> int:
    exe = folder / (f"{cfg.CLI_NAME}.exe" if sys.platform == "win32" else cfg.APP_NAME)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("REFUSION_RESOURCES", None)  # test what the bundle carries
    print(f"$ {exe} --self-test", flush=True)
    return 0 if subprocess.call([str(exe), "--self-test"], env=env) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
