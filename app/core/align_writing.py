"""Writing an accepted alignment: every frame registered to the first (the reference), cropped to the common
area if asked, written with the source's bit depth, plus ``transforms.json`` written by the CLI's own writer
(``refusion align`` and the app produce the same report).

Everything is written into a hidden temporary folder beside the destination and moved in only when complete,
so a failure or a Cancel never leaves a half-written folder. :func:`write_job` is a generator job for the job
runner (:mod:`app.qt.jobs`), like the reading and estimating jobs of :mod:`app.core.align`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from app.core.align import AlignSettings, Estimate, Loaded
from app.core.engine import TRANSFORMS_FILE, InputError, user_data_dir, write_image, write_transforms_report


def default_out_dir(paths: Sequence[Path], settings: AlignSettings) -> Path:
    """``<user data>/aligned/<first stem>-<hash of the source paths and settings>``: one folder per
    source set and settings, so aligning again with other settings never overwrites an earlier result."""
    key = json.dumps({"paths": [str(Path(p).resolve()) for p in paths], **settings.key()}, sort_keys=True)
    return user_data_dir() / "aligned" / f"{Path(paths[0]).stem}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def output_names(paths: Sequence[Path]) -> list[str]:
    """The files' own names; numbered (``02-name``) when two frames share a name (different folders)."""
    names = [Path(p).name for p in paths]
    if len(set(n.lower() for n in names)) == len(names):
        return names
    return [f"{i + 1:02d}-{n}" for i, n in enumerate(names)]


def write_job(loaded: Loaded, est: Estimate, out_dir: Path) -> Iterator[tuple[int, int, str]]:
    """Worker job: write the reference and the registered frames (bit depth and EXIF kept) and
    ``transforms.json`` into ``out_dir``; returns the written paths (images first, then the report).

    The uncropped reference is copied byte for byte. Writing happens in a temporary folder beside
    ``out_dir``; only a complete set is moved in (a fresh ``out_dir`` in one rename), and the temporary
    folder is removed whatever happens, including an abort between two files.
    """
    out_dir = Path(out_dir)
    names = output_names(loaded.paths)
    sources = {p.resolve() for p in loaded.paths}
    for name in names:
        if (out_dir / name).resolve() in sources:
            raise InputError(f"Writing {name} into {out_dir} would overwrite the original; choose another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    try:
        total = len(names) + 1
        yield (0, total, f"Writing {names[0]}…")
        if est.stack.box is None:
            shutil.copyfile(loaded.paths[0], tmp / names[0])
        else:
            write_image(tmp / names[0], est.stack.reference, exif=loaded.exifs[0])
        for i, (img, name) in enumerate(zip(est.stack.frames, names[1:]), 1):
            yield (i, total, f"Writing {name}…")
            write_image(tmp / name, img, exif=loaded.exifs[i])
        # the CLI's report (the reference is always written here: copied, or cropped)
        write_transforms_report(tmp, loaded.paths[0], list(loaded.paths[1:]), est.settings.model, est.stack,
                                [tmp / n for n in names], True)
        yield (total, total, "Moving the files into place…")
        written = names + [TRANSFORMS_FILE]
        if not out_dir.exists():
            os.replace(tmp, out_dir)
        else:
            for name in written:
                os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / n for n in written]

