"""Turning dropped or opened paths into source pairs (pure logic, no Qt).

Rules (the pair list's drop contract):

* two files dropped together make one pair (A = first, B = second);
* two folders dropped together make pairs of files matched by file stem (``001.png`` in the first
  folder pairs with ``001.jpg`` in the second);
* one folder holding exactly two sub-folders is treated like those two folders;
* three or more files dropped together make one **stack** (a focus stack or an exposure bracket),
  its frames in file-name order (cameras number their frames); the engine fuses it as a tree of pairs;
* a single file fills the pending slot: it becomes A and waits for the next file as its B;
* files whose suffix is not an image suffix are skipped and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from app.core.methods import DEFAULT, MethodKey

TASK_TOKENS = ("ivif", "mif", "mfif", "meif")


@dataclass(frozen=True)
class Pair:
    """Registered source images of one scene: a pair ``a, b``, or a stack ``a, b, *rest`` (N ≥ 3).

    A stack keeps ``a`` and ``b`` as its first two frames, so everything that shows or trains on two
    sources works on a stack too; :attr:`paths` has all frames.
    """

    a: Path
    b: Path
    rest: tuple[Path, ...] = ()

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.a, self.b, *self.rest)

    @property
    def is_stack(self) -> bool:
        return bool(self.rest)

    @property
    def name(self) -> str:
        if self.is_stack:
            return f"{self.a.stem} … {self.rest[-1].stem} (stack of {len(self.paths)})"
        return self.a.stem if self.a.stem == self.b.stem else f"{self.a.stem} + {self.b.stem}"

    @property
    def key(self) -> str:
        return "|".join(str(p) for p in self.paths)

    def consecutive_pairs(self) -> list[tuple[Path, Path]]:
        """(frame i, frame i+1) for each neighbour in the stack (the pair itself for a pair)."""
        return list(zip(self.paths[:-1], self.paths[1:]))


@dataclass(frozen=True)
class ItemSetup:
    """What an item of the list is fused and trained with: its task and its model. Set when the item is added
    (:func:`task_from_paths`, else the task chosen then) and changed only for that item."""

    task: str
    model: MethodKey = DEFAULT


def task_from_paths(paths) -> str | None:  # noqa: ANN001 - paths of one item
    """The task the files of an item name, or None: a task's short name (``ivif``, ``mif``, ``mfif``, ``meif``)
    as a word of a file name (``ivif_ir.png``, ``mfif-near.jpg``) or of one of the three folders above it
    (``datasets/mfif/mfifb/a/001.png``). Choice: only these exact words count, so that ``Ir``, ``CT`` or
    ``over`` never guess wrong; when the files name two tasks, None."""
    found = set()
    for path in paths:
        path = Path(path)
        for part in (path.stem, *(q.name for q in list(path.parents)[:3])):
            found.update(w for w in re.split(r"[^a-z0-9]+", part.lower()) if w in TASK_TOKENS)
    return found.pop() if len(found) == 1 else None


def make_stack(paths: list[Path]) -> Pair:
    """A pair (two paths) or a stack (three or more), frames in the order given."""
    if len(paths) < 2:
        raise ValueError("a stack needs at least two images")
    return Pair(paths[0], paths[1], tuple(paths[2:]))


@dataclass
class DropPlan:
    pairs: list[Pair] = field(default_factory=list)
    pending: Path | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def is_image(path: Path, suffixes: frozenset[str]) -> bool:
    return path.is_file() and path.suffix.lower() in suffixes


def images_by_stem(folder: Path, suffixes: frozenset[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if is_image(p, suffixes):
            found.setdefault(p.stem, p)
    return found


def pair_folders(dir_a: Path, dir_b: Path, suffixes: frozenset[str]) -> tuple[list[Pair], list[str]]:
    """Pairs of files with the same stem in both folders, and the stems found in only one."""
    a, b = images_by_stem(dir_a, suffixes), images_by_stem(dir_b, suffixes)
    common = sorted(set(a) & set(b))
    alone = sorted(set(a) ^ set(b))
    return [Pair(a[s], b[s]) for s in common], alone


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _plan_folders(folders: list[Path], plan: DropPlan, suffixes: frozenset[str]) -> None:
    if len(folders) == 1 and len(_subfolders(folders[0])) == 2:
        folders = _subfolders(folders[0])
    if len(folders) != 2:
        for f in folders:
            plan.skipped.append((f, "drop two folders together to pair their files by name"))
        return
    pairs, alone = pair_folders(folders[0], folders[1], suffixes)
    plan.pairs.extend(pairs)
    if not pairs:
        plan.skipped.append((folders[0], f"no file in it has a partner of the same name in {folders[1].name}"))
    elif alone:
        shown = ", ".join(alone[:5]) + (" ..." if len(alone) > 5 else "")
        plan.skipped.append((folders[0], f"{len(alone)} file(s) have no partner of the same name: {shown}"))


def plan_drop(paths: list[Path], pending: Path | None, suffixes: frozenset[str]) -> DropPlan:
    """Work out which pairs a drop of ``paths`` makes, given a file already waiting for its B."""
    plan = DropPlan(pending=pending)
    folders = [p for p in paths if p.is_dir()]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            continue
        if not p.exists():
            plan.skipped.append((p, "the file does not exist"))
        elif not is_image(p, suffixes):
            plan.skipped.append((p, f"it is not an image this app reads ({p.suffix or 'no suffix'})"))
        else:
            files.append(p)
    if folders:
        _plan_folders(folders, plan, suffixes)
    if len(files) == 2 and not folders:
        plan.pairs.append(Pair(files[0], files[1]))
        return plan
    if len(files) >= 3:
        plan.pairs.append(make_stack(sorted(files, key=lambda p: (p.name.lower(), str(p)))))
        return plan
    for f in files:
        if plan.pending is None:
            plan.pending = f
        else:
            plan.pairs.append(Pair(plan.pending, f))
            plan.pending = None
    return plan
