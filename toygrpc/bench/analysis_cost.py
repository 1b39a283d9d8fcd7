"""What analysis costs against just reading the raw files, for captures of growing size."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toygrpc.capture.corelog import parse_lines
from toygrpc.capture.launch import CaptureOptions, capture
from toygrpc.capture.merge import log_clock
from toygrpc.model.manifest import Manifest as Capture
from toygrpc.pipeline import analyse


@dataclass
class CostResult:
    rpcs: int
    events: int
    parse_s: float
    analysis_s: float
    parse_peak_mb: float
    analysis_peak_mb: float

    @property
    def ratio(self) -> float:
        return self.analysis_s / self.parse_s


def parse_only(cap: Capture) -> int:
    """Read every raw file into objects, as the analysis must at least do."""
    clock = log_clock(cap)
    count = 0
    for proc in cap.processes:
        if not proc.traced:
            continue
        files = cap.layout.process(proc.role)
        with files.core_log.open(errors="replace") as lines:
            count += sum(1 for _ in parse_lines(lines, proc.pid, clock))
        with files.hooks.open() as lines:
            count += sum(1 for line in lines if json.loads(line))
    return count


def full_analysis(cap: Capture) -> int:
    run = analyse(cap)
    return len(run.timeline.events) + len(run.analysis.chains)


def _timed(step: Callable[[Capture], int], cap: Capture) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    result = step(cap)
    return time.perf_counter() - started, result


def _peak(step: Callable[[Capture], int], cap: Capture) -> float:
    gc.collect()
    tracemalloc.start()
    step(cap)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def measure(sizes: list[int], scratch: Path, progress: Callable[[str], None]) -> list[CostResult]:
    results = []
    for rpcs in sizes:
        progress(f"capturing {rpcs} RPCs (hooks + core trace)")
        cap = capture(CaptureOptions(mode="client", out=scratch / f"c{rpcs}", rpcs=rpcs,
                                     python_layer=False))
        progress(f"analysing {rpcs} RPCs")
        parse_s, events = _timed(parse_only, cap)
        analysis_s, _ = _timed(full_analysis, cap)
        results.append(CostResult(rpcs, events, parse_s, analysis_s, _peak(parse_only, cap),
                                  _peak(full_analysis, cap)))
    return results
