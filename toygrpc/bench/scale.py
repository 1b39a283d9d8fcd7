"""How a whole ``toygrpc trace client`` scales: wall time and peak memory, end to end.

Each row is one real run of the command a user types (``toygrpc trace client --rpcs N
-q``, with and without ``--no-python``), from its start to its exit: capture, merge,
analysis, the trace and summary.json (the plots only with ``--plots``, which the command a
user types does not pass). Its peak memory is that of its largest
process (toygrpc itself, the Hello server or the traced client), as ``/usr/bin/time -v``
reports it: a small launcher forks the command and reads ``ru_maxrss`` from ``wait4``.
The launcher is a fresh interpreter, so the benchmark's own peak cannot leak into the
figure (Linux charges a program, at exec, the peak of the process it replaced).

Each row also splits its wall time at the capture's end (``capture.json``: the processes
started and stopped) and sets beside it the floor: the same Hello client making the same
calls untraced (``python -m toygrpc.client``, against an untraced Hello server), start
to exit. A target below that floor cannot be met by the harness on this machine.
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
    capture_s: float = 0.0  # of wall_s, the capture (from capture.json); the rest is after
    untraced_s: float = 0.0  # the same calls untraced, start to exit: the floor
    concurrency: int = 1

    @property
    def after_s(self) -> float:
        """Merge, analysis, the trace, summary.json and the process's exit."""
        return self.wall_s - self.capture_s

    @property
    def target(self) -> str:
        """The issue's target for this row and whether it was met ("" if none)."""
        goal = TARGETS.get((self.rpcs, self.python_layer))
        if goal is None:
            return ""
        wall, rss = goal
        met = self.wall_s <= wall and self.peak_rss_mb <= rss
        return f"<= {wall:g} s, <= {rss / 1024:g} GB: {'PASS' if met else 'MISS'}"


def trace_command(rpcs: int, python_layer: bool, out: Path, concurrency: int = 1
                  ) -> list[str]:
    """The command a user types, as the row runs it."""
    return [sys.executable, "-m", "toygrpc", "trace", "client", "--rpcs", str(rpcs),
            *(["--concurrency", str(concurrency)] if concurrency != 1 else []),
            "--out", str(out), "--quiet", *([] if python_layer else ["--no-python"])]


def untraced_command(rpcs: int, target: str, concurrency: int = 1) -> list[str]:
    """The Hello client the trace command runs, alone: the same calls, untraced."""
    return [sys.executable, "-m", "toygrpc.client", "--target", target, "--rpcs", str(rpcs),
            "--concurrency", str(concurrency), "--quiet"]


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


def _capture_seconds(out: Path) -> float:
    """How long the capture took: from the manifest's start to its end."""
    manifest = json.loads((out / "capture.json").read_text())
    return (int(manifest["finished_ns"]) - int(manifest["started_ns"])) / 1e9


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


# ``bench --scale-mode``: which captures each size runs (True: with the Python layer).
SCALE_MODES: dict[str, tuple[bool, ...]] = {"both": (True, False), "full": (True,),
                                            "no-python": (False,)}


def measure(sizes: list[int], scratch: Path, rounds: int = 1,
            progress: Callable[[str], None] = lambda _: None, concurrency: int = 1,
            layers: tuple[bool, ...] = (True, False)) -> list[ScaleResult]:
    """Every size with and without the Python layer (``layers``: those of them to run),
    and untraced, each ``rounds`` times, interleaved (size by size, the modes in turn),
    so machine noise hits them alike."""
    from toygrpc.bench.ring import scratch_and_server

    samples: dict[tuple[int, bool], list[tuple[int, float, float, float]]] = {}
    untraced: dict[int, list[float]] = {}
    written: dict[tuple[int, bool], tuple[int, int, float]] = {}
    with scratch_and_server() as (_, server):
        target = server.wait_ready()
        for rpcs in sizes:
            for round_ in range(rounds):
                for python_layer in layers if round_ % 2 == 0 else layers[::-1]:
                    mode = "full" if python_layer else "--no-python"
                    progress(f"scale: {rpcs:,} RPCs, {mode}, round {round_ + 1} of {rounds}")
                    out = scratch / f"scale-{rpcs}-{'full' if python_layer else 'no-python'}"
                    code, peak, wall = run_once(trace_command(rpcs, python_layer, out,
                                                              concurrency))
                    samples.setdefault((rpcs, python_layer), []).append(
                        (code, peak, wall, _capture_seconds(out)))
                    written[rpcs, python_layer] = _written(out)
                    _remove_run(out)
                progress(f"scale: {rpcs:,} RPCs, untraced, round {round_ + 1} of {rounds}")
                code, _, wall = run_once(untraced_command(rpcs, target, concurrency))
                if code != 0:
                    raise RuntimeError(f"the untraced Hello client exited with {code}")
                untraced.setdefault(rpcs, []).append(wall)
    results = []
    for (rpcs, python_layer), runs in samples.items():
        events, complete, trace_mb = written[rpcs, python_layer]
        results.append(ScaleResult(
            rpcs, python_layer, statistics.median(r[2] for r in runs),
            statistics.median(r[1] for r in runs), len(runs), events, complete, trace_mb,
            max(r[0] for r in runs), statistics.median(r[3] for r in runs),
            statistics.median(untraced[rpcs]), concurrency))
    return results


def _remove_run(out: Path) -> None:
    """Delete the run directory this benchmark created (hundreds of MB at scale)."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)


def print_scale(results: list[ScaleResult]) -> None:
    concurrency = results[0].concurrency if results else 1
    print(f"\nscale: `toygrpc trace client --rpcs N"
          f"{f' --concurrency {concurrency}' if concurrency != 1 else ''} -q` end to end "
          "(capture, then merge, analysis, trace, summary: after); untraced = the same "
          "calls without tracing, the floor; medians; RSS = its largest process's peak")
    print(f"{'RPCs':>8}  {'python layer':<13}{'wall s':>8}{'capture s':>10}{'after s':>9}"
          f"{'untraced s':>11}{'peak MB':>9}{'events':>10}{'complete':>10}{'trace MB':>10}"
          "  target")
    for r in results:
        print(f"{r.rpcs:>8}  {'yes' if r.python_layer else 'no':<13}{r.wall_s:>8.1f}"
              f"{r.capture_s:>10.1f}{r.after_s:>9.1f}{r.untraced_s:>11.1f}"
              f"{r.peak_rss_mb:>9.0f}{r.events:>10}{r.complete_rpcs:>10}{r.trace_mb:>10.1f}"
              f"  {r.target}{'' if r.exit_status == 0 else f' (exit {r.exit_status})'}")
