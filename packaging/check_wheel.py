"""Check a non-editable install of the wheel (issue 14: a wheel that installs anywhere). Run by .ci/run with
the Python of a fresh virtual environment into which only the wheel was installed, from outside the checkout:
the default weights of every task, the icons and the samples must come from the installed data, and fusing a
sample pair with the installed ``refusion`` must work.

    python packaging/check_wheel.py   # with the venv's python, in an empty folder
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    import refusion_core
    from refusion_core import TASKS
    from refusion_core.models.checkpoint import load_model
    from refusion_core.paths import resources_dir

    res = resources_dir()
    where = Path(refusion_core.__file__).resolve()
    problems = []
    if not str(where).startswith(str(Path(sys.prefix).resolve())):
        problems.append(f"refusion_core comes from {where}, not from the installed wheel in {sys.prefix}")
    if not res.is_dir() or not str(res.resolve()).startswith(str(Path(sys.prefix).resolve())):
        problems.append(f"resources found at {res}, not in the installed data under {sys.prefix}")
    for task in TASKS:
        load_model(None, task)  # raises with a clear message when the file is missing or unreadable
    if len(list((res / "icons").glob("*.svg"))) < 5:
        problems.append(f"no icons in {res / 'icons'}")
    pair = json.loads((res / "samples" / "manifest.json").read_text())["pairs"][0]
    out = Path("fused.png").resolve()
    cmd = [sys.executable, "-m", "refusion_core", "fuse", str(res / "samples" / pair["a"]),
           str(res / "samples" / pair["b"]), "-o", str(out), "--task", pair["task"], "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        problems.append(f"fusing a sample failed: {proc.stderr.strip()}")
    for p in problems:
        print(f"check_wheel: {p}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: ok (refusion_core from {where.parent}, resources from {res}, 4 default models, "
              f"a {pair['task']} sample fused)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
