"""How a whole ``toygrpc trace client`` scales: wall time and peak memory, end to end.

Each row is one real run of the command a user types (``toygrpc trace client --rpcs N
-q``, with and without ``--no-python``), from its start to its exit: capture, merge,
analysis, the trace and summary.json (the plots only with ``--plots``, which the command a
user types does not pass). Its peak memory is that of its largest
process (toygrpc itself, the Hello server or the traced client), as ``/usr/bin/time -v``
reports it: a small launcher forks the command and reads ``ru_maxrss`` from ``wait4``.
The launcher is a fresh interpreter, so the benchmark's own peak cannot leak into the
figure (Linux charges a program, at exec, the peak of the process it replaced).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Forks, execs the command, waits: prints exit code, peak RSS (kB) and wall seconds.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - started)
"""
# The targets: (RPCs, Python layer) -> (wall seconds, peak MB).
TARGETS: dict[tuple[int, bool], tuple[float, float]] = {
    (10_000, True): (25.0, 1024.0),
    (100_000, False): (90.0, 2048.0),
}


@dataclass
class ScaleResult:
    """One size, one mode: medians over the rounds, and what the run wrote."""

    rpcs: int
    python_layer: bool
    wall_s: float
    peak_rss_mb: float
    rounds: int
    events: int  # in the merged timeline (events.jsonl)
    complete_rpcs: int  # client RPCs with complete chains, from summary.json
    trace_mb: float  # trace.perfetto-trace
    exit_status: int

    @property
    def target(self) -> str:
        """The issue's target for this row and whether it was met ("" if none)."""
        goal = TARGETS.get((self.rpcs, self.python_layer))
        if goal is None:
            return ""
        wall, rss = goal
        met = self.wall_s <= wall and self.peak_rss_mb <= rss
        return f"<= {wall:g} s, <= {rss / 1024:g} GB: {'PASS' if met else 'MISS'}"


def trace_command(rpcs: int, python_layer: bool, out: Path) -> list[str]:
    """The command a user types, as the row runs it."""
    return [sys.executable, "-m", "toygrpc", "trace", "client", "--rpcs", str(rpcs),
            "--out", str(out), "--quiet", *([] if python_layer else ["--no-python"])]


def run_once(command: list[str]) -> tuple[int, float, float]:
    """Run ``command`` to its end: (exit status, peak RSS of its largest process in MB,
    wall seconds)."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True,
                          text=True, check=False)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    try:
        code, peak_kb, wall = last.split()
        return int(code), int(peak_kb) / 1024, float(wall)
    except ValueError:
        raise RuntimeError(f"the launcher failed: {done.stderr.strip()[-300:]}") from None


def _written(out: Path) -> tuple[int, int, float]:
    """Events, complete client RPCs and the trace's size, read from the run directory."""
    events = 0
    with (out / "events.jsonl").open() as source:
        header = json.loads(next(source))
        events = int(header["event_count"])
    summary = json.loads((out / "summary.json").read_text())
    complete = int(summary["complete_rpcs"])
    trace = out / "trace.perfetto-trace"
    return events, complete, trace.stat().st_size / 2**20


def measure(sizes: list[int], scratch: Path, rounds: int = 1,
            progress: Callable[[str], None] = lambda _: None) -> list[ScaleResult]:
    """Every size with and without the Python layer, each ``rounds`` times, interleaved
    (size by size, the two modes alternating), so machine noise hits them alike."""
    samples: dict[tuple[int, bool], list[tuple[int, float, float]]] = {}
    written: dict[tuple[int, bool], tuple[int, int, float]] = {}
    for rpcs in sizes:
        for round_ in range(rounds):
            for python_layer in (True, False) if round_ % 2 == 0 else (False, True):
                mode = "full" if python_layer else "--no-python"
                progress(f"scale: {rpcs:,} RPCs, {mode}, round {round_ + 1} of {rounds}")
                out = scratch / f"scale-{rpcs}-{'full' if python_layer else 'no-python'}"
                result = run_once(trace_command(rpcs, python_layer, out))
                samples.setdefault((rpcs, python_layer), []).append(result)
                written[rpcs, python_layer] = _written(out)
                _remove_run(out)
    results = []
    for (rpcs, python_layer), runs in samples.items():
        events, complete, trace_mb = written[rpcs, python_layer]
        results.append(ScaleResult(
            rpcs, python_layer, statistics.median(r[2] for r in runs),
            statistics.median(r[1] for r in runs), len(runs), events, complete, trace_mb,
            max(r[0] for r in runs)))
    return results


def _remove_run(out: Path) -> None:
    """Delete the run directory this benchmark created (hundreds of MB at scale)."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)


def print_scale(results: list[ScaleResult]) -> None:
    print("\nscale: `toygrpc trace client --rpcs N -q` end to end (capture, merge, analysis, "
          "trace, summary); medians; RSS = its largest process's peak")
    print(f"{'RPCs':>8}  {'python layer':<13}{'wall s':>8}{'peak MB':>9}{'events':>10}"
          f"{'complete':>10}{'trace MB':>10}  target")
    for r in results:
        print(f"{r.rpcs:>8}  {'yes' if r.python_layer else 'no':<13}{r.wall_s:>8.1f}"
              f"{r.peak_rss_mb:>9.0f}{r.events:>10}{r.complete_rpcs:>10}{r.trace_mb:>10.1f}"
              f"  {r.target}{'' if r.exit_status == 0 else f' (exit {r.exit_status})'}")
