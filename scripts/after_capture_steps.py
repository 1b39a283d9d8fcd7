"""What ``toygrpc trace`` does once the capture has ended, timed on a saved run's raw files:
``python scripts/after_capture_steps.py RUN_DIR SCRATCH_DIR``.

Copies RUN_DIR's raw inputs (not its outputs) to SCRATCH_DIR (a new directory, or one
this script made before), then runs the command's steps: the merge and the analysis,
the Perfetto trace with the forked writer of ``events.jsonl`` and ``summary.json``
beside it, and the report, printed to a string. Prints each step's wall time. Run it
with ``PYTHONPATH=CHECKOUT`` for each of two checkouts, in turns, to compare them on the
same input (the code before ``ForkedWork.join`` returned a value works too).
"""

from __future__ import annotations

import io
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from toygrpc import pipeline
from toygrpc.analysis.run import Run
from toygrpc.capture.merge import build_timeline
from toygrpc.forked import ForkedWork
from toygrpc.model.manifest import Manifest
from toygrpc.render.perfetto import PerfettoRenderer

OUTPUTS = {"events.jsonl", "trace.perfetto-trace", "trace.json", "summary.json"}
MARK = ".after_capture_steps"  # says the scratch directory is this script's to replace


def copy_inputs(run_dir: Path, scratch: Path) -> None:
    if scratch.exists():
        if not (scratch / MARK).is_file():
            raise SystemExit(f"{scratch} exists and was not made by this script: "
                             "give a new directory")
        shutil.rmtree(scratch)
    shutil.copytree(run_dir, scratch, ignore=lambda _, names: [
        n for n in names if n in OUTPUTS or n.endswith((".svg", ".png"))])
    (scratch / MARK).touch()


def main(run_dir: Path, scratch: Path) -> None:
    copy_inputs(run_dir, scratch)
    started = time.perf_counter()
    manifest = Manifest.load(scratch)
    run = Run(manifest, build_timeline(manifest))
    _ = run.analysis
    merged = time.perf_counter()
    with ForkedWork(lambda: pipeline._write_timeline_and_summary(run, False)) as rest:
        PerfettoRenderer().render(run)
        traced = time.perf_counter()
        shared = rest.join()
        if shared is not None:  # older code sends nothing back
            run.adopt(shared)
    joined = time.perf_counter()
    pipeline.report(run, Console(file=io.StringIO(), width=100), plots=False)
    done = time.perf_counter()
    print(f"merge+analysis {merged - started:.2f} s, perfetto {traced - merged:.2f} s, "
          f"waiting for the writer {joined - traced:.2f} s, report {done - joined:.2f} s, "
          f"total {done - started:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
