"""Fuzz the engine's readers for longer than CI does (issue 17): the same seeds, mutations and oracle as
tests/refusion_core/io/test_fuzz_images.py and tests/refusion_core/medical/test_fuzz_volumes.py
(tests/refusion_core/io/fuzzing.py).

    python scripts/fuzz_readers.py --minutes 5 --seed 1          # time split evenly between the readers
    python scripts/fuzz_readers.py --minutes 2 --readers read_volume
    python scripts/fuzz_readers.py --cases 2000 --seed 1         # a fixed number of cases per reader
    python scripts/fuzz_readers.py --repro read_volume:nii_float32:nifti_huge:0   # one case, verbosely
    python scripts/fuzz_readers.py --hostile                     # the hostile headers under a memory ceiling

Prints, per reader, how many cases gave a well-formed result (ok), a one-line InputError, or anything else
(other: a failure), then one line per failure with its reproduction command. Exit status 1 when any case
failed. The decoders' own chatter on stderr (libpng, libjpeg, libtiff, OpenCV) goes to a log file, not the
terminal, unless ``--stderr``.
"""

from __future__ import annotations

import argparse
import collections
import re
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing


def _fuzzing():
    import importlib.util

    path = REPO / "tests" / "refusion_core" / "io" / "fuzzing.py"
    spec = importlib.util.spec_from_file_location("refusion_fuzz_fuzzing", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _quiet_stderr(log: Path) -> None:
    """Point fd 2 at ``log`` (C libraries write there directly); Python's sys.stderr follows."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="total time, split between the readers")
    ap.add_argument("--cases", type=int, default=None, help="at most this many cases per reader")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--readers", nargs="+", default=None, help="default: all")
    ap.add_argument("--repro", metavar="READER:SEED:MUTATION:N", help="run one case and show everything")
    ap.add_argument("--keep", type=Path, default=None, help="with --repro: write the case's file(s) here")
    ap.add_argument("--hostile", action="store_true", help="the hostile-header cases under a memory ceiling")
    ap.add_argument("--stderr", action="store_true", help="leave the decoders' messages on stderr")
    args = ap.parse_args(argv)
    fz = _fuzzing()

    if args.repro:
        case = fz.Case.parse(args.repro)
        folder = args.keep or Path(tempfile.mkdtemp(prefix="refusion-fuzz-"))
        outcome = fz.run_case(case, folder)
        print(f"{case}: {outcome.kind} in {outcome.seconds:.3f} s")
        print(f"  {outcome.detail}")
        print(f"  files: {folder}")
        if outcome.failed:  # run it again without the oracle's net, for the traceback
            import warnings

            warnings.simplefilter("ignore")
            try:
                fz.read(case.reader, fz.materialise(case, folder / "again"))
            except Exception:  # noqa: BLE001
                import traceback

                traceback.print_exc(file=sys.stdout)
        return int(outcome.failed)

    if args.hostile:
        names = list(fz.HOSTILE)
        with tempfile.TemporaryDirectory(prefix="refusion-fuzz-") as tmp:
            results = fz.run_hostile(names, Path(tmp))
        bad = 0
        for name in names:
            kind, detail = results[name]
            print(f"{name:26s} {kind:11s} {detail}")
            bad += kind != "InputError" or not re.search(fz.HOSTILE_MESSAGE, detail)
        return int(bad > 0)

    readers = args.readers or list(fz.READERS)
    unknown = [r for r in readers if r not in fz.READERS]
    if unknown:
        ap.error(f"unknown reader(s) {unknown}; choose from {list(fz.READERS)}")
    log = Path(tempfile.gettempdir()) / "refusion-fuzz-stderr.log"
    if not args.stderr:
        sys.stdout.flush()
        out = os.fdopen(os.dup(1), "w", buffering=1)
        _quiet_stderr(log)
    else:
        out = sys.stdout
    budget = args.minutes * 60 / len(readers)
    print(f"fuzzing {', '.join(readers)}: seed {args.seed}, "
          + (f"{args.cases} cases or " if args.cases else "") + f"{budget:.0f} s each", file=out)
    total_failures = []
    rows = []
    for reader in readers:
        t0 = time.monotonic()
        slowest = [0.0, None]

        def note(case, outcome):
            if outcome.seconds > slowest[0]:
                slowest[:] = [outcome.seconds, case]

        with tempfile.TemporaryDirectory(prefix="refusion-fuzz-") as tmp:
            counts, failures = fz.fuzz(reader, args.seed, budget, Path(tmp), max_cases=args.cases, on_case=note)
        dt = time.monotonic() - t0
        n = sum(counts.values())
        rows.append((reader, counts, n, dt, slowest))
        print(f"{reader:16s} {n:6d} cases in {dt:5.0f} s: ok {counts['ok']}, InputError {counts['InputError']}, "
              f"other {counts['other']}" + (f", unbuildable {counts['unbuildable']}" if counts["unbuildable"] else "")
              + f"; slowest read {slowest[0]:.2f} s ({slowest[1]})", file=out)
        total_failures += failures
    if total_failures:
        print(f"\n{len(total_failures)} failure(s):", file=out)
        groups = collections.Counter(o.detail.split(":")[0] for _, o in total_failures)
        for what, k in groups.most_common():
            print(f"  {k:5d}  {what}", file=out)
        print(file=out)
        for case, outcome in total_failures:
            print(f"{case.repro}\n    {outcome.detail}", file=out)
    by_mutation = collections.Counter()
    for case, _ in total_failures:
        by_mutation[case.mutation] += 1
    if by_mutation:
        print("\nfailures by mutation: " + ", ".join(f"{m} {k}" for m, k in by_mutation.most_common()), file=out)
    if not args.stderr:
        print(f"(the decoders' stderr is in {log})", file=out)
    return int(bool(total_failures))


if __name__ == "__main__":
    sys.exit(main())
